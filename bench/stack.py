"""The stack the benches run against: their own Django (gunicorn on a throwaway SQLite
database) and a private nginx rendered from deploy/nginx.conf.template, on free loopback
ports. Used by bench/latency.py and bench/load.py.
"""

import argparse
import dataclasses
import getpass
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLBACK_SECRET = "bench-callback-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class Variant:
    name: str
    nginx: dict[str, str]  # NginxConfig fields
    hls_config: str | None  # JS expression replacing player.js's hls.js config; None keeps it
    nginx_extra: list[str] = dataclasses.field(default_factory=list)
    routes: list[tuple[str, Path]] = dataclasses.field(default_factory=list)  # (URL glob, file)
    keyframe_seconds: float = 1.0  # the camera's encoder
    network: tuple[float, float] | None = None  # (round trip, jitter) ms: bench/network.py
    edge: bool = False  # viewers fetch HLS through an edge cache (bench/latency.py)
    quality: str = ""  # the viewer's quality menu choice (renditions on), e.g. "source", "240"


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    # Django is set up by now (setup_django): streams.media.nginx reads settings at import.
    from streams.media.nginx import wait_until_listening

    wait_until_listening(process, [port], timeout=timeout)


class Bench:
    """One Django and, per measurement, one nginx; everything they write goes to workdir."""

    def __init__(self, options: argparse.Namespace, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.ports = {
            name: free_port() for name in ("http", "rtmp", "control", "django")
        }  # fmt: skip
        self.hls_path = workdir / "hls"
        self.gunicorn: subprocess.Popen | None = None
        self.stream_keys: dict[str, str] = {}
        # More settings for Django (ECHO_RENDITIONS, ...); before setup_django.
        self.extra_environment: dict[str, str] = {}

    # --- Django ------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DB": "sqlite",
            "DB_NAME": str(self.workdir / "db.sqlite3"),
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + "k" * 50,
            "ECHO_STATIC_MANIFEST": "false",
            "SECURE_COOKIES": "false",
            "SECURE_HSTS_SECONDS": "0",
            "ECHO_RTMP_CALLBACK_SECRET": CALLBACK_SECRET,
            "ECHO_CONTROL_PORT": str(self.ports["control"]),
            "ECHO_HLS_PATH": str(self.hls_path),
            "SITE_URL": f"http://127.0.0.1:{self.ports['http']}",
            "LOG_LEVEL": "WARNING",
            # Playwright's sync API runs an event loop in this process.
            "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
            **self.extra_environment,
        }

    def setup_django(self, channel_names: list[str]) -> None:
        os.environ.update(self.environment())
        import django

        django.setup()
        from django.core.management import call_command

        from accounts.models import User

        call_command("migrate", verbosity=0)
        for name in channel_names:
            user = User.objects.create_user(name, f"{name}@example.org", None)
            self.stream_keys[name] = user.channel.stream_key

    def start_gunicorn(self) -> None:
        log = open(self.workdir / "gunicorn.log", "ab")  # noqa: SIM115 (lives as long as gunicorn)
        command = [sys.executable, "-m", "gunicorn", "echo.wsgi"]
        command += ["--bind", f"127.0.0.1:{self.ports['django']}", "--workers", "2"]
        command += ["--threads", "4", "--log-level", "warning"]
        self.gunicorn = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **self.environment()},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its workers share the group: stopped together
        )
        wait_for_port(self.ports["django"], self.gunicorn, timeout=30)

    def stop_gunicorn(self) -> None:
        if self.gunicorn is None or self.gunicorn.poll() is not None:
            return
        os.killpg(self.gunicorn.pid, signal.SIGTERM)
        try:
            self.gunicorn.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.gunicorn.pid, signal.SIGKILL)
            self.gunicorn.wait()

    # --- nginx -------------------------------------------------------------

    def start_nginx(self, variant: Variant, prefix: Path):
        import streams.media.nginx as nginx

        template = ""
        if variant.nginx_extra:
            # Experiments only: directives added to rtmp applications, in a copy of the template.
            patched = nginx.TEMPLATE.read_text()
            for item in variant.nginx_extra:
                application, _, directive = item.partition(":")
                anchor = f"        application {application} {{\n"
                if anchor not in patched:
                    raise ValueError(f"--nginx-extra: no application {application!r}")
                line = f"            {directive.strip().rstrip(';')};\n"
                patched = patched.replace(anchor, anchor + line)
            copy = prefix.parent / f"{prefix.name}.template"
            copy.write_text(patched)
            template = str(copy)
        config = nginx.NginxConfig.from_settings(
            # hls_path, thumbs_path and the callback secret: from environment() via settings.
            prefix=str(prefix),
            acme_webroot=str(self.workdir / "acme"),
            http_listen=f"127.0.0.1:{self.ports['http']}",
            rtmp_port=self.ports["rtmp"],
            control_port=self.ports["control"],
            django_upstream=f"127.0.0.1:{self.ports['django']}",
            rtmp_ingest_port=free_port(),
            rtmp_live_port=free_port(),
            # Every bench encoder connects from 127.0.0.1: the per-address limit must not count.
            rtmp_connections_per_address=10_000,
            # As root, workers would run as nobody and could not write the temp directory.
            user=getpass.getuser() if os.geteuid() == 0 else "",
            template=template,
            # Renditions only where a variant turns them on (bench/latency.py --levels).
            renditions=False,
        )
        config = dataclasses.replace(config, **variant.nginx)
        return config, nginx.start_private_nginx(config)

    @staticmethod
    def stop_nginx(process: subprocess.Popen) -> None:
        from streams.media.nginx import stop_private_nginx

        stop_private_nginx(process)

    def logs(self, prefix: Path) -> str:
        """The end of ffmpeg's, nginx's and gunicorn's logs, for error messages."""
        tails = []
        for path in (
            prefix / "ffmpeg.log",
            prefix / "logs" / "error.log",
            self.workdir / "gunicorn.log",
        ):
            try:
                lines = path.read_text(errors="replace").splitlines()[-8:]
            except OSError:
                continue
            tails.append(f"--- {path.name}:\n" + "\n".join(lines))
        return "\n".join(tails)

    @staticmethod
    def broadcast_started(channel: str) -> float:
        """When Django accepted the publish (on_publish): the encoder is connected."""
        from streams.models import Broadcast

        broadcast = Broadcast.objects.filter(channel__user__username=channel).latest("started_at")
        return broadcast.started_at.timestamp()
