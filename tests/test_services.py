"""Live-state changes in streams/services.py, without nginx (its control endpoint is down)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from streams import services
from streams.models import Broadcast, Channel, stream_key_digest

pytestmark = pytest.mark.usefixtures("no_nginx")


def publish(channel: Channel, client_id: str = "5") -> Broadcast:
    """The publish path itself (conftest's go_live only writes the row)."""
    return services.broadcast_start(key=channel.stream_key, client_id=client_id)


def test_every_user_gets_a_channel_with_a_long_random_key(alice, bob):
    key = alice.channel.stream_key
    assert key.startswith("live_")
    assert len(key) - len("live_") >= 32  # 24 random bytes, base64url
    assert alice.channel.stream_key_digest == stream_key_digest(key)
    assert bob.channel.stream_key != key


def test_it_rotates_the_key_and_ends_the_live_broadcast(alice, django_capture_on_commit_callbacks):
    old_key = alice.channel.stream_key
    broadcast = publish(alice.channel)
    with mock.patch("streams.media.control.drop_publisher") as drop:
        with django_capture_on_commit_callbacks(execute=True):
            services.stream_key_rotate(channel=alice.channel)
    drop.assert_called_once_with(client_id="5")
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key != old_key
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.KEY_ROTATED
    assert not Channel.objects.with_key(old_key).exists()


def test_a_ban_ends_the_live_broadcast_and_refuses_new_ones(alice):
    broadcast = publish(alice.channel)
    services.channel_ban(channel=alice.channel)
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.BANNED
    with pytest.raises(services.PublishRefused):
        publish(alice.channel, client_id="6")
    services.channel_unban(channel=alice.channel)
    assert publish(alice.channel, client_id="7").is_live


def test_ending_a_broadcast_twice_is_harmless(alice):
    broadcast = publish(alice.channel)
    assert services.broadcast_end(broadcast=broadcast) is True
    assert services.broadcast_end(broadcast=broadcast) is False
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.STAFF


def test_reconcile_ends_a_silent_broadcast_at_its_last_heartbeat(alice):
    broadcast = publish(alice.channel)
    last_seen = timezone.now() - timedelta(minutes=2)
    Broadcast.objects.update(last_seen_at=last_seen)
    assert services.broadcasts_reconcile() == 1
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.LOST
    assert broadcast.ended_at == last_seen


def test_reconcile_ends_a_broadcast_nginx_no_longer_has(alice):
    broadcast = publish(alice.channel)
    Broadcast.objects.update(started_at=timezone.now() - timedelta(seconds=30))
    with mock.patch(
        "streams.media.control.ingest_publishers", return_value={"99": "alice", "5": "bob"}
    ):
        assert services.broadcasts_reconcile() == 1
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.LOST


def test_reconcile_keeps_a_broadcast_nginx_still_has(alice):
    broadcast = publish(alice.channel)
    Broadcast.objects.update(started_at=timezone.now() - timedelta(seconds=30))
    with mock.patch("streams.media.control.ingest_publishers", return_value={"5": "alice"}):
        assert services.broadcasts_reconcile() == 0
    broadcast.refresh_from_db()
    assert broadcast.is_live


def test_reconcile_leaves_live_broadcasts_alone_when_nginx_cannot_be_asked(alice):
    broadcast = publish(alice.channel)
    Broadcast.objects.update(started_at=timezone.now() - timedelta(seconds=30))
    assert services.broadcasts_reconcile() == 0  # control port closed: no stat
    broadcast.refresh_from_db()
    assert broadcast.is_live


def test_only_channels_with_an_open_broadcast_are_live(alice, bob):
    assert not Channel.objects.live().exists()
    broadcast = publish(alice.channel)
    publish(bob.channel, client_id="6")
    services.broadcast_end(broadcast=broadcast)
    assert list(Channel.objects.live()) == [bob.channel]
