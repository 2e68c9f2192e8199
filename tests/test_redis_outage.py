"""Redis stopped (the real one of tests/redis.py, not a mock): the site keeps working and
every limit fails open, as the README's "Redis" section promises; Redis back, the limits
count again without a restart."""

import json
import logging

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

import echo.redis
from streams.api import throttles
from streams.models import Broadcast
from streams.social import viewers
from tests.callbacks import publish

PASSWORD = "correct-horse-battery"
GUESSER = "198.51.100.7"
VIEWER = "a" * 32

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    # A warning already given by an earlier test must not hide this test's.
    monkeypatch.setattr(echo.redis, "_outage", {"warned_at": float("-inf"), "unreported": 0})
    viewers.forget_all()
    yield
    viewers.forget_all()


@pytest.fixture
def password_user(alice, verified):
    alice.set_password(PASSWORD)
    alice.save()
    return verified(alice)


def log_in(client: Client, login: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": login, "password": password})


def beat(client: Client, channel: str = "alice", **fields):
    return client.post(
        f"/{channel}/viewers",
        json.dumps({"viewer": VIEWER, **fields}),
        content_type="application/json",
        HTTP_X_FORWARDED_FOR="192.0.2.1",
    )


def outage_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "echo.redis"]


def test_sessions_are_not_in_the_cache():
    # Losing Redis must not log everybody out.
    assert django_settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


def test_without_redis_the_cache_holds_nothing_and_raises_nothing(redis_server):
    cache.set("kept", 1)
    redis_server.stop()

    assert cache.get("kept") is None
    assert cache.get("kept", "default") == "default"
    assert cache.add("lock", True) is True  # allauth's lock: taken at once, no wait
    assert cache.set("other", 2) is None
    assert cache.get_many(["kept", "other"]) == {}
    assert cache.has_key("kept") is False
    assert cache.touch("kept") is False
    assert cache.delete("kept") is False
    with pytest.raises(ValueError):
        cache.incr("kept")

    redis_server.start()
    assert cache.add("back", 1) and cache.incr("back") == 2


def test_an_outage_is_one_warning_per_30_seconds_not_one_per_request(client, redis_server, caplog):
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="echo.redis"):
        for _ in range(20):
            cache.get("anything")
        [warning] = outage_warnings(caplog)
        assert "Redis does not answer" in warning

        echo.redis._outage["warned_at"] -= echo.redis.WARN_EVERY_SECONDS + 1
        cache.get("anything")

    first, second = outage_warnings(caplog)
    assert second.endswith("[20 failure(s) since the last warning]")


def test_pages_render_without_redis(client, alice, bob, go_live, logged_in, redis_server):
    go_live(alice)
    beat(client)
    assert "1 viewer<" in client.get("/").content.decode()
    redis_server.stop()

    directory = client.get("/")
    channel = client.get("/alice")
    status = client.get("/alice/status.json")
    dashboard = logged_in(alice).get(reverse("streams:dashboard"))

    assert directory.status_code == 200
    assert 'href="/alice"' in directory.content.decode()
    assert "viewer" not in directory.content.decode()  # unknown, not "0 viewers"
    assert channel.status_code == 200
    assert status.status_code == 200 and status.json()["live"] is True
    assert dashboard.status_code == 200


def test_heartbeats_answer_without_redis_and_count_again_when_it_is_back(
    client, alice, go_live, redis_server
):
    go_live(alice)
    redis_server.stop()

    response = beat(client)

    assert response.status_code == 200
    assert response.json() == {"live": True, "viewers": None}
    assert viewers.viewer_count("alice") is None

    redis_server.start()
    assert beat(client).json() == {"live": True, "viewers": 1}


def test_the_api_answers_without_redis(alice, go_live, redis_server):
    go_live(alice)
    redis_server.stop()

    response = Client().get("/api/channels/live/")

    assert response.status_code == 200
    [channel] = response.json()["results"]
    assert channel["name"] == "alice" and channel["viewers"] is None


def test_api_throttles_fail_open_without_redis_and_count_again(monkeypatch, redis_server):
    monkeypatch.setattr(throttles.AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    api = Client(HTTP_X_FORWARDED_FOR="192.0.2.50")
    redis_server.stop()

    assert [api.get("/api/channels/live/").status_code for _ in range(4)] == [200] * 4

    redis_server.start()
    assert [api.get("/api/channels/live/").status_code for _ in range(3)] == [200, 200, 429]


def test_right_keys_publish_and_wrong_keys_are_refused_without_redis(
    client, alice, callbacks_from_nginx, redis_server
):
    redis_server.stop()

    # The failed-publish limit fails open: wrong keys are refused, never locked out.
    statuses = {publish(client, f"live_guess{n}", addr=GUESSER).status_code for n in range(12)}
    right = publish(client, alice.channel.stream_key, addr=GUESSER)

    assert statuses == {403}
    assert right.status_code == 302
    assert Broadcast.objects.get().is_live

    redis_server.start()
    limit = django_settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT
    statuses = [publish(client, f"live_again{n}", addr=GUESSER).status_code for n in range(limit)]
    assert statuses == [403] * limit
    assert publish(client, "live_again-last", addr=GUESSER).status_code == 429


def test_login_works_without_redis_and_its_limit_counts_again(password_user, redis_server):
    client = Client(HTTP_X_FORWARDED_FOR="203.0.113.66")
    redis_server.stop()

    # allauth's login limits fail open: 5 failures per account lock nothing.
    for _ in range(6):
        assert b"The username and/or password" in log_in(client, "alice", "wrong").content
    response = log_in(client, "alice")

    assert response.status_code == 302
    assert "_auth_user_id" in client.session

    redis_server.start()
    client.logout()
    for _ in range(5):
        log_in(client, "alice", "wrong")
    assert b"Too many failed login attempts" in log_in(client, "alice").content
    assert "_auth_user_id" not in client.session
