"""Retention (a job on the real worker) and the free-disk threshold (real nginx-rtmp)."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from streams.replays import jobs, services
from streams.replays.models import Recording, Replay
from tests.replays.conftest import decodes_cleanly, recording_of, replay_of
from tests.replays.test_recording import SMALL, broadcast_of
from tests.streaming import wait_for


def ready_replay(go_live, user, *, days_old: int) -> Replay:
    broadcast = go_live(user, minutes_ago=days_old * 1440 + 60)
    broadcast.ended_at = broadcast.started_at + timedelta(minutes=30)
    broadcast.save()
    replay = Replay.objects.create(
        broadcast=broadcast,
        channel=user.channel,
        status=Replay.Status.READY,
        duration=1800,
        created_at=timezone.now() - timedelta(days=days_old),
    )
    for path in services.replay_files(replay.token):
        path.write_bytes(b"x")
    return replay


def retention_rounds() -> int:
    """Retention jobs run to their end (not just past their first replay)."""
    return len(jobs.queue(jobs.REPLAYS).finished_job_registry.get_job_ids())


@pytest.mark.django_db(transaction=True)
def test_retention_deletes_old_replays_with_their_files_but_not_one_being_watched(
    worker_factory, settings, tmp_path, go_live, alice
):
    settings.ECHO_REPLAYS_PATH = tmp_path / "replays"
    settings.ECHO_REPLAYS_PATH.mkdir()
    settings.ECHO_REPLAY_RETENTION_DAYS = 30
    old, watched, recent = (ready_replay(go_live, alice, days_old=d) for d in (31, 40, 29))
    # Someone is downloading this one right now (every range request marks it).
    assert Client().get(watched.video_url).status_code == 200
    worker_factory()

    # The reconcile loop queues retention (at most once an hour); the worker runs it.
    services.recordings_reconcile()
    wait_for(lambda: retention_rounds() == 1, timeout=20, message="retention")
    assert not any(path.exists() for path in services.replay_files(old.token))
    assert set(Replay.objects.values_list("pk", flat=True)) == {watched.pk, recent.pk}
    assert all(path.exists() for path in services.replay_files(watched.token))

    # Once nobody has fetched it for WATCH_SECONDS, the next round takes it.
    jobs.connection().delete(f"echo:replays:watched:{watched.token}")
    services.recordings_reconcile()  # within the hour: not queued again
    time.sleep(1)
    assert Replay.objects.filter(pk=watched.pk).exists() and retention_rounds() == 1
    jobs.enqueue_retention()
    wait_for(lambda: retention_rounds() == 2, timeout=20, message="the second round")
    assert not Replay.objects.filter(pk=watched.pk).exists()
    assert Replay.objects.filter(pk=recent.pk).exists()


@pytest.mark.streaming
def test_recording_pauses_below_the_free_disk_threshold_and_the_admin_says_why(
    rtmp, replay_worker, alice, settings, staff_client
):
    settings.ECHO_RECORDING_MIN_FREE_MB = 10**9  # more than any disk has
    rtmp.publish(alice.channel.stream_key, **SMALL)
    broadcast = broadcast_of(alice.channel)
    paused = wait_for(
        lambda: broadcast.recordings.filter(status=Recording.Status.PAUSED).first(),
        timeout=10,
        message="the pause",
    )
    assert "ECHO_RECORDING_MIN_FREE_MB" in paused.note
    assert not list(rtmp.recordings_dir.iterdir())
    page = staff_client.get("/admin/streams/recording/").content.decode()
    assert "Not recording: low disk space" in page and "ECHO_RECORDING_MIN_FREE_MB" in page

    # Room again: the reconcile loop starts recording; low again: it pauses nginx's file.
    # Run as the loop does, every few seconds: nginx takes the record command only once
    # the relay's push has reached the live application (the pause came at on_publish,
    # before it, and under load the push may not be there yet).
    settings.ECHO_RECORDING_MIN_FREE_MB = 1
    first = wait_for(
        lambda: (
            services.recordings_reconcile()
            or broadcast.recordings.filter(status=Recording.Status.RECORDING).first()
        ),
        timeout=20,
        interval=1,
        message="the reconcile loop recording the broadcast",
    )
    time.sleep(3)
    settings.ECHO_RECORDING_MIN_FREE_MB = 10**9
    services.recordings_reconcile()
    wait_for(
        lambda: Recording.objects.get(pk=first.pk).status == Recording.Status.DONE,
        timeout=10,
        message="nginx closing the paused file",
    )
    assert not Replay.objects.exists()  # a pause is not the end of the broadcast
    settings.ECHO_RECORDING_MIN_FREE_MB = 1
    time.sleep(1.1)  # nginx names files by the second
    services.recordings_reconcile()
    second = recording_of(broadcast)
    assert second.path != first.path
    time.sleep(3)
    [publisher] = rtmp.publishers
    publisher.terminate()

    # One replay of both parts.
    replay = replay_of(broadcast, worker=replay_worker)
    assert 4 <= replay.duration <= 10
    assert decodes_cleanly(services.replay_files(replay.token)[0])
