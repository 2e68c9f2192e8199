"""A viewer's network for the latency bench: a TCP proxy that delays every chunk.

The machine's loopback is shared, so no `tc netem` on it. Instead the browser loads the
channel page (and so its playlists, fragments, status polls) from this proxy's port,
which relays to nginx's and holds each chunk of bytes, in both directions, for half the
round trip plus a random 0..jitter (uniform, a new draw per chunk). Order is kept within
a connection, as TCP would deliver it over a jittery link: a chunk never overtakes the
one before it. Bandwidth is not limited.
"""

import asyncio
import random
import threading

CHUNK = 65536


class DelayingProxy:
    def __init__(self, target_port: int, *, rtt_ms: float, jitter_ms: float, seed: int = 1) -> None:
        self.target_port = target_port
        self.one_way = rtt_ms / 2000
        self.jitter = jitter_ms / 1000
        self.random = random.Random(seed)
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        if self.port is None:
            raise RuntimeError("the delaying proxy did not start")
        return self.port

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            # Connections still open (the browser's keep-alives) end with the proxy.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _connection(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pump(client_reader, server_writer),
            self._pump(server_reader, client_writer),
        )

    async def _pump(self, source, destination) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                try:
                    destination.write(data)
                    await destination.drain()
                except (ConnectionError, RuntimeError):
                    break
            try:
                destination.close()
            except RuntimeError:
                pass

        delivering = asyncio.create_task(deliver())
        last_due = 0.0
        while True:
            try:
                data = await source.read(CHUNK)
            except ConnectionError:
                data = b""
            due = max(last_due, loop.time() + self.one_way + self.random.uniform(0, self.jitter))
            last_due = due
            queue.put_nowait((due, data or None))
            if not data:
                break
        await delivering
