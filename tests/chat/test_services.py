"""The chat's rules, through streams.chat.services (the consumer and the API call the same)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.chat import selectors, services
from streams.chat.models import ChatMessage, ChatModerator, ChatRestriction
from streams.chat.services import ChatDenied, ChatInvalid, ChatRefused
from streams.models import Follow


def refusal(**kwargs) -> ChatRefused:
    with pytest.raises(ChatRefused) as caught:
        services.message_send(**kwargs)
    return caught.value


def test_a_verified_user_sends_and_it_is_stored_with_the_live_broadcast(room, talker, go_live):
    broadcast = go_live(room.user)

    message = services.message_send(channel=room, user=talker, body="  hello  ")

    message.refresh_from_db()
    assert message.body == "hello"
    assert message.broadcast == broadcast
    assert selectors.message_list(room)[0]["body"] == "hello"


def test_it_refuses_anonymous_and_unverified_users(room, charlie):
    from django.contrib.auth.models import AnonymousUser

    assert refusal(channel=room, user=AnonymousUser(), body="hi").code == "login_required"
    assert refusal(channel=room, user=charlie, body="hi").code == "unverified"
    assert not ChatMessage.objects.exists()


def test_it_refuses_empty_and_too_long_bodies(room, talker):
    assert refusal(channel=room, user=talker, body="   ").code == "empty"
    assert refusal(channel=room, user=talker, body="x" * 501).code == "too_long"
    assert services.message_send(channel=room, user=talker, body="x" * 500)


def test_three_messages_per_two_seconds_then_a_ten_second_cool_down(room, talker):
    for n in range(3):
        services.message_send(channel=room, user=talker, body=f"m{n}")

    fourth = refusal(channel=room, user=talker, body="m3")
    fifth = refusal(channel=room, user=talker, body="m4")

    assert (fourth.code, fourth.retry_after) == ("rate_limited", 10)
    assert fifth.code == "rate_limited" and 9 <= fifth.retry_after <= 10
    assert ChatMessage.objects.count() == 3


def test_the_same_body_twice_within_thirty_seconds_is_a_duplicate(room, talker, redis_server):
    services.message_send(channel=room, user=talker, body="gg")

    assert refusal(channel=room, user=talker, body="gg").code == "duplicate"
    ttl = redis_server.client().ttl(f"chat:{room.pk}:{talker.pk}:last")
    assert 25 <= ttl <= 30


def test_slow_mode_spaces_viewers_but_not_moderators(room, talker, alice, verified):
    verified(alice)
    services.settings_update(channel=room, by=alice, slow_mode_seconds=30)
    services.message_send(channel=room, user=talker, body="one")

    slow = refusal(channel=room, user=talker, body="two")
    services.message_send(channel=room, user=alice, body="one")
    services.message_send(channel=room, user=alice, body="two")

    assert slow.code == "slow_mode" and 29 <= slow.retry_after <= 30


def test_followers_only_lets_followers_and_the_streamer_write(
    room, talker, other_talker, alice, verified
):
    verified(alice)
    services.settings_update(channel=room, by=alice, followers_only=True)
    Follow.objects.create(user=talker, channel=room)

    services.message_send(channel=room, user=talker, body="follower")
    services.message_send(channel=room, user=alice, body="streamer")
    assert refusal(channel=room, user=other_talker, body="x").code == "followers_only"


def test_links_can_be_refused_for_viewers(room, talker, alice, verified):
    verified(alice)
    services.settings_update(channel=room, by=alice, links_allowed=False)

    assert refusal(channel=room, user=talker, body="see example.com").code == "links"
    assert refusal(channel=room, user=talker, body="https://x.y/").code == "links"
    services.message_send(channel=room, user=talker, body="no link here.")
    services.message_send(channel=room, user=alice, body="https://echo.tv/")


def test_a_timeout_refuses_sends_until_it_ends_and_hides_recent_messages(room, talker, alice):
    message = services.message_send(channel=room, user=talker, body="spam")

    restriction = services.restriction_create(
        channel=room, user=talker, kind="timeout", seconds=60, by=alice, reason="spam"
    )

    refused = refusal(channel=room, user=talker, body="more")
    message.refresh_from_db()
    assert refused.code == "timed_out" and refused.until == restriction.until
    assert message.deleted_at is not None and message.deleted_by == alice
    assert selectors.message_list(room) == []
    ChatRestriction.objects.filter(pk=restriction.pk).update(until=timezone.now())
    services.message_send(channel=room, user=talker, body="back")


def test_a_ban_refuses_until_lifted(room, talker, alice):
    services.restriction_create(channel=room, user=talker, kind="ban", by=alice)
    assert refusal(channel=room, user=talker, body="hi").code == "banned"

    assert services.restriction_lift(channel=room, user=talker, by=alice) is True
    services.message_send(channel=room, user=talker, body="hi")
    assert services.restriction_lift(channel=room, user=talker, by=alice) is False


def test_a_new_restriction_replaces_the_active_one(room, talker, alice):
    services.restriction_create(channel=room, user=talker, kind="ban", by=alice)
    services.restriction_create(channel=room, user=talker, kind="timeout", seconds=60, by=alice)

    assert ChatRestriction.objects.active().filter(user=talker).count() == 1
    assert refusal(channel=room, user=talker, body="hi").code == "timed_out"


@pytest.mark.parametrize("seconds", [59, 86401, None, "60"])
def test_timeouts_last_60_seconds_to_a_day(room, talker, alice, seconds):
    with pytest.raises(ChatInvalid, match="60 to 86400"):
        services.restriction_create(
            channel=room, user=talker, kind="timeout", seconds=seconds, by=alice
        )


def test_only_moderators_moderate_and_moderators_cannot_restrict_each_other(
    room, talker, other_talker, alice, staff
):
    message = services.message_send(channel=room, user=talker, body="hi")
    with pytest.raises(ChatDenied):
        services.message_delete(channel=room, message_id=message.pk, by=other_talker)
    with pytest.raises(ChatDenied):
        services.moderator_add(channel=room, user=other_talker, by=talker)

    services.moderator_add(channel=room, user=talker, by=alice)
    services.moderator_add(channel=room, user=other_talker, by=alice)
    with pytest.raises(ChatDenied):
        services.restriction_create(channel=room, user=other_talker, kind="ban", by=talker)
    with pytest.raises(ChatInvalid):
        services.restriction_create(channel=room, user=alice, kind="ban", by=staff)
    assert services.message_delete(channel=room, message_id=message.pk, by=other_talker) is True
    assert services.message_delete(channel=room, message_id=message.pk, by=staff) is False
    assert ChatModerator.objects.filter(channel=room).count() == 2


def test_badges_name_the_streamer_moderators_and_staff(room, talker, alice, staff, verified):
    verified(alice)
    services.moderator_add(channel=room, user=talker, by=alice)
    for user in (alice, talker, staff):
        services.message_send(channel=room, user=user, body=f"I am {user}")

    badges = [m["author"]["badges"] for m in selectors.message_list(room)]

    assert badges == [["streamer"], ["moderator"], ["staff"]]


def test_history_is_the_last_fifty_and_after_fills_a_gap(room, talker):
    author = talker
    ChatMessage.objects.bulk_create(
        ChatMessage(channel=room, author=author, body=f"m{n}") for n in range(60)
    )
    ids = list(ChatMessage.objects.order_by("id").values_list("id", flat=True))

    history = selectors.message_list(room)
    gap = selectors.message_list(room, after=ids[54])

    assert [m["id"] for m in history] == ids[10:]
    assert [m["id"] for m in gap] == ids[55:]


def test_slow_mode_is_at_most_two_minutes(room, alice):
    with pytest.raises(ChatInvalid):
        services.settings_update(channel=room, by=alice, slow_mode_seconds=121)


def test_a_message_is_stored_when_redis_is_down(room, talker, redis_server):
    redis_server.stop()

    message = services.message_send(channel=room, user=talker, body="still here")

    assert selectors.message_list(room, after=message.pk - 1)[0]["body"] == "still here"


def test_old_messages_survive_a_timeout(room, talker, alice):
    old = ChatMessage.objects.create(
        channel=room, author=talker, body="old", created_at=timezone.now() - timedelta(hours=2)
    )
    services.restriction_create(channel=room, user=talker, kind="timeout", seconds=60, by=alice)
    old.refresh_from_db()
    assert old.deleted_at is None
