"""The chat's REST API: who may do what, what bad input answers, and the schema."""

import json

import pytest
from rest_framework.test import APIClient

from streams.chat import services
from streams.chat.models import ChatMessage, ChatModerator, ChatRestriction, ChatSettings
from tests.api.clients import with_session, with_token


@pytest.fixture(autouse=True)
def _api_settings(no_nginx):
    pass


@pytest.fixture
def message(room, talker) -> ChatMessage:
    return ChatMessage.objects.create(channel=room, author=talker, body="hello")


@pytest.fixture
def moderator(room, other_talker, alice) -> object:
    services.moderator_add(channel=room, user=other_talker, by=alice)
    return other_talker


BASE = "/api/channels/alice/chat"


def test_anyone_reads_the_history_and_after_fills_a_gap(room, talker, message):
    second = ChatMessage.objects.create(channel=room, author=talker, body="again")
    hidden = ChatMessage.objects.create(channel=room, author=talker, body="gone")
    services.message_delete(channel=room, message_id=hidden.pk, by=room.user)

    history = APIClient().get(f"{BASE}/")
    gap = APIClient().get(f"{BASE}/?after={message.pk}")

    assert history.status_code == 200
    assert [m["body"] for m in history.json()] == ["hello", "again"]
    assert [m["id"] for m in gap.json()] == [second.pk]
    assert history.json()[0]["author"]["name"] == "bob"


@pytest.mark.parametrize("after", ["x", "-1", "1.5"])
def test_a_bad_after_is_a_400_saying_why(room, after):
    response = APIClient().get(f"{BASE}/?after={after}")

    assert response.status_code == 400
    assert response.json() == {"after": "after must be a message id (a whole number)."}


def test_an_unknown_channel_is_a_404(db):
    assert APIClient().get("/api/channels/nobody/chat/").status_code == 404


def test_deleting_a_message_needs_a_moderator(message, alice, moderator, talker, staff):
    url = f"{BASE}/messages/{message.pk}/"

    assert APIClient().delete(url).status_code == 401
    refused = with_session(talker).delete(url)
    assert refused.status_code == 403
    assert "moderators" in refused.json()["detail"]
    message.refresh_from_db()
    assert message.deleted_at is None

    assert with_session(moderator).delete(url).status_code == 204
    assert with_session(alice).delete(url).status_code == 204
    assert with_session(staff).delete(url).status_code == 204
    message.refresh_from_db()
    assert message.deleted_by == moderator
    assert with_session(alice).delete(f"{BASE}/messages/999999/").status_code == 400


def test_a_moderator_times_out_and_lifts(room, moderator, talker):
    client = with_session(moderator)

    response = client.post(
        f"{BASE}/restrictions/", {"user": "bob", "kind": "timeout", "seconds": 600, "reason": "spam"}
    )
    listed = client.get(f"{BASE}/restrictions/")
    lifted = client.delete(f"{BASE}/restrictions/bob/")
    again = client.delete(f"{BASE}/restrictions/bob/")

    assert response.status_code == 201
    assert response.json()["kind"] == "timeout" and response.json()["created_by"] == "charlie"
    assert [r["user"] for r in listed.json()] == ["bob"]
    assert lifted.status_code == 204
    assert again.status_code == 404
    assert not ChatRestriction.objects.active().exists()


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"user": "bob", "kind": "timeout"}, "seconds", "needs seconds"),
        ({"user": "bob", "kind": "timeout", "seconds": 30}, "seconds", "greater than or equal to 60"),
        ({"user": "bob", "kind": "ban", "seconds": 60}, "seconds", "no duration"),
        ({"user": "bob", "kind": "mute"}, "kind", "not a valid choice"),
        ({"user": "nobody", "kind": "ban"}, "user", "No user named"),
        ({"kind": "ban"}, "user", "required"),
    ],
)
def test_bad_restrictions_are_a_400_saying_why(room, talker, alice, body, field, words):
    response = with_session(alice).post(f"{BASE}/restrictions/", body, format="json")

    assert response.status_code == 400
    assert words in json.dumps(response.json()[field])
    assert not ChatRestriction.objects.exists()


def test_viewers_and_anonymous_cannot_restrict(room, talker, other_talker):
    body = {"user": "charlie", "kind": "ban"}

    assert APIClient().post(f"{BASE}/restrictions/", body).status_code == 401
    assert with_session(talker).post(f"{BASE}/restrictions/", body).status_code == 403
    assert with_session(talker).get(f"{BASE}/restrictions/").status_code == 403
    assert not ChatRestriction.objects.exists()


def test_the_streamer_cannot_be_banned_in_their_own_chat(room, alice, staff):
    response = with_session(staff).post(f"{BASE}/restrictions/", {"user": "alice", "kind": "ban"})

    assert response.status_code == 400
    assert response.json() == {"detail": "The streamer and staff can't be restricted."}


def test_only_the_owner_manages_moderators(room, alice, talker, other_talker, staff, verified):
    verified(alice)
    owner = with_token(alice)

    appointed = owner.post(f"{BASE}/moderators/", {"user": "bob"})
    listed = owner.get(f"{BASE}/moderators/")
    by_moderator = with_session(talker).post(f"{BASE}/moderators/", {"user": "charlie"})
    seen_by_moderator = with_session(talker).get(f"{BASE}/moderators/")
    unknown = owner.post(f"{BASE}/moderators/", {"user": "nobody"})
    removed = owner.delete(f"{BASE}/moderators/bob/")
    missing = owner.delete(f"{BASE}/moderators/bob/")

    assert appointed.status_code == 201 and appointed.json()["user"] == "bob"
    assert [m["user"] for m in listed.json()] == ["bob"]
    assert by_moderator.status_code == 403 and seen_by_moderator.status_code == 403
    assert unknown.status_code == 400 and "No user named" in unknown.json()["user"][0]
    assert removed.status_code == 204 and missing.status_code == 404
    assert not ChatModerator.objects.exists()
    assert with_session(staff).post(f"{BASE}/moderators/", {"user": "charlie"}).status_code == 201


def test_settings_are_public_and_changed_by_the_streamer_and_moderators(
    room, alice, moderator, talker
):
    assert APIClient().get(f"{BASE}/settings/").json() == {
        "slow_mode_seconds": 0,
        "followers_only": False,
        "links_allowed": True,
    }

    changed = with_session(moderator).patch(f"{BASE}/settings/", {"slow_mode_seconds": 30})
    refused = with_session(talker).patch(f"{BASE}/settings/", {"followers_only": True})
    anonymous = APIClient().patch(f"{BASE}/settings/", {"followers_only": True})
    too_slow = with_session(alice).patch(f"{BASE}/settings/", {"slow_mode_seconds": 121})
    empty = with_session(alice).patch(f"{BASE}/settings/", {}, format="json")

    assert changed.status_code == 200 and changed.json()["slow_mode_seconds"] == 30
    assert refused.status_code == 403 and anonymous.status_code == 401
    assert too_slow.status_code == 400 and "slow_mode_seconds" in too_slow.json()
    assert empty.status_code == 400
    settings = ChatSettings.objects.get(channel=room)
    assert (settings.slow_mode_seconds, settings.followers_only) == (30, False)


def test_session_writes_need_the_csrf_token(room, alice, message):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.delete(f"{BASE}/messages/{message.pk}/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


CHAT_PATHS = {
    "/api/channels/{username}/chat/": {"get"},
    "/api/channels/{username}/chat/messages/{id}/": {"delete"},
    "/api/channels/{username}/chat/restrictions/": {"get", "post"},
    "/api/channels/{username}/chat/restrictions/{user}/": {"delete"},
    "/api/channels/{username}/chat/moderators/": {"get", "post"},
    "/api/channels/{username}/chat/moderators/{user}/": {"delete"},
    "/api/channels/{username}/chat/settings/": {"get", "patch"},
}


def test_the_schema_lists_every_chat_path_with_its_bodies(db, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    schema = APIClient().get("/api/schema/?format=json").json()

    for path, methods in CHAT_PATHS.items():
        assert set(schema["paths"][path]) == methods, path
    components = schema["components"]["schemas"]
    assert {"ChatMessage", "ChatAuthor", "RestrictionCreateRequest", "Restriction"} <= set(components)
    assert set(components["ChatMessage"]["properties"]) == {"id", "author", "body", "sent_at"}
