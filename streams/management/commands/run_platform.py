"""Run echo.tv locally: a private nginx (from deploy/) in front of gunicorn, plus reconciliation.

`./echotv run` sets the environment (ports, URLs, secrets) and execs this command.
"""

import logging
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from streams import services
from streams.media.nginx import NginxConfig, start_private_nginx, stop_private_nginx

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 5.0


def _env_port(name: str, default: int) -> int:
    try:
        return int(os.getenv(name, default))
    except ValueError:
        raise CommandError(f"{name} must be a port number") from None


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(process: subprocess.Popen, port: int, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"{name} exited with code {process.returncode} while starting")
        if _port_in_use(port):
            return
        time.sleep(0.1)
    raise CommandError(f"{name} did not listen on port {port} within {timeout:.0f} s")


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
    help = "Run nginx (HTTP + RTMP) and gunicorn in the foreground until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--http-port", type=int, default=_env_port("ECHO_HTTP_PORT", 8000))
        parser.add_argument("--rtmp-port", type=int, default=_env_port("ECHO_RTMP_PORT", 1935))
        parser.add_argument("--django-port", type=int, default=_env_port("ECHO_DJANGO_PORT", 8001))
        parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
        parser.add_argument(
            "--nginx-prefix",
            default=str(Path(settings.BASE_DIR) / "var" / "nginx"),
            help="nginx's prefix: config, pid, logs, temp files",
        )
        parser.add_argument("--demo", action="store_true", help="publish a test pattern as 'demo'")

    def handle(self, *args, **options) -> None:
        # The control port comes from the setting reconciliation reads, so the two agree.
        control_port = urlsplit(settings.ECHO_NGINX_CONTROL_URL).port or 80
        ports = {
            "HTTP": options["http_port"],
            "RTMP": options["rtmp_port"],
            "nginx control": control_port,
            "gunicorn": options["django_port"],
        }
        if len(set(ports.values())) < len(ports):
            raise CommandError(f"ports must differ: {ports} (see ECHO_NGINX_CONTROL_URL)")
        for name, port in ports.items():
            if _port_in_use(port):
                raise CommandError(f"{name} port {port} is in use: is echo.tv already running?")

        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        self.children: list[tuple[str, subprocess.Popen]] = []
        failed = None
        try:
            self._start_gunicorn(options["django_port"], options["workers"])
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

    def _start_gunicorn(self, port: int, workers: int) -> None:
        # No access log: nginx-rtmp's callback URLs carry the callback secret.
        command = [sys.executable, "-m", "gunicorn", "echo.wsgi"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4"]
        command += ["--graceful-timeout", "5", "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL)
        self.children.append(("gunicorn", process))
        _wait_for_port(process, port, "gunicorn", timeout=30)

    def _start_nginx(self, options: dict, control_port: int) -> None:
        config = NginxConfig(
            prefix=str(Path(options["nginx_prefix"]).resolve()),
            # Django reads the playlists from the same place.
            hls_path=str(settings.ECHO_HLS_PATH),
            thumbs_path=str(settings.ECHO_THUMBS_PATH),
            http_listen=str(options["http_port"]),
            rtmp_port=options["rtmp_port"],
            control_port=control_port,
            django_upstream=f"127.0.0.1:{options['django_port']}",
            callback_secret=settings.ECHO_RTMP_CALLBACK_SECRET,
            # As root, workers would run as nobody and could not write var/hls.
            user=pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else "",
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
        next_reconcile = 0.0
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None and name != "demo":
                    return name
            if time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + RECONCILE_SECONDS
                self._reconcile()
            time.sleep(0.5)
        return None

    def _reconcile(self) -> None:
        close_old_connections()
        try:
            ended = services.broadcasts_reconcile()
        except Exception:
            log.exception("reconciling broadcasts failed; will retry")
            return
        if ended:
            log.info("reconcile: ended %d lost broadcast(s)", ended)

    def _stop_children(self) -> None:
        # Publisher first, then nginx (its on_publish_done calls still need Django), then Django.
        for name, process in reversed(self.children):
            if name == "nginx":
                stop_private_nginx(process)
            else:
                _stop(process, signal.SIGTERM, timeout=15)
