"""Staff moderation in Django admin goes through streams/services.py."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from streams import services
from streams.models import Broadcast

STAFF_PASSWORD = "staff-password-for-tests"
MODERATION = {
    "channel": ["rotate_keys", "ban_from_streaming", "lift_streaming_ban"],
    "broadcast": ["end_now"],
}


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


# --- who may moderate -------------------------------------------------------------


def staff_with(client, *codenames: str) -> Client:
    user = User.objects.create_user("moderator", "mod@example.org", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


VIEW_ONLY = ("view_channel", "view_broadcast")
CHANGE = (*VIEW_ONLY, "change_channel", "change_broadcast")


def test_view_only_staff_are_offered_no_moderation_action(client, alice):
    viewer = staff_with(client, *VIEW_ONLY)
    services.broadcast_start(key=alice.channel.stream_key, client_id="3")

    for model, actions in MODERATION.items():
        response = viewer.get(f"/admin/streams/{model}/")
        assert response.status_code == 200
        page = response.content.decode()
        assert alice.channel.name in page  # the list itself is shown
        for action in actions:
            assert f'value="{action}"' not in page


def test_view_only_staff_cannot_moderate_with_a_forged_post(client, alice):
    viewer = staff_with(client, *VIEW_ONLY)
    old_key = alice.channel.stream_key
    broadcast = services.broadcast_start(key=old_key, client_id="3")

    for action in MODERATION["channel"]:
        assert admin_action(viewer, "channel", action, alice.channel.pk).status_code == 200
    assert admin_action(viewer, "broadcast", "end_now", broadcast.pk).status_code == 200

    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key
    assert not alice.channel.streaming_banned
    broadcast.refresh_from_db()
    assert broadcast.is_live


def test_staff_with_the_change_permission_can_moderate(client, alice):
    moderator = staff_with(client, *CHANGE)
    old_key = alice.channel.stream_key
    broadcast = services.broadcast_start(key=old_key, client_id="3")
    page = moderator.get("/admin/streams/channel/").content.decode()
    assert all(f'value="{action}"' in page for action in MODERATION["channel"])

    admin_action(moderator, "broadcast", "end_now", broadcast.pk)
    admin_action(moderator, "channel", "rotate_keys", alice.channel.pk)
    admin_action(moderator, "channel", "ban_from_streaming", alice.channel.pk)

    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.STAFF
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key != old_key
    assert alice.channel.streaming_banned
    admin_action(moderator, "channel", "lift_streaming_ban", alice.channel.pk)
    alice.channel.refresh_from_db()
    assert not alice.channel.streaming_banned


# --- the admin login and its rate limits --------------------------------------------


@pytest.fixture
def staffer(db) -> User:
    cache.clear()  # allauth counts attempts in the cache, which outlives the test database
    user = User.objects.create_superuser("boss", "boss@example.org", STAFF_PASSWORD)
    # Mandatory e-mail verification: an unverified address could not log in at all.
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    yield user
    cache.clear()


def from_address(address: str) -> Client:
    # As behind nginx (ECHO_TRUSTED_PROXIES=1): it connects from loopback, appends the client.
    return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=address)


def admin_login_url(client: Client) -> str:
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302, "the admin must not have a login form of its own"
    return response["Location"]


def log_in(client: Client, url: str, login: str, password: str):
    return client.post(url, {"login": login, "password": password})


def is_staff_session(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_the_admin_login_form_does_not_log_in(staffer):
    client = from_address("192.0.2.1")

    client.post("/admin/login/", {"username": "boss", "password": STAFF_PASSWORD})

    assert not is_staff_session(client)


def test_staff_log_in_through_the_admin_login(staffer):
    client = from_address("192.0.2.1")
    url = admin_login_url(client)

    response = log_in(client, url, "boss", STAFF_PASSWORD)

    assert response.status_code == 302
    assert is_staff_session(client)


def test_the_admin_login_refuses_the_right_password_after_15_wrong_ones(staffer):
    client = from_address("192.0.2.1")
    url = admin_login_url(client)
    for _ in range(15):
        log_in(client, url, "boss", "guess")

    response = log_in(client, url, "boss", STAFF_PASSWORD)

    assert b"Too many failed login attempts" in response.content
    assert not is_staff_session(client)


def test_the_admin_login_limit_is_per_username_across_addresses(staffer):
    # ACCOUNT_RATE_LIMITS["login_failed"]: 5 failures per 5 minutes for one login.
    for n in range(5):
        client = from_address(f"192.0.2.{n + 1}")
        log_in(client, admin_login_url(client), "boss", "guess")

    fresh = from_address("192.0.2.99")
    response = log_in(fresh, admin_login_url(fresh), "boss", STAFF_PASSWORD)

    assert b"Too many failed login attempts" in response.content
    assert not is_staff_session(fresh)


def test_the_admin_login_limit_is_per_address_across_usernames(staffer):
    # ACCOUNT_RATE_LIMITS["login_failed"]: 10 failures a minute from one address.
    guesser = from_address("192.0.2.1")
    url = admin_login_url(guesser)
    for n in range(10):
        log_in(guesser, url, f"someone{n}", "guess")

    response = log_in(guesser, url, "boss", STAFF_PASSWORD)
    assert b"Too many failed login attempts" in response.content
    assert not is_staff_session(guesser)

    elsewhere = from_address("192.0.2.2")
    log_in(elsewhere, admin_login_url(elsewhere), "boss", STAFF_PASSWORD)
    assert is_staff_session(elsewhere)
