"""Replays' fixtures: the real job worker (`manage.py run_worker`, as run_platform and
echo-worker.service start it) on the test database and the session's Redis, and helpers
to publish, wait for replays and read MP4 files."""

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from streams.models import Broadcast
from streams.replays.models import Recording, Replay
from tests.servers import web_server_env
from tests.streaming import wait_for

BASE_DIR = Path(django_settings.BASE_DIR)


class Worker:
    def __init__(self, env: dict[str, str], log_path: Path, name: str | None = None):
        self.env = env
        self.log_path = log_path
        # One machine's worker keeps its name across restarts (run_worker's default).
        self.name = name or f"test-worker-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "run_worker", "--name", self.name],
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def worker_factory(transactional_db, settings, tmp_path, redis_server):
    """worker_factory() -> a started Worker; its environment is read when it is called,
    so a test points the settings (paths, nginx) first."""
    settings.ECHO_JOB_RETRY_SECONDS = [0, 0]
    workers = []

    def start(name: str | None = None) -> Worker:
        Path(settings.ECHO_REPLAYS_PATH).mkdir(parents=True, exist_ok=True)
        env = web_server_env(settings, redis_server.url)
        env["ECHO_RECORDING_MIN_FREE_MB"] = str(settings.ECHO_RECORDING_MIN_FREE_MB)
        env["ECHO_REPLAY_RETENTION_DAYS"] = str(settings.ECHO_REPLAY_RETENTION_DAYS)
        worker = Worker(env, tmp_path / f"worker-{len(workers)}.log", name)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def replay_worker(rtmp, worker_factory):
    """The worker, beside nginx-rtmp (the `rtmp` fixture) and the live server."""
    return worker_factory()


def replay_of(
    broadcast: Broadcast, *, status=Replay.Status.READY, timeout: float = 30, worker=None
):
    def ready():
        replay = Replay.objects.filter(broadcast=broadcast).first()
        if replay is not None and replay.status == Replay.Status.FAILED and status != replay.status:
            raise AssertionError(f"replay failed: {replay.error}")
        return replay if replay is not None and replay.status == status else None

    try:
        return wait_for(ready, timeout=timeout, interval=0.1, message=f"a {status} replay")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{worker.log() if worker else ''}") from None


def recording_of(broadcast: Broadcast, timeout: float = 10) -> Recording:
    return wait_for(
        lambda: broadcast.recordings.filter(status=Recording.Status.RECORDING).first(),
        timeout=timeout,
        message="nginx recording the broadcast",
    )


def probe(path: Path) -> dict:
    """ffprobe's view of a file: format and streams."""
    output = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(output)


def decodes_cleanly(path: Path) -> bool:
    """Every frame decodes (what a player would show), no error from ffmpeg."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        env={**os.environ},
    )
    return result.returncode == 0 and not result.stderr.strip()


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (ftyp, moov, mdat, ...)."""
    boxes = []
    with path.open("rb") as file:
        while header := file.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(file.read(8), "big") - 8
            boxes.append(kind)
            file.seek(size - 8, 1)
    return boxes


def faststart(path: Path) -> bool:
    """The index (moov) comes before the media (mdat): seekable before it is all loaded."""
    boxes = top_level_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
