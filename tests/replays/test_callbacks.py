"""on_record_done, as nginx's control server forwards it: authenticated like every other
callback, malformed ones refused, a duplicate answered 2xx and ignored."""

import pytest
from django.test import Client
from django.utils import timezone

from streams.replays import jobs
from streams.replays.models import Recording, Replay
from tests.callbacks import callback

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def recording(go_live, alice, tmp_path):
    broadcast = go_live(alice)
    broadcast.ended_at = timezone.now()
    broadcast.save()
    path = tmp_path / "alice-20261203-120000.flv"
    path.write_bytes(b"FLV")
    return Recording.objects.create(broadcast=broadcast, path=str(path))


def record_done(client, path, **fields):
    fields = {"app": "live", "call": "record_done", "name": "alice", "path": path, **fields}
    return callback(client, "on-record-done", **fields)


def test_record_done_marks_the_recording_and_queues_its_replay(
    callbacks_from_nginx, recording, redis_server, django_capture_on_commit_callbacks
):
    queued = jobs.queue(jobs.REPLAYS).count
    with django_capture_on_commit_callbacks(execute=True):
        response = record_done(Client(), recording.path, recorder="")
    assert response.status_code == 200
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DONE
    replay = Replay.objects.get()
    assert replay.status == Replay.Status.PROCESSING
    assert jobs.queue(jobs.REPLAYS).count == queued + 1
    # nginx may repeat itself: the same answer, no second job.
    with django_capture_on_commit_callbacks(execute=True):
        assert record_done(Client(), recording.path).status_code == 200
    assert jobs.queue(jobs.REPLAYS).count == queued + 1 and Replay.objects.count() == 1


def test_record_done_without_the_secret_or_malformed_is_refused(callbacks_from_nginx, recording):
    assert record_done(Client(), recording.path, secret=None).status_code == 403
    assert record_done(Client(), recording.path, secret="wrong").status_code == 403
    assert record_done(Client(), recording.path, remote_addr="192.0.2.9").status_code == 403
    assert record_done(Client(), recording.path, app="ingest").status_code == 400
    assert record_done(Client(), "").status_code == 400
    recording.refresh_from_db()
    assert recording.status == Recording.Status.RECORDING and not Replay.objects.exists()


def test_record_done_for_an_unknown_file_is_answered_and_ignored(callbacks_from_nginx, recording):
    assert record_done(Client(), "/elsewhere/x.flv").status_code == 200
    assert not Replay.objects.exists()


def test_the_streamer_turns_recording_off_and_on_from_the_dashboard(alice, logged_in):
    from streams.replays.services import recording_enabled

    owner = logged_in(alice)
    assert "Turn recording off" in owner.get("/dashboard/").content.decode()
    assert owner.post("/dashboard/recording/", {"recording_enabled": "0"}).status_code == 302
    assert not recording_enabled(alice.channel)
    assert "Turn recording on" in owner.get("/dashboard/").content.decode()
    owner.post("/dashboard/recording/", {"recording_enabled": "1"})
    assert recording_enabled(alice.channel)


def test_a_replay_whose_job_redis_lost_is_queued_again_and_a_clip_fails(
    recording, redis_server, bob, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from streams.replays import services
    from streams.replays.models import Clip

    Recording.objects.update(status=Recording.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        replay = services.replay_schedule(broadcast=recording.broadcast)
    assert jobs.job_known(jobs.replay_job_id(replay.pk))
    clip = Clip.objects.create(
        channel=replay.channel, broadcast=replay.broadcast, created_by=bob, title="x",
        start=0, length=5,
    )  # fmt: skip
    old = timezone.now() - timedelta(minutes=5)
    Replay.objects.update(created_at=old)
    Clip.objects.update(created_at=old)
    services.recordings_reconcile()
    # Still known: not queued twice.
    assert jobs.queue(jobs.REPLAYS).job_ids.count(jobs.replay_job_id(replay.pk)) == 1
    with redis_server.client() as client:
        client.flushall()  # Redis restarted: the private one keeps nothing
    services.recordings_reconcile()
    assert jobs.job_known(jobs.replay_job_id(replay.pk))
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED and "lost" in clip.error


def test_a_broadcast_that_ended_while_paused_for_disk_still_gets_its_replay(
    recording, redis_server, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from streams.models import Broadcast
    from streams.replays import services

    # Paused (nginx closed the file: on_record_done made it DONE), then the stream ended.
    Recording.objects.update(status=Recording.Status.DONE)
    Broadcast.objects.update(ended_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.recordings_reconcile()
    replay = Replay.objects.get()
    assert jobs.job_known(jobs.replay_job_id(replay.pk))
    # Deleted by its owner: never scheduled again.
    services.replay_delete(replay=Replay.objects.select_related("broadcast").get())
    with django_capture_on_commit_callbacks(execute=True):
        services.recordings_reconcile()
    assert not Replay.objects.exists() and not Recording.objects.exists()
