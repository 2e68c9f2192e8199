"""Staff moderation in Django admin goes through streams/services.py."""

import pytest

from streams import services
from streams.models import Broadcast

pytestmark = pytest.mark.usefixtures("no_nginx")


def admin_action(client, model: str, action: str, pk: int):
    return client.post(
        f"/admin/streams/{model}/", {"action": action, "_selected_action": [pk]}, follow=True
    )


def test_staff_can_end_a_live_broadcast(staff_client, alice):
    broadcast = services.broadcast_start(key=alice.channel.stream_key, client_id="3")
    response = admin_action(staff_client, "broadcast", "end_now", broadcast.pk)
    assert response.status_code == 200
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.STAFF


def test_staff_can_ban_a_channel_from_streaming(staff_client, alice):
    broadcast = services.broadcast_start(key=alice.channel.stream_key, client_id="3")
    response = admin_action(staff_client, "channel", "ban_from_streaming", alice.channel.pk)
    assert response.status_code == 200
    alice.channel.refresh_from_db()
    assert alice.channel.streaming_banned
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.BANNED


def test_staff_can_rotate_a_key(staff_client, alice):
    old_key = alice.channel.stream_key
    admin_action(staff_client, "channel", "rotate_keys", alice.channel.pk)
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key != old_key


def test_the_admin_never_shows_a_stream_key(staff_client, alice):
    for url in (
        "/admin/streams/channel/",
        f"/admin/streams/channel/{alice.channel.pk}/change/",
        "/admin/accounts/user/",
    ):
        response = staff_client.get(url)
        assert response.status_code == 200
        assert alice.channel.stream_key not in response.content.decode()
