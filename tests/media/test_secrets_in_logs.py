"""Stream keys and the callback secret never reach a file, a file name or a log line.

Real nginx-rtmp, ffmpeg and Django. Everything nginx could write to is read back: its
prefix (logs, tmp, the rendered config), the HLS, thumbnail and recording directories, Debian's
default /var/log/nginx/ (only the bytes appended during the test: other instances
share it), and whatever Django logged."""

import logging
import stat
from pathlib import Path

import pytest

from streams import services
from tests.streaming import CALLBACK_SECRET, free_port, nginx_config, running_rtmp, wait_for

DEBIAN_LOGS = Path("/var/log/nginx")
WRONG_KEY = "live_WrongKeyNobodyHas0123456789abcdef"


class AppendedBytes:
    """What other writers append to a shared directory's files from now on."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.sizes = {path: path.stat().st_size for path in self._files()}

    def _files(self) -> list[Path]:
        return [path for path in self.directory.glob("*") if path.is_file()]

    def read(self) -> bytes:
        appended = b""
        for path in self._files():
            start = self.sizes.get(path, 0)
            if path.stat().st_size < start:  # rotated meanwhile: all of it is new
                start = 0
            with path.open("rb") as file:
                file.seek(start)
                appended += file.read()
        return appended


def written_by_nginx(*directories: Path) -> dict[Path, bytes]:
    """Every file under these directories, with its contents."""
    found = {}
    for directory in directories:
        for path in directory.rglob("*"):
            if path.is_file():
                found[path] = path.read_bytes()
    return found


def assert_nowhere(secret: str, files: dict[Path, bytes], *, also: bytes) -> None:
    for path, content in files.items():
        assert secret not in str(path), path
        assert secret.encode() not in content, path
    assert secret.encode() not in also


@pytest.fixture
def debian_logs():
    if not DEBIAN_LOGS.is_dir():
        pytest.skip("no /var/log/nginx on this machine")
    return AppendedBytes(DEBIAN_LOGS)


def test_no_secret_reaches_any_file_or_log(rtmp, alice, caplog, capfd, debian_logs, tmp_path):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.request")
    key = alice.channel.stream_key

    # (a) A real publish that plays.
    publisher = rtmp.publish(key)
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=20, message="the playlist")
    wait_for(lambda: list(rtmp.thumbs_dir.glob("alice.jpg")), timeout=20, message="a thumbnail")
    wait_for(
        lambda: list(rtmp.recordings_dir.glob("alice-*.flv")), timeout=10, message="a recording"
    )
    for path in ("/", "/alice", "/alice/status.json", "/api/channels/live/", "/hls/alice.m3u8"):
        status, body = rtmp.get(path)
        assert status == 200, path
        assert key.encode() not in body, path
    publisher.terminate()
    publisher.wait(timeout=10)

    # (b) A wrong key: refused, and not logged either.
    wrong = rtmp.publish(WRONG_KEY)
    assert wrong.wait(timeout=15) != 0

    # (c) Django down: nginx cannot reach the callback and refuses the publish.
    down_config = nginx_config(
        tmp_path / "django-down",
        django_upstream=f"127.0.0.1:{free_port()}",
        control_port=free_port(),
    )
    with running_rtmp(down_config) as down:
        refused = down.publish(key)
        assert refused.wait(timeout=15) != 0
        wait_for(lambda: "connect() failed" in down.logs(), timeout=10, message="the error")
    services.stream_key_rotate(channel=alice.channel)

    files = {}
    for config in (rtmp.config, down_config):
        files |= written_by_nginx(
            Path(config.prefix),
            Path(config.hls_path),
            Path(config.thumbs_path),
            Path(config.recordings_dir),
            Path(config.replays_dir),
        )
    rendered = {Path(config.prefix) / "nginx.conf" for config in (rtmp.config, down_config)}
    logged = debian_logs.read() + caplog.text.encode() + "".join(capfd.readouterr()).encode()

    for secret_key in (key, WRONG_KEY):
        assert_nowhere(secret_key, files, also=logged)
    # The rendered config must hold the callback secret (mode 0600): nothing else may.
    assert_nowhere(
        CALLBACK_SECRET, {p: c for p, c in files.items() if p not in rendered}, also=logged
    )
    for path in rendered:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # The scan reads what it should: sessions were logged, files were written.
    ingest_log = files[Path(rtmp.config.prefix) / "logs" / "rtmp-access.log"].decode()
    assert ingest_log.count("PUBLISH") >= 2
    assert any(path.suffix == ".ts" for path in files)
    assert any(path.suffix == ".flv" and path.stat().st_size > 10_000 for path in files)
    assert "connect() failed" in (Path(down_config.prefix) / "logs" / "error.log").read_text()


def test_a_private_instances_logs_are_readable_by_its_user_only(rtmp):
    logs = Path(rtmp.config.prefix) / "logs"
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert {path.name for path in logs.iterdir()} >= {"error.log", "rtmp-access.log"}
