"""The rate limits the README promises, as configured in echo/settings.py: nothing here
patches a rate. Requests reach Django the way nginx passes them on, with the client's
address appended to X-Forwarded-For."""

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import User
from streams.media import callbacks
from streams.models import Broadcast
from tests.callbacks import publish

pytestmark = [pytest.mark.django_db]

PASSWORD = "correct-horse-battery"
ATTACKER = "203.0.113.66"


@pytest.fixture(autouse=True)
def _fresh_limits(callbacks_from_nginx):
    # Every limit counts in Django's cache: a test must not inherit another's counts.
    cache.clear()
    yield
    cache.clear()


def from_address(address: str) -> Client:
    return Client(HTTP_X_FORWARDED_FOR=address)


def verified_user(username: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- log in, sign up, password reset (ACCOUNT_RATE_LIMITS) ----------------------


def test_the_configured_account_limits_are_the_ones_tested_here():
    limits = django_settings.ACCOUNT_RATE_LIMITS
    assert limits["login_failed"] == "10/m/ip,5/5m/key"
    assert limits["signup"] == "20/m/ip"
    assert limits["reset_password"] == "20/m/ip,5/m/key"


@pytest.mark.django_db
def test_password_spraying_from_one_address_is_stopped_after_10_failures():
    users = [verified_user(f"user{number}") for number in range(11)]
    sprayer = from_address(ATTACKER)
    for user in users[:10]:
        response = sprayer.post(reverse("account_login"), {"login": user.username, "password": "x"})
        assert b"The username and/or password" in response.content

    # The right password for an account never tried: still refused from this address.
    response = sprayer.post(
        reverse("account_login"), {"login": users[10].username, "password": PASSWORD}
    )
    assert b"Too many failed login attempts" in response.content
    assert not logged_in(sprayer)

    # Another address is not affected.
    other = from_address("198.51.100.20")
    other.post(reverse("account_login"), {"login": users[10].username, "password": PASSWORD})
    assert logged_in(other)


@pytest.mark.django_db
def test_nine_failures_from_one_address_do_not_lock_it():
    users = [verified_user(f"user{number}") for number in range(10)]
    client = from_address(ATTACKER)
    for user in users[:9]:
        client.post(reverse("account_login"), {"login": user.username, "password": "x"})
    client.post(reverse("account_login"), {"login": users[9].username, "password": PASSWORD})
    assert logged_in(client)


def sign_up(client: Client, number: int):
    return client.post(
        reverse("account_signup"),
        {
            "username": f"newcomer{number}",
            "email": f"newcomer{number}@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


@pytest.mark.django_db
def test_the_21st_sign_up_in_a_minute_from_one_address_is_refused(mailoutbox):
    client = from_address(ATTACKER)
    for number in range(20):
        assert sign_up(client, number).status_code == 302
        client.logout()
    assert User.objects.filter(username__startswith="newcomer").count() == 20

    response = sign_up(client, 20)
    assert response.status_code == 429
    assert not User.objects.filter(username="newcomer20").exists()
    assert sign_up(from_address("198.51.100.20"), 21).status_code == 302


@pytest.mark.django_db
def test_the_sixth_password_reset_for_one_address_in_a_minute_is_refused(mailoutbox):
    verified_user("alice")
    client = from_address(ATTACKER)
    for _ in range(5):
        response = client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
        assert response.status_code == 302
    assert len(mailoutbox) == 5

    response = client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    assert response.status_code == 429
    assert len(mailoutbox) == 5


@pytest.mark.django_db
def test_the_21st_password_reset_from_one_address_in_a_minute_is_refused(mailoutbox):
    client = from_address(ATTACKER)
    for number in range(20):
        response = client.post(
            reverse("account_reset_password"), {"email": f"someone{number}@example.com"}
        )
        assert response.status_code == 302
    response = client.post(reverse("account_reset_password"), {"email": "more@example.com"})
    assert response.status_code == 429


# --- the API (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES) -------------------------------


def per_minute(scope: str) -> int:
    rate = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]
    number, period = rate.split("/")
    assert period == "minute"
    return int(number)


def test_the_api_rates_are_the_readmes():
    assert (per_minute("anon"), per_minute("user")) == (120, 600)


@pytest.mark.django_db
def test_the_121st_anonymous_api_request_in_a_minute_is_throttled():
    client = from_address(ATTACKER)
    allowed = per_minute("anon")
    statuses = [client.get("/api/channels/live/").status_code for _ in range(allowed)]
    assert statuses == [200] * allowed

    response = client.get("/api/channels/live/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_the_601st_logged_in_api_request_in_a_minute_is_throttled():
    alice = verified_user("alice")
    client = from_address(ATTACKER)
    client.force_login(alice)
    allowed = per_minute("user")
    statuses = [client.get("/api/me/channel/").status_code for _ in range(allowed)]
    assert statuses == [200] * allowed

    assert client.get("/api/me/channel/").status_code == 429
    # Per user, not per address: someone else from the same address goes on.
    bob = from_address(ATTACKER)
    bob.force_login(verified_user("bob"))
    assert bob.get("/api/me/channel/").status_code == 200


# --- failed publishes (ECHO_RTMP_FAILED_PUBLISH_LIMIT / _WINDOW) ---------------------

GUESSER = "198.51.100.7"


def test_the_failed_publish_defaults_are_the_readmes():
    assert django_settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT == 10
    assert django_settings.ECHO_RTMP_FAILED_PUBLISH_WINDOW == 300


def guess(client: Client, attempt: int):
    return publish(client, f"live_guess{attempt}", addr=GUESSER)


def failure_keys(redis) -> list[bytes]:
    """This address's failure window and its count, as Redis holds them."""
    window = cache.make_key(callbacks._failures_key(GUESSER))
    return sorted(redis.scan_iter(match=f"{window}*"))


def failures_expire_in(redis) -> float:
    """Seconds until Redis forgets this address's failures (its window key's TTL)."""
    window = cache.make_key(callbacks._failures_key(GUESSER)).encode()
    assert window in failure_keys(redis)
    return redis.pttl(window) / 1000


def time_passes(redis, seconds: float) -> None:
    """As if `seconds` had gone by for this address's failures: every key's expiry moves
    closer, and a key whose time is up is gone, as Redis expires it."""
    for key in failure_keys(redis):
        left = redis.pttl(key) - int(seconds * 1000)
        if left > 0:
            redis.pexpire(key, left)
        else:
            redis.delete(key)


@pytest.mark.django_db
def test_the_11th_publish_after_10_unknown_keys_is_refused(client):
    for attempt in range(10):
        assert guess(client, attempt).status_code == 403
    assert guess(client, 10).status_code == 429
    assert publish(client, "live_guess11", addr="198.51.100.8").status_code == 403
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_a_known_key_from_a_locked_address_still_goes_live(client, alice):
    for attempt in range(10):
        guess(client, attempt)
    assert guess(client, 10).status_code == 429

    response = publish(client, alice.channel.stream_key, addr=GUESSER)
    assert response.status_code == 302
    assert alice.channel.broadcasts.get().is_live


@pytest.mark.django_db
def test_the_lock_lasts_the_window_and_then_lifts(client, redis_server):
    redis = redis_server.client()
    for attempt in range(10):
        guess(client, attempt)
    assert 290 <= failures_expire_in(redis) <= 300

    time_passes(redis, 298)
    assert guess(client, 10).status_code == 429
    time_passes(redis, 5)
    assert failure_keys(redis) == []
    assert guess(client, 11).status_code == 403  # counted afresh, not refused
    assert 290 <= failures_expire_in(redis) <= 300


@pytest.mark.django_db
def test_the_window_starts_at_the_first_failure_not_the_last(client, redis_server):
    # "10 failures in 5 minutes": failures spread over the window do not extend it.
    redis = redis_server.client()
    guess(client, 0)
    time_passes(redis, 200)
    for attempt in range(1, 10):
        guess(client, attempt)
    assert failures_expire_in(redis) <= 100
    assert guess(client, 10).status_code == 429

    time_passes(redis, 101)  # 301 s after the first failure
    assert guess(client, 11).status_code == 403
