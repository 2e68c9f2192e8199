"""Streaming fixtures: a real nginx-rtmp rendered from deploy/ on free loopback ports,
calling back into Django's live server, and ffmpeg publishers as the OBS stand-in."""

import contextlib
import getpass
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.media.encoder import publish_test_pattern
from streams.media.nginx import NginxConfig, start_private_nginx, stop_private_nginx

CALLBACK_SECRET = "test-callback-secret-0123456789"


# Ports this test process has handed out. The kernel may give a port back for the asking
# once its socket is closed, and one config asks for several before nginx binds any: two
# of them the same port made nginx fail to start (seen under load).
_handed_out: set[int] = set()


def free_port() -> int:
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port that this run has not handed out already")


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = ""):
    """Poll predicate until it returns something truthy; bounded by timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(interval)


@dataclass
class RtmpServer:
    config: NginxConfig
    process: subprocess.Popen
    publishers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        """The site's URL: HTTPS when the test brought a certificate (HTTP only redirects)."""
        if self.config.tls_certificate:
            return f"https://{self.config.https_listen}"
        return f"http://{self.config.http_listen}"

    @property
    def hls_dir(self) -> Path:
        return Path(self.config.hls_path)

    @property
    def thumbs_dir(self) -> Path:
        return Path(self.config.thumbs_path)

    @property
    def recordings_dir(self) -> Path:
        return Path(self.config.recordings_path)

    @property
    def replays_dir(self) -> Path:
        return Path(self.config.replays_path)

    def ingest_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.config.rtmp_port}/ingest/{key}"

    def publish(self, key: str, **options) -> subprocess.Popen:
        publisher = publish_test_pattern(self.ingest_url(key), **options)
        self.publishers.append(publisher)
        return publisher

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            # Tests' certificates are self-signed for the occasion.
            context = ssl._create_unverified_context() if self.config.tls_certificate else None
            with urllib.request.urlopen(
                self.http_url + path, timeout=5, context=context
            ) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def playlist_ready(self, name: str) -> bool:
        status, body = self.get(f"/hls/{name}.m3u8")
        return status == 200 and b".ts" in body

    def logs(self) -> str:
        logs = Path(self.config.prefix) / "logs"
        return "".join(path.read_text(errors="replace") for path in sorted(logs.glob("*.log")))


def nginx_config(
    tmp_path: Path, *, django_upstream: str, control_port: int, **overrides
) -> NginxConfig:
    """The settings' nginx values (as production renders them) for a private nginx on free
    loopback ports, with every path in tmp_path; overrides replace single fields."""
    values = dict(
        prefix=str(tmp_path / "nginx"),
        hls_path=str(tmp_path / "hls"),
        thumbs_path=str(tmp_path / "thumbs"),
        recordings_path=str(tmp_path / "recordings"),
        replays_path=str(tmp_path / "replays"),
        acme_webroot=str(tmp_path / "acme"),
        http_listen=f"127.0.0.1:{free_port()}",
        rtmp_port=free_port(),
        rtmp_ingest_port=free_port(),
        rtmp_live_port=free_port(),
        control_port=control_port,
        django_upstream=django_upstream,
        callback_secret=CALLBACK_SECRET,
        # As root, workers would run as nobody and could not write into tmp_path.
        user=getpass.getuser() if os.geteuid() == 0 else "",
        # Renditions only for the tests about them (tests/media/test_renditions.py): a
        # transcoder per broadcast would cost every streaming test CPU.
        renditions=False,
        # Plain HTTP unless a test brings its own certificate.
        tls_certificate="",
        tls_certificate_key="",
        https_listen="",
    )
    return NginxConfig.from_settings(**{**values, **overrides})


@contextlib.contextmanager
def running_rtmp(config: NginxConfig):
    """nginx from the template; on the way out, every publisher and nginx are stopped."""
    server = RtmpServer(config=config, process=start_private_nginx(config))
    try:
        yield server
    finally:
        for publisher in server.publishers:
            if publisher.poll() is None:
                publisher.kill()
            publisher.wait()
        stop_private_nginx(server.process)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, as certbot's would be for the site."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        + ["-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    return certificate, key


def live_server_nginx_config(live_server, settings, tmp_path: Path, **overrides) -> NginxConfig:
    """nginx_config() in front of the live server, with Django's settings pointed at it."""
    control_port = free_port()
    settings.ECHO_RTMP_CALLBACK_SECRET = CALLBACK_SECRET
    settings.ECHO_CONTROL_PORT = control_port
    settings.ECHO_NGINX_CONTROL_URL = f"http://127.0.0.1:{control_port}"
    config = nginx_config(
        tmp_path,
        django_upstream=live_server.url.removeprefix("http://"),
        control_port=control_port,
        **overrides,
    )
    settings.ECHO_HLS_PATH = Path(config.hls_path)
    settings.ECHO_THUMBS_PATH = Path(config.thumbs_path)
    settings.ECHO_RECORDINGS_PATH = Path(config.recordings_path)
    settings.ECHO_REPLAYS_PATH = Path(config.replays_path)
    return config


@pytest.fixture
def rtmp(live_server, settings, tmp_path, transactional_db):
    with running_rtmp(live_server_nginx_config(live_server, settings, tmp_path)) as server:
        yield server


def kill_nginx(process: subprocess.Popen) -> None:
    """SIGKILL the master and its workers, as a crash or the OOM killer would."""
    workers = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    process.kill()
    for pid in workers:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
