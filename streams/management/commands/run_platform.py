"""Run echo.tv locally: a private Redis, a private nginx (from deploy/) in front of gunicorn,
the job worker (replays and clips), plus reconciliation.

`./echotv run` sets the environment (ports, URLs, secrets) and execs this command.
"""

import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from echo.redis import (
    UNAVAILABLE,
    client,
    private_redis_url,
    start_private_redis,
    stop_private_redis,
)
from streams.management.commands.reconcile_broadcasts import reconcile_loop
from streams.media.nginx import (
    NginxConfig,
    port_open,
    start_private_nginx,
    stop_private_nginx,
    wait_until_listening,
)

RECONCILE_SECONDS = 5.0
# A Redis that dies more often than this is a failure, not an accident to recover from.
REDIS_RESTARTS_PER_MINUTE = 3


def _wait_for_port(process: subprocess.Popen, port: int, name: str, timeout: float) -> None:
    try:
        wait_until_listening(process, [port], timeout=timeout)
    except RuntimeError as exc:
        raise CommandError(f"{name} {exc}") from None


def _forward_lines(stream, prefix: str) -> None:
    for line in stream:
        sys.stderr.write(f"{prefix}{line.decode(errors='replace')}")


def _stop(process: subprocess.Popen, sig: int, timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Command(BaseCommand):
    help = "Run nginx (HTTP + RTMP), gunicorn and the job worker in the foreground until Ctrl-C."

    def add_arguments(self, parser) -> None:
        # Defaults from settings (ECHO_HTTP_PORT, ...), which nginx_config renders with too.
        parser.add_argument("--http-port", type=int, default=settings.ECHO_HTTP_PORT)
        parser.add_argument("--rtmp-port", type=int, default=settings.ECHO_RTMP_PORT)
        parser.add_argument("--django-port", type=int, default=settings.ECHO_DJANGO_PORT)
        # Four, not three: a uvicorn worker runs Django's sync views on one thread, where a
        # threaded WSGI worker had four (README.md, "Production").
        parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
        parser.add_argument(
            "--nginx-prefix",
            default=str(settings.ECHO_NGINX_PREFIX),
            help="nginx's prefix: config, pid, logs, temp files",
        )
        parser.add_argument("--demo", action="store_true", help="publish a test pattern as 'demo'")

    def handle(self, *args, **options) -> None:
        # The control port comes from the setting reconciliation reads, so the two agree.
        control_port = settings.ECHO_CONTROL_PORT
        ports = {
            "HTTP": options["http_port"],
            "RTMP": options["rtmp_port"],
            "nginx control": control_port,
            "gunicorn": options["django_port"],
            "RTMP ingest (loopback)": settings.ECHO_RTMP_INGEST_PORT,
            "RTMP live (loopback)": settings.ECHO_RTMP_LIVE_PORT,
        }
        if settings.ECHO_TLS_CERTIFICATE:
            ports["HTTPS"] = settings.ECHO_HTTPS_PORT
            ports["RTMPS"] = settings.ECHO_RTMPS_PORT
        if len(set(ports.values())) < len(ports):
            raise CommandError(f"ports must differ: {ports} (see ECHO_CONTROL_PORT)")
        for name, port in ports.items():
            if port_open(port):
                raise CommandError(f"{name} port {port} is in use: is echo.tv already running?")

        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        self.children: list[tuple[str, subprocess.Popen]] = []
        failed = None
        try:
            # First: gunicorn's workers use it from their first request.
            self._start_redis()
            self._start_gunicorn(options["django_port"], options["workers"])
            self._start_worker()
            self._start_nginx(options, control_port)
            if options["demo"]:
                self._start_demo(options["rtmp_port"])
            self._print_banner()
            failed = self._supervise()
        finally:
            self._stop_children()
        if failed:
            raise CommandError(f"{failed} exited unexpectedly; stopped the others")
        self.stdout.write("echo.tv stopped.")
        self.stdout.flush()

    def _request_stop(self, signum, frame) -> None:
        self.stopping = True

    def _start_redis(self) -> None:
        directory = Path(settings.ECHO_REDIS_DIR).resolve()
        if settings.REDIS_URL != private_redis_url(directory):
            # REDIS_URL names a Redis of its own (a system service): not ours to start.
            try:
                client().ping()
            except UNAVAILABLE:
                self.stderr.write("Warning: Redis (REDIS_URL) does not answer; limits fail open.")
            return
        socket = directory / "redis.sock"
        if socket.exists():
            probe = redis.Redis(unix_socket_path=str(socket), socket_timeout=1)
            try:
                probe.ping()
            except redis.RedisError:
                pass  # left behind by a run that was killed: start_private_redis replaces it
            else:
                raise CommandError(f"Redis on {socket} answers: is echo.tv already running?")
            finally:
                probe.close()
        try:
            process = start_private_redis(directory)
        except (RuntimeError, OSError) as exc:
            raise CommandError(f"Redis did not start: {exc}") from exc
        self.children.append(("redis", process))

    def _start_gunicorn(self, port: int, workers: int) -> None:
        # One ASGI server for pages and chat's WebSockets, as echo-web.service runs it.
        # No access log: nginx logs every request already.
        command = [sys.executable, "-m", "gunicorn", "echo.asgi:application"]
        command += ["--worker-class", "echo.workers.EchoUvicornWorker"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        command += ["--graceful-timeout", "5", "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL)
        self.children.append(("gunicorn", process))
        _wait_for_port(process, port, "gunicorn", timeout=30)

    def _start_worker(self) -> None:
        # Replays and clips (streams/replays/jobs.py), as echo-worker.service runs it. One
        # name per machine: its interrupted jobs are requeued when it starts again.
        command = [sys.executable, "manage.py", "run_worker"]
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL)
        self.children.append(("worker", process))

    def _start_nginx(self, options: dict, control_port: int) -> None:
        # As root, workers would run as nobody and could not write var/hls.
        user = settings.ECHO_NGINX_USER
        if not user and os.geteuid() == 0:
            user = pwd.getpwuid(os.geteuid()).pw_name
        config = NginxConfig.from_settings(
            prefix=str(Path(options["nginx_prefix"]).resolve()),
            http_listen=str(options["http_port"]),
            rtmp_port=options["rtmp_port"],
            control_port=control_port,
            django_upstream=f"127.0.0.1:{options['django_port']}",
            user=user,
        )
        try:
            process = start_private_nginx(config)
        except (RuntimeError, ValueError, OSError) as exc:
            raise CommandError(f"nginx did not start: {exc}") from exc
        threading.Thread(
            target=_forward_lines, args=(process.stderr, "nginx: "), daemon=True
        ).start()
        self.children.append(("nginx", process))

    def _start_demo(self, rtmp_port: int) -> None:
        command = [sys.executable, "manage.py", "demo", "--rtmp-url"]
        command.append(f"rtmp://127.0.0.1:{rtmp_port}/ingest")
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL)
        self.children.append(("demo", process))

    def _print_banner(self) -> None:
        self.stdout.write(
            self.style.SUCCESS("\necho.tv is running.\n")
            + f"  Site:        {settings.SITE_URL}/\n"
            + f"  OBS server:  {settings.ECHO_RTMP_PUBLIC_URL}\n"
            + "  Stream key:  on your dashboard after you sign up and log in\n"
            + "  Admin user:  ./echotv manage createsuperuser   (in another terminal)\n"
            + "Press Ctrl-C to stop.\n"
        )
        self.stdout.flush()

    def _supervise(self) -> str | None:
        """Reconcile every few seconds until asked to stop; the name of a child that died."""
        reconcile_loop(
            interval=RECONCILE_SECONDS,
            keep_going=lambda: not self.stopping and self._dead_child() is None,
        )
        # Ctrl-C reaches the children too: their exit is then no failure.
        return None if self.stopping else self._dead_child()

    def _dead_child(self) -> str | None:
        for index, (name, process) in enumerate(self.children):
            if process.poll() is None or name == "demo":
                continue
            if name == "redis" and not self.stopping and self._restart_redis(index):
                continue
            return name
        return None

    def _restart_redis(self, index: int) -> bool:
        """The site outlives Redis (limits fail open, chat reconnects), so a dead Redis is
        started again rather than taking the site down; one that keeps dying is a failure."""
        now = time.monotonic()
        self.redis_restarts = [t for t in getattr(self, "redis_restarts", []) if now - t < 60]
        if len(self.redis_restarts) >= REDIS_RESTARTS_PER_MINUTE:
            return False
        self.redis_restarts.append(now)
        self.stderr.write("Warning: Redis exited unexpectedly; starting it again.")
        try:
            process = start_private_redis(Path(settings.ECHO_REDIS_DIR).resolve())
        except (RuntimeError, OSError) as exc:
            self.stderr.write(f"Redis did not start again: {exc}")
            return False
        self.children[index] = ("redis", process)
        return True

    def _stop_children(self) -> None:
        # Publisher first, then nginx (its on_publish_done calls still need Django), then Django.
        for name, process in reversed(self.children):
            if name == "nginx":
                stop_private_nginx(process)
            elif name == "redis":
                stop_private_redis(process)
            else:
                _stop(process, signal.SIGTERM, timeout=15)
