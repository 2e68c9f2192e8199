"""The REST API under /api/: what each endpoint shows, to whom, and how it fails."""

import json
import re
from datetime import timedelta

import pytest
import yaml
from allauth.account.models import EmailAddress
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.pagination import PageNumberPagination
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.models import User
from streams import selectors, services
from streams.models import Broadcast, Channel, Follow
from streams.social import services as social_services
from streams.social import viewers


@pytest.fixture(autouse=True)
def _no_nginx_and_plain_static(settings, tmp_path, monkeypatch):
    # Key rotation drops the publisher through nginx: here that fails at once.
    settings.ECHO_NGINX_CONTROL_URL = "http://127.0.0.1:9"
    settings.ECHO_VIEWERS_PATH = tmp_path / "viewers"
    monkeypatch.setattr(viewers, "COUNT_CACHE_SECONDS", 0)
    # The docs page links static files; the manifest storage would need collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user(
        "alice", "alice@example.org", "password", display_name="Alice A.", bio="Parsers, live."
    )


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


def go_live(user: User, *, minutes_ago: int = 0) -> Broadcast:
    channel = user.channel
    return Broadcast.objects.create(
        channel=channel,
        title=channel.title,
        category=channel.category,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def with_session(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def with_token(user: User) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def verified(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def names(response) -> list[str]:
    return [channel["name"] for channel in response.json()["results"]]


# --- live channels -----------------------------------------------------------


def test_the_live_list_is_empty_when_nobody_is_live(anonymous, alice):
    response = anonymous.get("/api/channels/live/")

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_live_list_shows_live_channels_most_recent_first(anonymous, alice, bob, charlie, games):
    Channel.objects.filter(user=alice).update(title="Writing a parser", category=games)
    broadcast = go_live(alice, minutes_ago=30)
    go_live(bob, minutes_ago=5)

    response = anonymous.get("/api/channels/live/")

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert names(response) == ["bob", "alice"]
    assert response.json()["results"][1] == {
        "name": "alice",
        "display_name": "Alice A.",
        "bio": "Parsers, live.",
        "title": "Writing a parser",
        "category": "games",
        "category_name": "Games",
        "live": True,
        "started_at": broadcast.started_at.isoformat().replace("+00:00", "Z"),
        "viewers": 0,
        "follower_count": 0,
        "hls_url": "http://testserver/hls/alice.m3u8",
        "url": "http://testserver/alice",
    }


def test_the_live_list_leaves_out_ended_broadcasts(anonymous, alice):
    broadcast = go_live(alice)
    Broadcast.objects.filter(pk=broadcast.pk).update(ended_at=timezone.now())

    response = anonymous.get("/api/channels/live/")

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_the_live_list_filters_by_category_slug(anonymous, alice, bob, charlie, games, music):
    Channel.objects.filter(user__in=[alice, charlie]).update(category=games)
    Channel.objects.filter(user=bob).update(category=music)
    for user in (alice, bob, charlie):
        go_live(user)

    assert sorted(names(anonymous.get("/api/channels/live/?category=games"))) == [
        "alice",
        "charlie",
    ]
    assert names(anonymous.get("/api/channels/live/?category=music")) == ["bob"]
    assert names(anonymous.get("/api/channels/live/?category=cooking")) == []


def test_the_live_list_is_paginated(anonymous, alice, bob, charlie, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    go_live(alice, minutes_ago=3)
    go_live(bob, minutes_ago=2)
    go_live(charlie, minutes_ago=1)

    first = anonymous.get("/api/channels/live/")
    second = anonymous.get(first.json()["next"])
    beyond = anonymous.get("/api/channels/live/?page=9")

    assert first.status_code == 200
    assert first.json()["count"] == 3
    assert names(first) == ["charlie", "bob"]
    assert first.json()["next"] == "http://testserver/api/channels/live/?page=2"
    assert second.status_code == 200
    assert names(second) == ["alice"]
    assert second.json()["next"] is None
    assert beyond.status_code == 404
    assert beyond["Content-Type"] == "application/json"
    assert "detail" in beyond.json()


def test_the_live_list_takes_the_same_queries_for_one_channel_or_many(
    anonymous, alice, bob, charlie, games
):
    Channel.objects.update(category=games)
    go_live(alice)
    with CaptureQueriesContext(connection) as one:
        assert anonymous.get("/api/channels/live/").json()["count"] == 1
    go_live(bob)
    go_live(charlie)
    with CaptureQueriesContext(connection) as three:
        assert anonymous.get("/api/channels/live/").json()["count"] == 3

    assert len(three) == len(one)


def test_the_category_list_gives_slugs_and_names(anonymous, games, music):
    response = anonymous.get("/api/categories/")

    assert response.status_code == 200
    assert response.json() == [
        {"slug": "games", "name": "Games"},
        {"slug": "music", "name": "Music"},
    ]


# --- channel detail ----------------------------------------------------------


def test_channel_detail_shows_an_offline_channel(anonymous, alice):
    Channel.objects.filter(user=alice).update(title="Back tomorrow")
    ended = go_live(alice, minutes_ago=60)
    Broadcast.objects.filter(pk=ended.pk).update(ended_at=timezone.now())

    response = anonymous.get("/api/channels/alice/")

    assert response.status_code == 200
    data = response.json()
    assert data["name"] == "alice"
    assert data["display_name"] == "Alice A."
    assert data["bio"] == "Parsers, live."
    assert data["title"] == "Back tomorrow"
    assert data["live"] is False
    assert data["started_at"] is None
    assert data["category"] is None and data["category_name"] is None
    assert data["hls_url"] == "http://testserver/hls/alice.m3u8"


def test_channel_detail_shows_a_live_channel(anonymous, bob, games):
    Channel.objects.filter(user=bob).update(title="Speedrun", category=games)
    broadcast = go_live(bob, minutes_ago=7)

    response = anonymous.get("/api/channels/bob/")

    assert response.status_code == 200
    data = response.json()
    assert data["live"] is True
    assert data["started_at"] == broadcast.started_at.isoformat().replace("+00:00", "Z")
    assert data["title"] == "Speedrun"
    assert data["category"] == "games"
    # No display name set: the username stands in.
    assert data["display_name"] == "bob"


def test_channel_detail_counts_the_viewers_of_a_live_channel(anonymous, alice, bob):
    go_live(alice)
    for viewer in ("a" * 32, "b" * 32):
        viewers.viewer_seen("alice", viewer_id=viewer, client="192.0.2.1")
    # bob is offline: a leftover heartbeat does not make him watched.
    viewers.viewer_seen("bob", viewer_id="c" * 32, client="192.0.2.1")

    assert anonymous.get("/api/channels/alice/").json()["viewers"] == 2
    assert anonymous.get("/api/channels/live/").json()["results"][0]["viewers"] == 2
    assert anonymous.get("/api/channels/bob/").json()["viewers"] == 0


def test_channel_detail_is_a_json_404_for_an_unknown_channel(anonymous, alice):
    response = anonymous.get("/api/channels/nobody/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No Channel matches the given query."}


def test_the_stream_key_is_in_no_public_response_even_to_its_owner(anonymous, alice, bob):
    go_live(alice)
    key = alice.channel.stream_key

    for client in (anonymous, with_session(alice), with_token(alice), with_token(bob)):
        live = client.get("/api/channels/live/")
        detail = client.get("/api/channels/alice/")
        assert live.status_code == detail.status_code == 200
        for channel in (*live.json()["results"], detail.json()):
            assert "stream_key" not in channel
            assert key not in json.dumps(channel)
        assert key not in client.get("/api/schema/").content.decode()


def test_no_email_address_appears_in_any_response(alice, bob):
    go_live(alice)
    go_live(bob)
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=bob, channel=alice.channel)
    client = with_token(alice)

    for url in (
        "/api/channels/live/",
        "/api/channels/alice/",
        "/api/channels/bob/",
        "/api/channels/bob/follow/",
        "/api/me/following/",
        "/api/me/channel/",
        "/api/me/token/",
        "/api/categories/",
        "/api/schema/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "@example.org" not in response.content.decode(), url
    response = client.post("/api/me/channel/rotate-key/")
    assert "@example.org" not in response.content.decode()
    assert "email" not in response.json()


# --- the logged-in user's channel ----------------------------------------------


def test_my_channel_requires_authentication(anonymous, alice):
    response = anonymous.get("/api/me/channel/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_wrong_token_is_refused(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.get("/api/me/channel/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_my_channel_shows_the_owners_key_and_rtmp_server(alice, settings):
    settings.ECHO_RTMP_PUBLIC_URL = "rtmp://live.example.org/ingest"

    response = with_session(alice).get("/api/me/channel/")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    data = response.json()
    assert data["name"] == "alice"
    assert data["stream_key"] == alice.channel.stream_key
    assert data["rtmp_url"] == "rtmp://live.example.org/ingest"
    assert data["live"] is False


def test_my_channel_works_with_a_token(bob):
    response = with_token(bob).get("/api/me/channel/")

    assert response.status_code == 200
    assert response.json()["name"] == "bob"
    assert response.json()["stream_key"] == bob.channel.stream_key


def test_my_channel_never_shows_another_users_key(alice, bob):
    for client in (with_session(alice), with_token(alice)):
        page = client.get("/api/me/channel/").content.decode()
        assert alice.channel.stream_key in page
        assert bob.channel.stream_key not in page


def test_my_channel_is_a_json_404_for_a_user_without_one_and_is_not_made(charlie):
    Channel.objects.filter(user=charlie).delete()

    response = with_session(charlie).get("/api/me/channel/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Channel matches the given query."}
    assert not Channel.objects.filter(user=charlie).exists()


def test_patch_changes_the_title_and_category(alice, games):
    response = with_token(alice).patch(
        "/api/me/channel/", {"title": "Speedrunning", "category": "games"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Speedrunning"
    assert response.json()["category"] == "games"
    alice.channel.refresh_from_db()
    assert alice.channel.title == "Speedrunning"
    assert alice.channel.category == games


def test_patch_changes_only_the_fields_it_is_given(alice, games):
    Channel.objects.filter(user=alice).update(title="Old title", category=games)

    response = with_session(alice).patch("/api/me/channel/", {"category": None}, format="json")

    assert response.status_code == 200
    alice.channel.refresh_from_db()
    assert alice.channel.category is None
    assert alice.channel.title == "Old title"


def test_patch_rejects_a_too_long_title_and_an_unknown_category(alice):
    response = with_session(alice).patch(
        "/api/me/channel/", {"title": "x" * 141, "category": "cooking"}, format="json"
    )

    assert response.status_code == 400
    errors = response.json()
    assert errors["title"] == ["Ensure this field has no more than 140 characters."]
    assert errors["category"] == ["Object with slug=cooking does not exist."]
    alice.channel.refresh_from_db()
    assert alice.channel.title == ""


def test_patch_cannot_change_the_stream_key_or_the_ban(alice):
    old_key = alice.channel.stream_key

    response = with_session(alice).patch(
        "/api/me/channel/",
        {"title": "t", "stream_key": "live_attacker", "streaming_banned": True, "name": "eve"},
        format="json",
    )

    assert response.status_code == 200
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key
    assert alice.channel.streaming_banned is False
    assert alice.channel.user.username == "alice"


def test_patch_keeps_a_key_rotated_since_the_channel_was_read(alice, monkeypatch):
    stale = selectors.channel_of_user

    def read_then_rotate(*, user):
        channel = stale(user=user)
        services.stream_key_rotate(channel=channel)
        return channel

    monkeypatch.setattr(selectors, "channel_of_user", read_then_rotate)

    response = with_session(alice).patch("/api/me/channel/", {"title": "t"}, format="json")

    assert response.status_code == 200
    rotated_key = Channel.objects.get(user=alice).stream_key
    assert rotated_key != alice.channel.stream_key
    assert Channel.objects.with_key(rotated_key).exists()


def test_patch_requires_authentication(anonymous, alice):
    response = anonymous.patch("/api/me/channel/", {"title": "hacked"}, format="json")

    assert response.status_code == 401
    alice.channel.refresh_from_db()
    assert alice.channel.title == ""


def test_a_session_patch_without_the_csrf_token_is_refused(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.patch("/api/me/channel/", {"title": "forged"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    alice.channel.refresh_from_db()
    assert alice.channel.title == ""


def test_put_is_not_allowed_on_my_channel(alice):
    response = with_session(alice).put("/api/me/channel/", {"title": "t"}, format="json")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}


# --- rotate key ----------------------------------------------------------------


def test_rotate_key_replaces_the_key_and_ends_the_live_broadcast(
    alice, django_capture_on_commit_callbacks
):
    old_key = alice.channel.stream_key
    broadcast = services.broadcast_start(key=old_key, client_id="1")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = with_token(alice).post("/api/me/channel/rotate-key/")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert len(callbacks) == 1  # the nginx drop of the publisher
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key != old_key
    assert response.json()["stream_key"] == alice.channel.stream_key
    assert response.json()["live"] is False
    assert not Channel.objects.with_key(old_key).exists()
    broadcast.refresh_from_db()
    assert broadcast.ended_at is not None
    assert broadcast.end_reason == Broadcast.EndReason.KEY_ROTATED


def test_rotate_key_requires_authentication(anonymous, alice):
    old_key = alice.channel.stream_key

    response = anonymous.post("/api/me/channel/rotate-key/")

    assert response.status_code == 401
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key


def test_rotate_key_refuses_get(alice):
    old_key = alice.channel.stream_key

    response = with_session(alice).get("/api/me/channel/rotate-key/")

    assert response.status_code == 405
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key


def test_rotate_key_changes_only_the_users_own_key(alice, bob):
    bobs_key = bob.channel.stream_key

    response = with_session(alice).post("/api/me/channel/rotate-key/")

    assert response.status_code == 200
    bob.channel.refresh_from_db()
    assert bob.channel.stream_key == bobs_key


# --- follows -------------------------------------------------------------------


def test_following_requires_authentication(anonymous, bob):
    for method in ("get", "post", "patch", "delete"):
        response = getattr(anonymous, method)("/api/channels/bob/follow/")
        assert response.status_code == 401, method
    assert anonymous.get("/api/me/following/").status_code == 401
    assert not Follow.objects.exists()


def test_a_user_follows_a_channel_once(alice, bob):
    client = with_token(alice)

    response = client.post("/api/channels/bob/follow/")
    again = client.post("/api/channels/bob/follow/")

    assert response.status_code == 201
    data = response.json()
    assert data["name"] == "bob"
    assert data["follower_count"] == 1
    assert data["notify_by_email"] is True
    assert data["followed_at"]
    assert again.status_code == 200
    assert again.json()["follower_count"] == 1
    assert Follow.objects.get().user == alice


def test_a_user_cannot_follow_their_own_channel(alice):
    response = with_session(alice).post("/api/channels/alice/follow/")

    assert response.status_code == 400
    assert "your own channel" in response.json()["detail"]
    assert not Follow.objects.exists()


def test_following_an_unknown_channel_is_404(alice):
    response = with_session(alice).post("/api/channels/nobody/follow/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Channel matches the given query."}


def test_get_follow_says_whether_the_user_follows(alice, bob):
    client = with_session(alice)

    before = client.get("/api/channels/bob/follow/")
    social_services.channel_follow(user=alice, channel=bob.channel)
    after = client.get("/api/channels/bob/follow/")

    assert before.status_code == 404
    assert before.json() == {"detail": "You don't follow bob."}
    assert after.status_code == 200
    assert after.json()["name"] == "bob"


def test_patch_follow_turns_go_live_emails_off(alice, bob, charlie):
    social_services.channel_follow(user=alice, channel=bob.channel)
    client = with_session(alice)

    response = client.patch("/api/channels/bob/follow/", {"notify_by_email": False}, format="json")
    invalid = client.patch("/api/channels/bob/follow/", {}, format="json")
    not_following = client.patch(
        "/api/channels/charlie/follow/", {"notify_by_email": False}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["notify_by_email"] is False
    assert Follow.objects.get(user=alice).notify_by_email is False
    assert invalid.status_code == 400
    assert invalid.json() == {"notify_by_email": ["This field is required."]}
    assert not_following.status_code == 404


def test_a_user_unfollows_a_channel(alice, bob, charlie):
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=charlie, channel=bob.channel)
    client = with_token(alice)

    response = client.delete("/api/channels/bob/follow/")
    again = client.delete("/api/channels/bob/follow/")

    assert response.status_code == 204
    assert again.status_code == 204
    # charlie still follows.
    assert list(Follow.objects.values_list("user__username", flat=True)) == ["charlie"]


def test_channels_show_their_follower_count(anonymous, alice, bob, charlie):
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=charlie, channel=bob.channel)
    go_live(bob)

    assert anonymous.get("/api/channels/bob/").json()["follower_count"] == 2
    assert anonymous.get("/api/channels/live/").json()["results"][0]["follower_count"] == 2
    assert anonymous.get("/api/channels/alice/").json()["follower_count"] == 0


def test_followed_channels_list_live_ones_first(alice, bob, charlie):
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=alice, channel=charlie.channel)
    social_services.channel_follow(user=charlie, channel=bob.channel)
    go_live(charlie)

    response = with_token(alice).get("/api/me/following/")

    assert response.status_code == 200
    assert names(response) == ["charlie", "bob"]
    charlie_data, bob_data = response.json()["results"]
    assert charlie_data["live"] is True and bob_data["live"] is False
    # All of bob's followers, not only the user asking.
    assert bob_data["follower_count"] == 2
    assert names(with_token(bob).get("/api/me/following/")) == []


# --- tokens --------------------------------------------------------------------


def test_a_token_is_issued_for_the_right_password_and_works(anonymous, alice):
    verified(alice)

    response = anonymous.post(
        "/api/auth/token/", {"username": "alice", "password": "password"}, format="json"
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=alice).key == token
    # Asking again gives the same token.
    again = anonymous.post("/api/auth/token/", {"username": "alice", "password": "password"})
    assert again.json() == {"token": token}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/me/channel/").json()["name"] == "alice"


def test_a_stale_token_header_does_not_stop_getting_a_new_token(alice):
    verified(alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.post("/api/auth/token/", {"username": "alice", "password": "password"})

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=alice).key}


def test_no_token_for_a_wrong_password(anonymous, alice):
    verified(alice)

    response = anonymous.post(
        "/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.filter(user=alice).exists()


def test_no_token_without_username_and_password(anonymous, alice):
    response = anonymous.post("/api/auth/token/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }


def test_no_token_before_the_email_address_is_confirmed(anonymous, bob):
    response = anonymous.post("/api/auth/token/", {"username": "bob", "password": "password"})

    assert response.status_code == 400
    assert "Confirm your e-mail address" in response.json()["non_field_errors"][0]
    assert "bob@example.org" not in response.content.decode()
    assert not Token.objects.filter(user=bob).exists()


def test_no_token_for_a_deactivated_user(anonymous, charlie):
    verified(charlie)
    User.objects.filter(pk=charlie.pk).update(is_active=False)

    response = anonymous.post("/api/auth/token/", {"username": "charlie", "password": "password"})

    assert response.status_code == 400
    assert not Token.objects.filter(user=charlie).exists()


def test_a_deactivated_users_token_stops_working(charlie):
    client = with_token(charlie)
    User.objects.filter(pk=charlie.pk).update(is_active=False)

    response = client.get("/api/me/channel/")

    assert response.status_code == 401


def test_repeated_wrong_passwords_lock_the_username_out(anonymous, alice):
    verified(alice)
    for _ in range(5):
        response = anonymous.post("/api/auth/token/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 400

    response = anonymous.post("/api/auth/token/", {"username": "alice", "password": "password"})

    assert response.status_code == 429
    assert response.json() == {"detail": "Too many failed login attempts. Try again later."}
    assert not Token.objects.filter(user=alice).exists()


def test_my_token_can_be_seen_replaced_and_revoked(alice):
    client = with_session(alice)
    assert client.get("/api/me/token/").status_code == 404

    created = client.post("/api/me/token/")
    shown = client.get("/api/me/token/")
    replaced = client.post("/api/me/token/")

    assert created.status_code == 201
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    assert shown.json() == created.json()
    assert replaced.status_code == 201
    assert replaced.json()["token"] != created.json()["token"]
    assert Token.objects.get(user=alice).key == replaced.json()["token"]

    revoked = client.delete("/api/me/token/")

    assert revoked.status_code == 204
    assert not Token.objects.filter(user=alice).exists()


def test_a_revoked_token_stops_working(alice):
    client = with_token(alice)
    assert client.delete("/api/me/token/").status_code == 204

    response = client.get("/api/me/channel/")

    assert response.status_code == 401


def test_my_token_requires_authentication(anonymous, alice):
    assert anonymous.get("/api/me/token/").status_code == 401
    assert anonymous.post("/api/me/token/").status_code == 401
    assert anonymous.delete("/api/me/token/").status_code == 401


# --- throttling and errors ------------------------------------------------------


def test_anonymous_requests_are_throttled(anonymous, alice, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/minute", raising=False)

    statuses = [anonymous.get("/api/channels/alice/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = anonymous.get("/api/channels/live/")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert response.json()["detail"].startswith("Request was throttled.")


def test_anonymous_clients_are_told_apart_by_the_address_nginx_adds(alice, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "1/minute", raising=False)
    first = APIClient(HTTP_X_FORWARDED_FOR="10.0.0.1")
    second = APIClient(HTTP_X_FORWARDED_FOR="10.0.0.2")
    # A client's own X-Forwarded-For comes first; nginx appends the real address.
    spoofing = APIClient(HTTP_X_FORWARDED_FOR="10.0.0.9, 10.0.0.1")

    assert first.get("/api/channels/alice/").status_code == 200
    assert second.get("/api/channels/alice/").status_code == 200
    assert spoofing.get("/api/channels/alice/").status_code == 429


def test_logged_in_requests_are_throttled_per_user(alice, bob, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    alices = with_token(alice)

    statuses = [alices.get("/api/me/channel/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert with_session(bob).get("/api/me/channel/").status_code == 200


def test_unknown_api_paths_are_a_json_404(anonymous):
    response = anonymous.get("/api/nothing/here/")
    missing_slash = anonymous.post("/api/channels/live")

    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at /api/nothing/here/."}
    assert missing_slash.status_code == 404
    assert missing_slash["Content-Type"] == "application/json"
    assert missing_slash.json()["detail"].endswith("API paths end with a slash.")


def test_the_browsable_api_still_renders(alice):
    response = with_session(alice).get("/api/channels/live/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Live Channel List" in response.content.decode()


# --- schema and docs --------------------------------------------------------------

API_PATHS = {
    "/api/categories/",
    "/api/channels/live/",
    "/api/channels/{username}/",
    "/api/channels/{username}/follow/",
    "/api/me/following/",
    "/api/me/channel/",
    "/api/me/channel/rotate-key/",
    "/api/me/token/",
    "/api/auth/token/",
}


def test_the_schema_is_openapi_3_json_listing_every_path(anonymous, db):
    response = anonymous.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert API_PATHS <= set(schema["paths"])
    assert set(schema["paths"]["/api/me/channel/"]) == {"get", "patch"}
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_the_schema_is_openapi_3_yaml_by_default(anonymous, db):
    response = anonymous.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert API_PATHS <= set(schema["paths"])


def test_the_docs_page_uses_only_local_static_files(anonymous, db):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "/api/schema/" in page
    for url in re.findall(r"""https?://[^\s"'<>]+""", page):
        assert url.startswith("http://testserver/"), url
    assets = re.findall(r"""(?:src|href)="/static/([^"]+)""", page)
    assert len(assets) >= 3
    for asset in assets:
        assert finders.find(asset), asset
