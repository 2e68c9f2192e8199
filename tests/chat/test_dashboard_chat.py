"""The dashboard's chat section: the streamer appoints and removes moderators and lifts
timeouts and bans, always in their own channel; bad input gets a sentence, not a 500."""

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.chat.models import ChatModerator, ChatRestriction

pytestmark = pytest.mark.usefixtures("plain_static_storage", "no_nginx")

ADD = "/dashboard/chat/moderators/"


def follow(client, path: str, data: dict | None = None):
    return client.post(path, data or {}, follow=True)


def page_says(response, text: str) -> bool:
    return text in response.content.decode()


def test_the_streamer_appoints_a_moderator_by_name(alice, bob, logged_in):
    response = follow(logged_in(alice), ADD, {"username": "@bob "})

    assert response.redirect_chain[-1][0] == "/dashboard/#chat-moderators-heading"
    assert page_says(response, "bob now moderates your chat.")
    assert ChatModerator.objects.filter(channel=alice.channel, user=bob).exists()
    assert page_says(response, "/dashboard/chat/moderators/bob/remove")


def test_appointing_lands_in_the_appointers_own_channel_only(alice, bob, charlie, logged_in):
    follow(logged_in(bob), ADD, {"username": "charlie"})

    assert ChatModerator.objects.get(user=charlie).channel == bob.channel
    assert not ChatModerator.objects.filter(channel=alice.channel).exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "Type a username."),
        ("nobody-here", "No user named “nobody-here”."),
        ("alice", "The streamer moderates their own chat already."),
    ],
)
def test_a_bad_moderator_name_is_refused_with_a_sentence(alice, logged_in, name, says):
    response = follow(logged_in(alice), ADD, {"username": name})

    assert response.status_code == 200
    assert page_says(response, says)
    assert not ChatModerator.objects.exists()


def test_the_streamer_removes_a_moderator(alice, bob, logged_in):
    ChatModerator.objects.create(channel=alice.channel, user=bob)

    response = follow(logged_in(alice), "/dashboard/chat/moderators/bob/remove")

    assert page_says(response, "bob no longer moderates.")
    assert not ChatModerator.objects.exists()


def test_removing_someone_who_is_not_a_moderator_changes_nothing(alice, bob, logged_in):
    ChatModerator.objects.create(channel=bob.channel, user=alice)

    response = follow(logged_in(alice), "/dashboard/chat/moderators/bob/remove")

    assert page_says(response, "Nothing to change.")
    assert ChatModerator.objects.count() == 1


def test_the_dashboard_lists_active_restrictions_and_lifts_one(alice, bob, charlie, logged_in):
    now = timezone.now()
    ChatRestriction.objects.create(
        channel=alice.channel, user=bob, kind="timeout", until=now + timedelta(minutes=10)
    )
    ChatRestriction.objects.create(channel=alice.channel, user=charlie, kind="ban", reason="spam")
    ChatRestriction.objects.create(
        channel=alice.channel, user=charlie, kind="timeout", until=now - timedelta(minutes=1)
    )
    client = logged_in(alice)

    page = client.get("/dashboard/").content.decode()
    assert "@bob · timed out until" in page
    assert "@charlie · banned" in page and "(spam)" in page

    response = follow(client, "/dashboard/chat/restrictions/charlie/lift")
    assert page_says(response, "charlie may chat again.")
    assert not ChatRestriction.objects.active().filter(user=charlie).exists()
    assert ChatRestriction.objects.active().filter(user=bob).exists()


def test_the_chat_section_needs_a_logged_in_post(client, alice, logged_in):
    assert client.post(ADD, {"username": "bob"}).status_code == 302
    assert client.post(ADD, {"username": "bob"})["Location"].startswith("/accounts/login/")
    assert logged_in(alice).get(ADD).status_code == 405
    assert not ChatModerator.objects.exists()
