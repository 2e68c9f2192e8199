"""The chat WebSocket end to end in one process: ASGI application, session login, the room
hub and the real Redis of tests/redis.py (no mock stands in for the channel layer)."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from streams.chat import services
from streams.chat.models import ChatMessage
from tests.chat.websockets import (
    closed_with,
    connect,
    event,
    frame,
    run,
    send,
    session_cookie,
)

# Database work in the consumer runs through Channels' database_sync_to_async, which closes
# "old" connections first: inside a test's transaction that closes the test's own.
pytestmark = pytest.mark.django_db(transaction=True)


def test_anonymous_reads_history_and_live_messages(room, talker):
    ChatMessage.objects.create(channel=room, author=talker, body="earlier")
    cookie = session_cookie(talker)

    async def scenario():
        reader = await connect("alice")
        writer = await connect("alice", cookie)
        welcome, history = reader.first
        await send(writer, "hello all", nonce="abc")
        ack = await event(writer, "ack")
        live = await event(reader, "message")
        await reader.disconnect()
        await writer.disconnect()
        return welcome, history, ack, live

    welcome, history, ack, live = async_result(scenario)

    assert welcome["me"] is None and welcome["can_send"] is False
    assert welcome["cannot_send"]["code"] == "login_required"
    assert welcome["settings"] == {
        "slow_mode_seconds": 0,
        "followers_only": False,
        "links_allowed": True,
    }
    assert welcome["max_length"] == 500
    assert [m["body"] for m in history["messages"]] == ["earlier"]
    assert ack["nonce"] == "abc"
    assert live["id"] == ack["id"] and live["body"] == "hello all"
    assert live["author"]["name"] == "bob" and live["author"]["color"].startswith("#")
    assert live["sent_at"].endswith("Z")


def async_result(scenario):
    box = []

    async def wrapper():
        box.append(await scenario())

    run(wrapper)
    return box[0]


def test_an_unknown_channel_is_closed_with_4404(db):
    async def scenario():
        client = await connect("nobody", welcome=False)
        return await closed_with(client)

    assert async_result(scenario) == 4404


def test_anonymous_and_unverified_users_get_an_error_on_send(room, charlie):
    cookie = session_cookie(charlie)

    async def scenario():
        anonymous = await connect("alice")
        unverified = await connect("alice", cookie)
        await send(anonymous, "hi", "a")
        await send(unverified, "hi", "u")
        results = await event(anonymous, "error"), await event(unverified, "error")
        welcome = unverified.first[0]
        await anonymous.disconnect()
        await unverified.disconnect()
        return results, welcome

    (anonymous_error, unverified_error), welcome = async_result(scenario)

    assert (anonymous_error["code"], anonymous_error["nonce"]) == ("login_required", "a")
    assert (unverified_error["code"], unverified_error["nonce"]) == ("unverified", "u")
    assert welcome["me"]["name"] == "charlie" and welcome["cannot_send"]["code"] == "unverified"
    assert not ChatMessage.objects.exists()


def test_rate_limit_duplicate_too_long_and_malformed_touch_only_the_sender(room, talker):
    cookie = session_cookie(talker)

    async def scenario():
        sender = await connect("alice", cookie)
        other = await connect("alice")
        errors = {}
        await send(sender, "x" * 501, "long")
        errors["too_long"] = await event(sender, "error")
        for raw in [
            "not json",
            json.dumps({"type": "shout"}),
            json.dumps({"type": "send"}),
            "x" * 9000,
        ]:
            await sender.send_to(text_data=raw)
            errors.setdefault("malformed", []).append(await event(sender, "error"))
        await send(sender, "same", "1")
        await event(sender, "ack")
        await send(sender, "same", "2")
        errors["duplicate"] = await event(sender, "error")
        await send(sender, "two", "3")
        await event(sender, "ack")
        await send(sender, "three", "4")
        await event(sender, "ack")
        await send(sender, "four", "5")
        errors["rate_limited"] = await event(sender, "error")
        await send(sender, "five", "6")
        errors["cool_down"] = await event(sender, "error")
        received = []
        while len(received) < 3:
            received += [m["body"] for m in await _messages(other)]
        await sender.disconnect()
        await other.disconnect()
        return errors, received

    errors, received = async_result(scenario)

    assert errors["too_long"]["code"] == "too_long"
    assert {e["code"] for e in errors["malformed"]} == {"malformed"}
    assert errors["duplicate"]["code"] == "duplicate"
    assert (errors["rate_limited"]["code"], errors["rate_limited"]["retry_after"]) == (
        "rate_limited",
        10,
    )
    assert errors["cool_down"]["code"] == "rate_limited"
    assert received == ["same", "two", "three"]
    assert ChatMessage.objects.count() == 3


async def _messages(client) -> list[dict]:
    """Messages of the next frame that carries any."""
    while True:
        messages = [e for e in await frame(client) if e["type"] == "message"]
        if messages:
            return messages


def test_a_moderator_deletes_and_everyone_sees_it(room, talker, alice):
    message = ChatMessage.objects.create(channel=room, author=talker, body="oops")

    async def scenario():
        viewer = await connect("alice")
        await sync_to_async(services.message_delete)(channel=room, message_id=message.pk, by=alice)
        deleted = await event(viewer, "deleted")
        await viewer.disconnect()
        return deleted

    assert async_result(scenario)["ids"] == [message.pk]


def test_a_timeout_reaches_only_the_user_and_refuses_their_sends_with_until(
    room, talker, other_talker, alice
):
    cookies = session_cookie(talker), session_cookie(other_talker)

    async def scenario():
        victim = await connect("alice", cookies[0])
        bystander = await connect("alice", cookies[1])
        await send(victim, "spam", "s")
        ack = await event(victim, "ack")
        await sync_to_async(services.restriction_create)(
            channel=room, user=talker, kind="timeout", seconds=600, by=alice, reason="calm down"
        )
        restriction = await event(victim, "restriction")
        deleted = await event(bystander, "deleted")
        await send(victim, "more", "m")
        refused = await event(victim, "error")
        await send(bystander, "fine", "f")
        await event(bystander, "ack")
        bystander_events = [e["type"] for e in await frame(bystander)]
        await victim.disconnect()
        await bystander.disconnect()
        return ack, restriction, deleted, refused, bystander_events

    ack, restriction, deleted, refused, bystander_events = async_result(scenario)

    assert restriction["kind"] == "timeout" and restriction["reason"] == "calm down"
    assert deleted["ids"] == [ack["id"]]
    assert refused["code"] == "timed_out" and refused["until"] == restriction["until"]
    assert "restriction" not in bystander_events


def test_redis_down_closes_clients_with_4503_and_a_new_connection_works_after(
    room, talker, redis_server
):
    cookie = session_cookie(talker)

    async def scenario():
        client = await connect("alice", cookie)
        redis_server.stop()
        code = await closed_with(client, timeout=20)
        redis_server.start()
        again = await connect("alice", cookie)
        listener = await connect("alice")
        await send(again, "back", "b")
        ack = await event(again, "ack")
        live = await event(listener, "message")
        await again.disconnect()
        await listener.disconnect()
        return code, ack, live

    code, ack, live = async_result(scenario)

    assert code == 4503
    assert live["id"] == ack["id"]


def test_a_message_stored_while_fan_out_failed_is_in_the_rest_history(room, talker, redis_server):
    before = ChatMessage.objects.create(channel=room, author=talker, body="before")
    redis_server.stop()

    services.message_send(channel=room, user=talker, body="during the outage")

    redis_server.start()
    response = Client().get(f"/api/channels/alice/chat/?after={before.pk}")
    assert [m["body"] for m in response.json()] == ["during the outage"]
