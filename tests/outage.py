"""Database outages a test can switch on and off, for SQLite and MariaDB alike.

MariaDB: a TCP proxy owned by the test sits between a Django process and the server;
cut() resets every connection through it and turns new ones away, as a crashed or
unreachable server would, while the test's own connection (direct) still reads.
SQLite: the database file is moved away, so the Django process finds no tables."""

import contextlib
import shutil
import socket
import threading
from pathlib import Path


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def mysql_upstream(settings_dict: dict) -> tuple[str, int]:
    host = settings_dict["HOST"] or "localhost"
    # "localhost" means the unix socket to mysqlclient; the proxy speaks TCP.
    return ("127.0.0.1" if host == "localhost" else host, int(settings_dict["PORT"] or 3306))


@contextlib.contextmanager
def database_outage(connection, proxy: TcpProxy | None):
    """The database is unreachable for the Django process inside the block."""
    if connection.vendor == "sqlite":
        database = Path(connection.settings_dict["NAME"])
        connection.close()
        hidden = database.with_suffix(".away")
        shutil.move(database, hidden)
        try:
            yield
        finally:
            database.unlink(missing_ok=True)  # the empty file a failed connection made
            shutil.move(hidden, database)
    else:
        assert proxy is not None, "the Django process must reach MariaDB through the proxy"
        proxy.cut()
        try:
            yield
        finally:
            proxy.restore()
