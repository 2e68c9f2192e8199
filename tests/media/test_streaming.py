"""End to end with real processes: nginx-rtmp from deploy/, ffmpeg publishing, Django live."""

import time

import pytest

from streams import services
from streams.media import control
from streams.models import Broadcast, Channel
from tests.records import record_fault
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming, pytest.mark.django_db(transaction=True)]


def live_broadcast(channel: Channel) -> Broadcast | None:
    return channel.broadcasts.filter(ended_at__isnull=True).first()


def publish_and_play(rtmp, channel: Channel):
    publisher = rtmp.publish(channel.stream_key)
    wait_for(lambda: live_broadcast(channel), timeout=10, message="on_publish")
    wait_for(lambda: rtmp.playlist_ready(channel.name), timeout=10, message="the playlist")
    return publisher


def time_to_drop(publisher, *, since: float) -> tuple[float, float]:
    """Seconds from `since` until nginx's stat no longer lists the publisher, and until
    ffmpeg exits. Waited for generously (past on_update's 10 s backstop), so a drop that
    only the backstop makes is measured, and fails the bound, rather than timing out."""
    wait_for(lambda: control.ingest_publishers() == {}, timeout=25, interval=0.02, message="drop")
    dropped_after = time.monotonic() - since
    publisher.wait(timeout=25)
    exited_after = time.monotonic() - since
    return dropped_after, exited_after


def test_a_valid_key_goes_live_and_serves_hls_under_the_public_name(rtmp, alice):
    publish_and_play(rtmp, alice.channel)
    status, playlist = rtmp.get("/hls/alice.m3u8")
    assert status == 200
    segment = next(line for line in playlist.decode().splitlines() if line.endswith(".ts"))
    assert segment.startswith("alice-")
    status, body = rtmp.get(f"/hls/{segment}")
    assert status == 200
    assert body[:1] == b"G"  # MPEG-TS sync byte
    status, body = rtmp.get("/alice/status.json")
    assert b'"live": true' in body


@pytest.mark.parametrize("key", ["live_not-a-real-key", "live_" + "A" * 32])
def test_a_wrong_key_is_refused(rtmp, alice, key):
    publisher = rtmp.publish(key)
    assert publisher.wait(timeout=15) != 0
    assert not Broadcast.objects.exists()
    assert not list(rtmp.hls_dir.glob("*"))


def test_a_rotated_key_is_refused(rtmp, alice):
    old_key = alice.channel.stream_key
    services.stream_key_rotate(channel=alice.channel)
    publisher = rtmp.publish(old_key)
    assert publisher.wait(timeout=15) != 0
    assert not Broadcast.objects.exists()


def test_a_banned_users_key_is_refused(rtmp, alice):
    services.channel_ban(channel=alice.channel)
    publisher = rtmp.publish(alice.channel.stream_key)
    assert publisher.wait(timeout=15) != 0
    assert not Broadcast.objects.exists()


def test_the_channel_goes_offline_when_the_publisher_stops(rtmp, alice):
    publisher = publish_and_play(rtmp, alice.channel)
    publisher.terminate()
    publisher.wait(timeout=10)
    wait_for(lambda: live_broadcast(alice.channel) is None, timeout=10, message="on_publish_done")
    broadcast = alice.channel.broadcasts.get()
    assert broadcast.end_reason == Broadcast.EndReason.PUBLISHER_DONE
    status, body = rtmp.get("/alice/status.json")
    assert b'"live": false' in body


def test_rotating_the_key_while_live_drops_the_broadcast(rtmp, alice):
    publisher = publish_and_play(rtmp, alice.channel)
    rotated_at = time.monotonic()
    services.stream_key_rotate(channel=alice.channel)
    dropped_after, exited_after = time_to_drop(publisher, since=rotated_at)
    record_fault("key rotation", "publisher gone from nginx after", dropped_after)
    record_fault("key rotation", "encoder exited after", exited_after)
    # Through nginx's control endpoint at once, not on_update's backstop (every 10 s).
    assert dropped_after < 1.0
    broadcast = alice.channel.broadcasts.get()
    assert broadcast.end_reason == Broadcast.EndReason.KEY_ROTATED
    # nginx's on_publish_done for the dropped publisher must not disturb the ended record.
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.KEY_ROTATED
    assert alice.channel.broadcasts.count() == 1


def test_a_staff_ban_while_live_drops_the_broadcast(rtmp, alice):
    publisher = publish_and_play(rtmp, alice.channel)
    banned_at = time.monotonic()
    services.channel_ban(channel=alice.channel)
    dropped_after, exited_after = time_to_drop(publisher, since=banned_at)
    record_fault("staff ban", "publisher gone from nginx after", dropped_after)
    record_fault("staff ban", "encoder exited after", exited_after)
    assert dropped_after < 1.0
    assert alice.channel.broadcasts.get().end_reason == Broadcast.EndReason.BANNED
    again = rtmp.publish(alice.channel.stream_key)
    assert again.wait(timeout=15) != 0


def test_a_second_publisher_on_a_live_key_is_refused_and_the_first_keeps_going(rtmp, alice):
    first = publish_and_play(rtmp, alice.channel)
    second = rtmp.publish(alice.channel.stream_key)
    assert second.wait(timeout=15) != 0
    assert first.poll() is None
    broadcast = live_broadcast(alice.channel)
    assert broadcast is not None
    assert alice.channel.broadcasts.count() == 1


def test_a_long_keyframe_interval_is_measured_and_flagged(rtmp, alice):
    # OBS's "auto" keyframe interval gives segments as long as the GOP.
    rtmp.publish(alice.channel.stream_key, keyframe_seconds=4)
    wait_for(lambda: live_broadcast(alice.channel), timeout=10, message="on_publish")
    broadcast = wait_for(
        lambda: alice.channel.broadcasts.filter(segment_seconds__isnull=False).first(),
        timeout=30,
        message="a heartbeat with a segment measurement",
    )
    # The first segments also hold the encoder's start-up: about 4 s, up to 5.
    assert 3.5 <= broadcast.segment_seconds <= 5.5
    assert broadcast.keyframe_interval_too_long


def test_a_one_second_keyframe_interval_is_not_flagged(rtmp, alice):
    publish_and_play(rtmp, alice.channel)
    broadcast = wait_for(
        lambda: alice.channel.broadcasts.filter(segment_seconds__isnull=False).first(),
        timeout=30,
        message="a heartbeat with a segment measurement",
    )
    assert broadcast.segment_seconds <= 1.2
    assert not broadcast.keyframe_interval_too_long
