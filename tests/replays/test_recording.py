"""From a real broadcast to a seekable replay: nginx-rtmp records (FLV), on_record_done
queues the job, the real worker remuxes, nginx serves the MP4 with byte ranges."""

import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from streams.chat.models import ChatMessage
from streams.models import Broadcast
from streams.replays import services
from streams.replays.models import Recording, Replay
from tests.media.test_faults import kill_nginx
from tests.replays.conftest import decodes_cleanly, faststart, probe, recording_of, replay_of
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming]

SMALL = {"size": "320x180", "bitrate": "300k"}


def broadcast_of(channel) -> Broadcast:
    return wait_for(lambda: channel.broadcasts.first(), timeout=10, message="on_publish")


def ranged(rtmp, path: str, first: int, last: int) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(
        rtmp.http_url + path, headers={"Range": f"bytes={first}-{last}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_a_broadcast_becomes_a_seekable_replay_with_its_chat(rtmp, replay_worker, alice, bob):
    alice.channel.title = "Parsing, part 3"
    alice.channel.save()
    publisher = rtmp.publish(alice.channel.stream_key, duration=6, **SMALL)
    broadcast = broadcast_of(alice.channel)
    recording = recording_of(broadcast)
    assert recording.path.startswith(str(rtmp.recordings_dir))
    ChatMessage.objects.create(channel=alice.channel, broadcast=broadcast, author=bob, body="gg")
    # Renamed mid-stream: the replay keeps the title the broadcast had.
    alice.channel.title = "Something else"
    alice.channel.save()
    assert publisher.wait(timeout=20) == 0

    replay = replay_of(broadcast, worker=replay_worker)
    assert replay.title == "Parsing, part 3"
    assert 4.5 <= replay.duration <= 7.5
    video, picture = services.replay_files(replay.token)
    assert faststart(video) and decodes_cleanly(video)
    streams = {s["codec_type"]: s["codec_name"] for s in probe(video)["streams"]}
    assert streams == {"video": "h264", "audio": "aac"}  # copied, not re-encoded
    assert picture.read_bytes()[:2] == b"\xff\xd8"
    # The FLV went once the MP4 held it all.
    assert not list(rtmp.recordings_dir.glob("*.flv"))
    assert Recording.objects.get().status == Recording.Status.DONE

    # Listed on the channel page and in the API; the replay page plays it with its chat.
    status, page = rtmp.get("/alice")
    assert status == 200 and replay.get_absolute_url().encode() in page
    status, body = rtmp.get("/api/channels/alice/replays/")
    assert status == 200 and b"Parsing, part 3" in body
    status, page = rtmp.get(replay.get_absolute_url())
    assert status == 200 and replay.video_url.encode() in page and b'"gg"' in page

    # nginx serves the bytes, a range at a time (HTTP 206), exactly the file's.
    size = video.stat().st_size
    status, headers, body = ranged(rtmp, replay.video_url, 1000, 1999)
    assert status == 206
    assert headers["Content-Range"] == f"bytes 1000-1999/{size}"
    assert headers["Content-Type"] == "video/mp4"
    assert body == video.read_bytes()[1000:2000]
    status, headers, body = ranged(rtmp, replay.video_url, size - 100, size - 1)
    assert status == 206 and body == video.read_bytes()[-100:]
    # The files themselves are nowhere to be fetched but through Django's check.
    assert rtmp.get(f"/_replay_files/{replay.token}.mp4")[0] == 404
    assert rtmp.get(f"/replays/{replay.token}.jpg")[0] == 200


def test_nginx_killed_mid_recording_still_gives_a_replay_up_to_the_break(
    rtmp, replay_worker, alice, monkeypatch
):
    from streams import services as core
    from streams.media.nginx import start_private_nginx

    monkeypatch.setattr(services, "RECORD_DONE_GRACE", services.RECORD_DONE_GRACE * 0)
    rtmp.publish(alice.channel.stream_key, **SMALL)
    broadcast = broadcast_of(alice.channel)
    recording = recording_of(broadcast)
    wait_for(lambda: (rtmp.recordings_dir / recording.path.rsplit("/", 1)[1]).stat().st_size
             > 150_000, timeout=15, message="a few seconds recorded")  # fmt: skip
    kill_nginx(rtmp.process)
    rtmp.process = start_private_nginx(rtmp.config)

    def ended_and_scheduled():
        # What run_platform's loop does every 5 s: nginx no longer has the publisher.
        core.broadcasts_reconcile()
        services.recordings_reconcile()
        return Replay.objects.filter(broadcast=broadcast).exists()

    wait_for(ended_and_scheduled, timeout=30, interval=1, message="the broadcast to end")
    replay = replay_of(broadcast, worker=replay_worker)
    recording.refresh_from_db()
    assert "cut short" in recording.note
    assert replay.duration >= 2
    assert decodes_cleanly(services.replay_files(replay.token)[0])


def test_a_channel_that_turned_recording_off_is_not_recorded(rtmp, replay_worker, alice):
    services.replay_settings_update(channel=alice.channel, recording_enabled=False)
    publisher = rtmp.publish(alice.channel.stream_key, duration=3, **SMALL)
    broadcast = broadcast_of(alice.channel)
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=10, message="the stream")
    services.recordings_reconcile()
    assert publisher.wait(timeout=20) == 0
    wait_for(lambda: Broadcast.objects.get(pk=broadcast.pk).ended_at, timeout=10, message="end")
    assert not Recording.objects.exists() and not Replay.objects.exists()
    assert not list(rtmp.recordings_dir.iterdir())


def test_a_recording_django_lost_track_of_is_adopted_and_kept(rtmp, replay_worker, alice):
    publisher = rtmp.publish(alice.channel.stream_key, duration=8, **SMALL)
    broadcast = broadcast_of(alice.channel)
    lost = recording_of(broadcast)
    # Django died between nginx's answer and the insert: nginx records, nobody knows.
    Recording.objects.all().delete()
    # Long enough ago that the start-up retries are over.
    Broadcast.objects.update(started_at=timezone.now() - timedelta(minutes=1))
    wait_for(lambda: rtmp.recordings_dir.joinpath(lost.path.rsplit("/", 1)[1]).stat().st_size
             > 50_000, timeout=10, message="some of it recorded")  # fmt: skip
    services.recordings_reconcile()
    adopted = Recording.objects.get(status=Recording.Status.DONE)
    assert adopted.path == lost.path and "adopted" in adopted.note
    first_part = float(probe(adopted.path)["format"]["duration"])
    recording_of(broadcast)  # and a tracked one goes on
    assert publisher.wait(timeout=30) == 0
    replay = replay_of(broadcast, worker=replay_worker)
    assert Recording.objects.exclude(path="").count() == 2
    assert replay.duration >= first_part + 1  # both parts
