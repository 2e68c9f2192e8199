"""The job worker as production runs it (`manage.py run_worker`): a job interrupted by
SIGKILL runs again when the worker starts again, a job that keeps failing ends FAILED
with its error where staff look."""

import subprocess
import time
from pathlib import Path

import pytest
from django.utils import timezone

from streams.replays import services
from streams.replays.models import Recording, Replay
from tests.replays.conftest import faststart, probe, replay_of
from tests.streaming import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


def long_flv(directory: Path, *, minutes: int) -> Path:
    """An FLV of `minutes` (a 10 s test pattern looped, streams copied): two hours make a
    remux long enough to be caught in the middle."""
    directory.mkdir(parents=True, exist_ok=True)
    short, long = directory / "short.flv", directory / "alice-20261203-120000.flv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30"]
        + ["-f", "lavfi", "-i", "sine=frequency=440", "-t", "10", "-c:v", "libx264"]
        + ["-preset", "ultrafast", "-g", "30", "-b:v", "100k", "-c:a", "aac", "-b:a", "32k"]
        + ["-f", "flv", "-y", str(short)],
        check=True,
    )
    subprocess.run(
        ["ffmpeg", "-v", "error", "-stream_loop", str(minutes * 6 - 1), "-i", str(short)]
        + ["-c", "copy", "-f", "flv", "-y", str(long)],
        check=True,
    )
    short.unlink()
    return long


def ended_broadcast_with(go_live, user, path: Path):
    broadcast = go_live(user, minutes_ago=5)
    broadcast.ended_at = timezone.now()
    broadcast.save()
    Recording.objects.create(broadcast=broadcast, path=str(path), status=Recording.Status.DONE)
    return broadcast


def alive(worker_name: str) -> bool:
    """Whether any process still runs with this worker's name on its command line."""
    found = subprocess.run(
        ["pgrep", "-f", f"run_worker --name {worker_name}$"], capture_output=True
    )
    return found.returncode == 0


def ffmpeg_writing(directory: Path) -> list[Path]:
    return list(directory.glob(".*.part"))


def test_a_job_killed_halfway_runs_again_when_the_worker_restarts(
    worker_factory, settings, tmp_path, go_live, alice
):
    settings.ECHO_RECORDINGS_PATH = tmp_path / "recordings"
    settings.ECHO_REPLAYS_PATH = replays = tmp_path / "replays"
    flv = long_flv(settings.ECHO_RECORDINGS_PATH, minutes=120)
    recorded = float(probe(flv)["format"]["duration"])
    broadcast = ended_broadcast_with(go_live, alice, flv)
    worker = worker_factory()
    services.replay_schedule(broadcast=broadcast)

    wait_for(lambda: ffmpeg_writing(replays), timeout=20, interval=0.02, message="the remux")
    assert alive(worker.name)
    worker.kill()
    [part] = ffmpeg_writing(replays)
    size = part.stat().st_size
    time.sleep(0.5)
    # ffmpeg died with the worker (PR_SET_PDEATHSIG): nothing goes on writing.
    assert not part.exists() or part.stat().st_size == size
    # Nor does anything the worker forked (rq's scheduler) outlive it.
    wait_for(lambda: not alive(worker.name), timeout=5, message="the worker's children to die")
    replay = Replay.objects.get()
    assert replay.status == Replay.Status.PROCESSING and replay.attempts == 1
    assert not services.replay_files(replay.token)[0].exists()

    again = worker_factory(name=worker.name)
    replay = replay_of(broadcast, timeout=60, worker=again)
    assert "requeued 1 interrupted job(s)" in again.log()
    assert replay.attempts == 2
    video = services.replay_files(replay.token)[0]
    assert replay.duration == pytest.approx(recorded, abs=0.5)
    assert float(probe(video)["format"]["duration"]) == pytest.approx(replay.duration, abs=0.1)
    assert faststart(video)
    assert not ffmpeg_writing(replays)  # the killed run's leftover is gone too
    assert not flv.exists()


def test_a_job_that_keeps_failing_is_failed_with_its_error_in_the_admin(
    worker_factory, settings, tmp_path, go_live, alice, staff_client
):
    settings.ECHO_RECORDINGS_PATH = tmp_path / "recordings"
    settings.ECHO_REPLAYS_PATH = tmp_path / "replays"
    settings.ECHO_RECORDINGS_PATH.mkdir()
    broken = settings.ECHO_RECORDINGS_PATH / "alice-20261203-120000.flv"
    broken.write_bytes(b"FLV\x01\x05" + b"\x00garbage" * 4000)
    broadcast = ended_broadcast_with(go_live, alice, broken)
    worker = worker_factory()
    services.replay_schedule(broadcast=broadcast)

    replay = replay_of(broadcast, status=Replay.Status.FAILED, timeout=30, worker=worker)
    assert replay.attempts == 3
    assert "ffmpeg exited with" in replay.error
    response = staff_client.get("/admin/streams/replay/?status=failed")
    assert response.status_code == 200 and b"ffmpeg exited with" in response.content
    assert broken.exists()  # kept for staff to look at; a retry may yet succeed

    # Staff fix the file and run it again from the admin.
    good = long_flv(tmp_path / "fixed", minutes=5)
    broken.write_bytes(good.read_bytes())
    response = staff_client.post(
        "/admin/streams/replay/", {"action": "retry", "_selected_action": [replay.pk]}
    )
    assert response.status_code == 302
    replay = replay_of(broadcast, timeout=30, worker=worker)
    assert replay.duration > 290 and faststart(services.replay_files(replay.token)[0])


def test_a_worker_started_while_redis_is_down_waits_for_it_then_runs_jobs(
    worker_factory, redis_server, settings, tmp_path, go_live, alice
):
    # Redis restarting (run_platform starts it again) or not up yet at boot: a worker that
    # exited would take run_platform's whole site down with it, so it waits.
    settings.ECHO_RECORDINGS_PATH = tmp_path / "recordings"
    settings.ECHO_REPLAYS_PATH = tmp_path / "replays"
    broadcast = ended_broadcast_with(go_live, alice, long_flv(tmp_path / "recordings", minutes=1))
    redis_server.stop()
    try:
        worker = worker_factory()
        wait_for(
            lambda: "Redis does not answer" in worker.log() or worker.process.poll() is not None,
            timeout=30,
            message="the worker to report Redis down",
        )
        time.sleep(1.5)  # past its first retry
        assert worker.process.poll() is None, worker.log()
        assert "the job worker waits for it" in worker.log()
    finally:
        redis_server.start()
    services.replay_schedule(broadcast=broadcast)
    replay = replay_of(broadcast, timeout=60, worker=worker)
    assert replay.duration == pytest.approx(60, abs=0.5)
