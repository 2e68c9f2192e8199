"""The nginx side: render deploy/nginx.conf.template, and talk to rtmp_control/rtmp_stat.

One template serves local runs, tests and production; only the values differ.
"""

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

log = logging.getLogger(__name__)

TEMPLATE = Path(settings.BASE_DIR) / "deploy" / "nginx.conf.template"
TRANSCODER = Path(__file__).resolve().with_name("transcoder.py")
RENDITIONS_DIRECTORY = "renditions"
# A value the template names but the config lacks renders as this, and is refused.
_MISSING = "@@MISSING@@"
_SECRET_CHARACTERS = re.compile(r"[A-Za-z0-9._~+/=-]+")
_UPSTREAM = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}|unix:/[A-Za-z0-9._/-]+")


@dataclass
class NginxConfig:
    prefix: str
    hls_path: str
    http_listen: str
    rtmp_port: int
    control_port: int
    # Django's address, or several separated by commas (ECHO_DJANGO_UPSTREAMS): host:port
    # or unix:/path, one `server` line each in the upstream.
    django_upstream: str
    callback_secret: str
    server_name: str = "_"
    user: str = ""
    error_log_level: str = "notice"
    # Below the shortest keyframe interval the dashboard offers (0.5 s; 0.48 s when OBS
    # rounds it to 12 frames at 25 fps): every keyframe cuts a fragment (the template).
    hls_fragment: str = "400ms"
    # nginx-rtmp cuts without a keyframe past this (default 10 x hls_fragment): longer
    # than any GOP an encoder sends, OBS's "auto" (about 8 s) included.
    hls_max_fragment: str = "30s"
    hls_playlist_length: str = "4s"
    # nginx-rtmp holds audio back this long (default 300 ms) and writes what it holds into
    # the next fragment: a fragment's audio, and so what a player can play of it, ends
    # that much before its video. With 0.5 s fragments that was 40 % of the latency.
    hls_max_audio_delay: str = "50ms"
    notify_update_timeout: str = "10s"
    access_log: str = ""
    error_log: str = ""
    # Live preview images (streams/media/thumbnails.py): ECHO_THUMBS_PATH, required.
    thumbs_path: str = ""
    # Broadcasts recorded as FLV (ECHO_RECORDINGS_PATH) and replays/clips served by
    # X-Accel-Redirect (ECHO_REPLAYS_PATH); under prefix/ when empty.
    recordings_path: str = ""
    replays_path: str = ""
    ffmpeg: str = ""
    # Renditions (streams/media/transcoder.py): the transcode and renditions applications
    # and a supervisor per broadcast, when ECHO_RENDITIONS has a ladder and
    # ECHO_TRANSCODE_MAX allows one; the Python that runs it (this one if empty).
    renditions: bool = False
    python: str = ""
    # TLS: the site over HTTPS and RTMPS ingest, both with this certificate (PEM paths).
    # Empty certificate: plain HTTP and RTMP only (local runs).
    tls_certificate: str = ""
    tls_certificate_key: str = ""
    https_listen: str = ""
    rtmps_port: int = 0
    # One worker holds every connection (see the template): descriptors and connections.
    # nginx cannot raise its limit past the hard one (systemd's default 524288; containers
    # often 20000 or less) without CAP_SYS_RESOURCE, and then silently keeps 1024.
    worker_rlimit_nofile: int = 16384
    worker_connections: int = 8192
    # Requests in progress per client address on the public HTTP and HTTPS servers; an
    # open WebSocket is one (ECHO_HTTP_CONNECTIONS_PER_ADDRESS).
    limit_conn_per_address: int = 100
    # certbot's webroot: /.well-known/acme-challenge/ is served from here; prefix/acme if empty.
    acme_webroot: str = ""
    # Another template (experiments in bench/); deploy/nginx.conf.template if empty.
    template: str = ""

    # RTMP behind the stream proxy: loopback-only listens for the ingest application
    # (PROXY protocol) and for the internal live application. Nothing outside nginx
    # names them, but they must be free (ECHO_RTMP_INGEST_PORT, ECHO_RTMP_LIVE_PORT).
    rtmp_ingest_port: int = 0
    rtmp_live_port: int = 0
    # Simultaneous RTMP/RTMPS connections per client address (ECHO_RTMP_CONNECTIONS_PER_ADDRESS).
    rtmp_connections_per_address: int = 20
    # nginx-rtmp's session log (no stream names on ingest); under prefix/logs unless given.
    rtmp_access_log: str = ""

    @classmethod
    def from_settings(cls, **overrides) -> "NginxConfig":
        """The values Django runs with (echo/settings.py), so nginx and Django agree.

        Overrides replace single fields (command-line flags, tests' free ports)."""
        https = settings.ECHO_TLS_CERTIFICATE and str(settings.ECHO_HTTPS_PORT)
        values = dict(
            prefix=str(settings.ECHO_NGINX_PREFIX),
            hls_path=str(settings.ECHO_HLS_PATH),
            thumbs_path=str(settings.ECHO_THUMBS_PATH),
            recordings_path=str(settings.ECHO_RECORDINGS_PATH),
            replays_path=str(settings.ECHO_REPLAYS_PATH),
            http_listen=str(settings.ECHO_HTTP_PORT),
            rtmp_port=settings.ECHO_RTMP_PORT,
            control_port=settings.ECHO_CONTROL_PORT,
            django_upstream=",".join(
                settings.ECHO_DJANGO_UPSTREAMS or [f"127.0.0.1:{settings.ECHO_DJANGO_PORT}"]
            ),
            callback_secret=settings.ECHO_RTMP_CALLBACK_SECRET,
            server_name=settings.ECHO_SERVER_NAME,
            user=settings.ECHO_NGINX_USER,
            tls_certificate=settings.ECHO_TLS_CERTIFICATE,
            tls_certificate_key=settings.ECHO_TLS_CERTIFICATE_KEY,
            https_listen=https or "",
            acme_webroot=str(settings.ECHO_ACME_WEBROOT),
            rtmps_port=settings.ECHO_RTMPS_PORT if https else 0,
            rtmp_ingest_port=settings.ECHO_RTMP_INGEST_PORT,
            rtmp_live_port=settings.ECHO_RTMP_LIVE_PORT,
            rtmp_connections_per_address=settings.ECHO_RTMP_CONNECTIONS_PER_ADDRESS,
            limit_conn_per_address=settings.ECHO_HTTP_CONNECTIONS_PER_ADDRESS,
            renditions=bool(settings.ECHO_RENDITIONS) and settings.ECHO_TRANSCODE_MAX > 0,
        )
        unknown = set(overrides) - {field.name for field in fields(cls)}
        if unknown:
            raise TypeError(f"NginxConfig has no field {', '.join(sorted(unknown))}")
        return cls(**{**values, **overrides})

    def values(self) -> dict[str, str]:
        values = {key: str(value) if value else "" for key, value in asdict(self).items()}
        values["thumbs_path"] = self.thumbs_dir
        values["acme_webroot"] = self.acme_dir
        values["recordings_path"] = self.recordings_dir
        values["replays_path"] = self.replays_dir
        # nginx-rtmp's exec runs without a shell and with an empty PATH.
        values["ffmpeg"] = self.ffmpeg or shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
        values["ffprobe"] = str(Path(values["ffmpeg"]).with_name("ffprobe"))
        values["python"] = self.python or sys.executable
        values["transcoder"] = str(TRANSCODER)
        values["transcoder_log_dir"] = self.transcoder_log_dir
        values["renditions"] = "on" if self.renditions else ""
        values["renditions_path"] = self.renditions_dir
        values["django_servers"] = "\n".join(
            f"        server {address};" for address in self.django_upstreams
        )
        values["rtmp_listen"] = str(self.rtmp_port)
        values["callback_url"] = f"http://127.0.0.1:{self.control_port}/internal/rtmp"
        values["user_directive"] = f"user {self.user};" if self.user else ""
        values["access_log"] = self.access_log or f"{self.prefix}/logs/access.log"
        values["error_log"] = self.error_log or f"{self.prefix}/logs/error.log"
        values["tls"] = "on" if self.tls_certificate else ""
        # The redirect to HTTPS names the port unless it is the default one.
        https_port = self.https_listen.rsplit(":", 1)[-1]
        values["https_redirect_port"] = "" if https_port in ("", "443") else f":{https_port}"
        values["rtmp_access_log"] = self.rtmp_access_log or f"{self.prefix}/logs/rtmp-access.log"
        return values

    @property
    def django_upstreams(self) -> list[str]:
        return [address.strip() for address in self.django_upstream.split(",") if address.strip()]

    @property
    def thumbs_dir(self) -> str:
        return self.thumbs_path

    def ports(self) -> list[int]:
        """The loopback ports nginx listens on once it is up."""
        ports = [int(self.http_listen.rsplit(":", 1)[-1]), self.rtmp_port, self.control_port]
        ports += [self.rtmp_ingest_port, self.rtmp_live_port]
        if self.tls_certificate:
            ports.append(int(self.https_listen.rsplit(":", 1)[-1]))
            if self.rtmps_port:
                ports.append(self.rtmps_port)
        return ports

    @property
    def transcoder_log_dir(self) -> str:
        # Written by the supervisors nginx's workers start (www-data in production), so
        # not logs/, which only the master (root) writes.
        return str(Path(self.prefix) / "transcoders")

    @property
    def renditions_dir(self) -> str:
        # Inside hls_path: web servers that mount ECHO_HLS_PATH see the levels too.
        return str(Path(self.hls_path) / RENDITIONS_DIRECTORY)

    @property
    def recordings_dir(self) -> str:
        return self.recordings_path or str(Path(self.prefix) / "recordings")

    @property
    def replays_dir(self) -> str:
        return self.replays_path or str(Path(self.prefix) / "replays")

    @property
    def acme_dir(self) -> str:
        return self.acme_webroot or str(Path(self.prefix) / "acme")

    @property
    def template_path(self) -> Path:
        return Path(self.template) if self.template else TEMPLATE


def render_config(config: NginxConfig) -> str:
    if not (config.rtmp_ingest_port and config.rtmp_live_port):
        raise ValueError("rtmp_ingest_port and rtmp_live_port are needed (loopback-only listens)")
    if not config.thumbs_path:
        raise ValueError("thumbs_path is empty: set ECHO_THUMBS_PATH")
    if not config.callback_secret:
        raise ValueError("callback_secret is empty: set ECHO_RTMP_CALLBACK_SECRET")
    if not _SECRET_CHARACTERS.fullmatch(config.callback_secret):
        # The secret sits in a quoted nginx string, where "$" starts a variable.
        raise ValueError(
            "callback_secret may hold only letters, digits and . _ ~ + / = -:"
            " set ECHO_RTMP_CALLBACK_SECRET to another value"
        )
    if not config.django_upstreams:
        raise ValueError("django_upstream is empty: set ECHO_DJANGO_UPSTREAMS or ECHO_DJANGO_PORT")
    for address in config.django_upstreams:
        # Each lands in a `server ...;` line: nothing there may end or extend the directive.
        if not _UPSTREAM.fullmatch(address):
            raise ValueError(
                f"django upstream {address!r} must be HOST:PORT or unix:/PATH (ECHO_DJANGO_UPSTREAMS)"
            )
    if config.limit_conn_per_address < 1:
        raise ValueError(
            "limit_conn_per_address must be 1 or more (ECHO_HTTP_CONNECTIONS_PER_ADDRESS)"
        )
    if config.error_log_level in ("debug", "info"):
        # nginx-rtmp logs the publish name (the stream key) at info and below.
        raise ValueError("error_log_level must be notice or higher: info would log stream keys")
    if bool(config.tls_certificate) != bool(config.tls_certificate_key):
        raise ValueError("tls_certificate and tls_certificate_key go together")
    if config.tls_certificate and not config.https_listen:
        raise ValueError("a TLS certificate needs https_listen (ECHO_HTTPS_PORT)")
    if config.worker_connections >= config.worker_rlimit_nofile:
        raise ValueError("worker_connections must stay below worker_rlimit_nofile")
    # Django's template language ({{ value }}, {% if %}), never HTML-escaped: nginx syntax.
    engine = Engine(autoescape=False, string_if_invalid=_MISSING)
    template = engine.from_string(config.template_path.read_text())
    text = template.render(Context(config.values()))
    if _MISSING in text:
        raise ValueError("the template names a value NginxConfig does not have")
    return text


def write_config(config: NginxConfig) -> Path:
    """Render into config.prefix and create every directory nginx will write to."""
    text = render_config(config)
    prefix = Path(config.prefix)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    # Logs name client addresses and public names: the service user's business only.
    os.chmod(prefix / "logs", 0o700)
    Path(config.hls_path).mkdir(parents=True, exist_ok=True)
    Path(config.renditions_dir).mkdir(exist_ok=True)
    Path(config.transcoder_log_dir).mkdir(mode=0o750, exist_ok=True)
    Path(config.thumbs_dir).mkdir(parents=True, exist_ok=True)
    Path(config.acme_dir).mkdir(parents=True, exist_ok=True)
    # nginx's workers write recordings; the worker (same service user) writes replays.
    Path(config.recordings_dir).mkdir(parents=True, exist_ok=True)
    Path(config.replays_dir).mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(text)
    # The rendered file holds the callback secret.
    os.chmod(path, 0o600)
    return path


def start_private_nginx(config: NginxConfig, *, timeout: float = 10.0) -> subprocess.Popen:
    """Render the template into config.prefix and run nginx in the foreground.

    Returns once the HTTP and RTMP ports accept connections; raises RuntimeError
    (with the error log) if nginx exits or does not listen in time.
    """
    return run_nginx(config.prefix, write_config(config), config.ports(), timeout=timeout)


def run_nginx(
    prefix: str, conf: Path, ports: list[int], *, timeout: float, name: str = "nginx"
) -> subprocess.Popen:
    """nginx in the foreground with this prefix and config, once it listens on ports."""
    process = subprocess.Popen(
        ["nginx", "-p", prefix, "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_listening(process, ports, timeout=timeout)
    except RuntimeError as exc:
        process.kill()
        errors = process.stderr.read().decode(errors="replace") if process.poll() else ""
        raise RuntimeError(f"{name}: {exc} {errors}".strip()) from None
    return process


def stop_private_nginx(process: subprocess.Popen) -> None:
    # A graceful stop (SIGQUIT) waits for RTMP sessions, which never end by themselves,
    # and a SIGKILL of the master would orphan a worker with its publishers still
    # connected: so a moment for the graceful stop, then the fast one (SIGTERM).
    for sig, timeout in ((signal.SIGQUIT, 2), (signal.SIGTERM, 10)):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port now."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until_listening(process: subprocess.Popen, ports: list[int], *, timeout: float) -> None:
    """Return once every port accepts connections; RuntimeError if the process exits first
    or the ports stay closed for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not all(port_open(port) for port in ports):
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode} while starting")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"not listening on port(s) {ports} after {timeout:.0f} s")
        time.sleep(0.05)
