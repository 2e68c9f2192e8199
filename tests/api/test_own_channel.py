"""/api/me/channel/: your channel with its stream key, its settings, and key rotation."""

from rest_framework.test import APIClient

from streams import selectors, services
from streams.models import Broadcast, Channel
from tests.api.clients import with_session, with_token

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
