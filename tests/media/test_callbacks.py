"""The nginx-rtmp HTTP contract, exercised the way nginx calls it: form POSTs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.models import Broadcast
from tests.callbacks import callback as call
from tests.callbacks import publish
from tests.streaming import CALLBACK_SECRET as SECRET

pytestmark = pytest.mark.usefixtures("callbacks_from_nginx")


def test_it_accepts_a_valid_key_under_the_public_name(client, alice):
    response = publish(client, alice.channel.stream_key)
    assert response.status_code == 302
    assert response["Location"] == "alice"
    broadcast = alice.channel.broadcasts.get()
    assert broadcast.is_live
    assert broadcast.client_id == "7"


def test_it_records_the_title_and_category_at_the_time(client, alice):
    alice.channel.title = "Speedrun"
    alice.channel.save()
    publish(client, alice.channel.stream_key)
    alice.channel.title = "Changed later"
    alice.channel.save()
    assert alice.channel.broadcasts.get().title == "Speedrun"


@pytest.mark.parametrize("key", ["", "live_wrong", "x" * 65, "live_\u00e9\u200b", "a\x00b"])
def test_it_refuses_a_wrong_key(client, alice, key):
    response = publish(client, key)
    assert response.status_code in (400, 403)
    assert not Broadcast.objects.exists()


def test_it_refuses_the_key_of_a_banned_channel(client, alice):
    alice.channel.streaming_banned = True
    alice.channel.save()
    assert publish(client, alice.channel.stream_key).status_code == 403
    assert not Broadcast.objects.exists()


def test_it_refuses_the_key_of_a_deactivated_user(client, alice):
    alice.is_active = False
    alice.save()
    assert publish(client, alice.channel.stream_key).status_code == 403


@pytest.mark.parametrize("secret", ["nope", "", None, SECRET + "x", SECRET[:-1]])
def test_it_refuses_callbacks_without_the_secret(client, alice, secret):
    response = call(
        client, "on-publish", secret=secret, call="publish", name=alice.channel.stream_key
    )
    assert response.status_code == 403
    assert not Broadcast.objects.exists()


def test_it_refuses_the_secret_in_the_url(client, alice):
    # Only the header counts: a secret in a URL ends up in nginx's error log.
    response = client.post(
        f"/internal/rtmp/on-publish?secret={SECRET}",
        {"app": "ingest", "clientid": "7", "call": "publish", "name": alice.channel.stream_key},
    )
    assert response.status_code == 403
    assert not Broadcast.objects.exists()


def test_it_refuses_callbacks_from_other_addresses(client, alice):
    response = call(
        client,
        "on-publish",
        remote_addr="203.0.113.9",
        call="publish",
        name=alice.channel.stream_key,
    )
    assert response.status_code == 403


def test_it_refuses_get_requests(client, alice):
    response = client.get(
        "/internal/rtmp/on-publish?name=x", headers={"X-Echo-Callback-Secret": SECRET}
    )
    assert response.status_code == 405


def test_it_refuses_publishing_to_another_application(client, alice):
    response = publish(client, alice.channel.stream_key, app="live")
    assert response.status_code == 400
    assert not Broadcast.objects.exists()


def test_it_refuses_a_second_publisher_while_the_first_is_live(client, alice):
    publish(client, alice.channel.stream_key, clientid="1")
    response = publish(client, alice.channel.stream_key, clientid="2")
    assert response.status_code == 403
    assert alice.channel.broadcasts.get().client_id == "1"


def test_it_replaces_a_broadcast_that_went_silent(client, alice):
    publish(client, alice.channel.stream_key, clientid="1")
    silent_since = timezone.now() - timedelta(minutes=5)
    Broadcast.objects.update(last_seen_at=silent_since)
    assert publish(client, alice.channel.stream_key, clientid="2").status_code == 302
    old, new = alice.channel.broadcasts.order_by("started_at")
    assert old.end_reason == Broadcast.EndReason.LOST
    assert old.ended_at == silent_since
    assert new.is_live


def test_publish_done_ends_the_broadcast(client, alice):
    publish(client, alice.channel.stream_key)
    response = call(client, "on-publish-done", call="publish_done", name=alice.channel.stream_key)
    assert response.status_code == 200
    broadcast = alice.channel.broadcasts.get()
    assert broadcast.end_reason == Broadcast.EndReason.PUBLISHER_DONE
    assert broadcast.ended_at is not None


def test_publish_done_of_another_connection_leaves_the_broadcast_live(client, alice):
    publish(client, alice.channel.stream_key, clientid="1")
    call(
        client, "on-publish-done", call="publish_done", name=alice.channel.stream_key, clientid="2"
    )
    assert alice.channel.broadcasts.get().is_live


def test_publish_done_for_an_unknown_key_is_acknowledged(client, alice):
    response = call(client, "on-publish-done", call="publish_done", name="live_unknown")
    assert response.status_code == 200


def test_update_records_a_heartbeat(client, alice):
    publish(client, alice.channel.stream_key)
    Broadcast.objects.update(last_seen_at=timezone.now() - timedelta(seconds=20))
    response = call(client, "on-update", call="update_publish", name=alice.channel.stream_key)
    assert response.status_code == 200
    broadcast = alice.channel.broadcasts.get()
    assert timezone.now() - broadcast.last_seen_at < timedelta(seconds=5)


def test_update_drops_a_publisher_whose_key_was_rotated(client, alice):
    old_key = alice.channel.stream_key
    publish(client, old_key)
    from streams import services

    services.stream_key_rotate(channel=alice.channel)
    response = call(client, "on-update", call="update_publish", name=old_key)
    assert response.status_code == 403


def test_update_drops_a_banned_publisher(client, alice):
    publish(client, alice.channel.stream_key)
    alice.channel.streaming_banned = True
    alice.channel.save()
    response = call(client, "on-update", call="update_publish", name=alice.channel.stream_key)
    assert response.status_code == 403
    assert alice.channel.broadcasts.get().end_reason == Broadcast.EndReason.BANNED


def test_update_for_the_push_relay_is_always_allowed(client, alice):
    response = call(client, "on-update", app="", flashver="ngx-local-relay", call="update_play")
    assert response.status_code == 200


def test_no_callback_answers_with_an_accidental_redirect(client, alice):
    for endpoint in ("on-publish", "on-publish-done", "on-update"):
        for fields in ({}, {"name": "bogus"}, {"call": "update_publish", "name": "bogus"}):
            response = call(client, endpoint, **fields)
            assert not 300 <= response.status_code < 400, (endpoint, fields)
        assert call(client, endpoint.rstrip("/") + "/").status_code == 404
