"""Viewer counts: player heartbeats into Redis, counts, limits, peak viewers, and what
happens when Redis does not answer."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from streams import services
from streams.models import Broadcast
from streams.social import viewers

ANNA = "a" * 32
BEN = "b" * 32
CLARA = "c" * 32


@pytest.fixture(autouse=True)
def _fresh_live_cache():
    viewers.forget_all()
    yield
    viewers.forget_all()


def beat(
    client: Client,
    channel: str = "alice",
    *,
    address: str = "192.0.2.1",
    headers: dict | None = None,
    **fields,
):
    body = {"viewer": ANNA, **fields}
    return client.post(
        f"/{channel}/viewers",
        json.dumps(body),
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=address,
    )


@pytest.fixture
def redis(redis_server):
    with redis_server.client() as client:
        yield client


def presence(redis, channel: str = "alice") -> dict[str, float]:
    """Viewer id -> last heartbeat (Redis time), as the channel's sorted set holds them."""
    members = redis.zrange(viewers.channel_key(channel), 0, -1, withscores=True)
    return {member.decode().split("-", 1)[1]: score for member, score in members}


def every_key(redis) -> list[str]:
    return sorted(key.decode() for key in redis.keys("echo:viewers:*"))


def test_a_heartbeat_counts_the_viewer_without_writing_to_the_database(client, alice, go_live):
    go_live(alice)

    with CaptureQueriesContext(connection) as queries:
        response = beat(client)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"live": True, "viewers": 1}
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert viewers.viewer_count("alice") == 1


def test_two_viewers_count_twice_and_a_repeated_heartbeat_once(client, alice, go_live, redis):
    go_live(alice)

    beat(client, viewer=ANNA)
    beat(client, viewer=ANNA)
    response = beat(client, viewer=BEN, address="198.51.100.7")

    assert response.status_code == 200
    assert response.json()["viewers"] == 2
    assert sorted(presence(redis)) == [ANNA, BEN]


def test_a_viewer_who_leaves_stops_counting_at_once(client, alice, go_live, redis):
    go_live(alice)
    beat(client, viewer=ANNA)
    beat(client, viewer=BEN)

    response = beat(client, viewer=ANNA, leaving=True)

    assert response.status_code == 200
    assert response.json()["viewers"] == 1
    assert viewers.viewer_count("alice") == 1
    assert list(presence(redis)) == [BEN]


def time_passes(redis, seconds: float, channel: str = "alice") -> None:
    """As if every viewer of the channel had last beaten `seconds` earlier."""
    for key in redis.keys(f"{viewers.channel_key(channel)}*"):
        for member, score in redis.zrange(key, 0, -1, withscores=True):
            redis.zadd(key, {member: score - seconds})


def test_a_viewer_silent_for_longer_than_the_timeout_is_no_longer_counted(
    client, alice, go_live, redis
):
    go_live(alice)
    beat(client, viewer=ANNA)
    time_passes(redis, viewers.VIEWER_TIMEOUT - 5)
    beat(client, viewer=BEN)
    assert viewers.viewer_count("alice") == 2

    time_passes(redis, 6)

    assert viewers.viewer_count("alice") == 1
    beat(client, viewer=BEN)
    assert list(presence(redis)) == [BEN]  # the next heartbeat trims the stale one


def test_presence_keys_expire_after_the_last_heartbeat(client, alice, go_live, redis):
    # Bounded memory: a channel nobody watches any more leaves nothing behind.
    go_live(alice)
    beat(client, viewer=ANNA)

    keys = every_key(redis)
    assert keys == [viewers.channel_key("alice"), *[k for k in keys if ":client:" in k]]
    assert len(keys) == 2
    for key in keys:
        assert 0 < redis.ttl(key) <= viewers.VIEWER_TIMEOUT


def test_counts_come_from_redis_not_from_one_process(alice, redis):
    # What another web server recorded is counted here at once.
    now = float(redis.time()[0])
    redis.zadd(
        viewers.channel_key("alice"), {f"0123456789ab-{ANNA}": now, f"ba9876543210-{BEN}": now}
    )

    assert viewers.viewer_count("alice") == 2
    assert viewers.viewer_counts(["alice", "bob", "../x"]) == {"alice": 2, "bob": 0, "../x": 0}


@pytest.mark.parametrize(
    "viewer_id",
    ["", "a" * 31, "a" * 33, "A" * 32, "../../etc/passwd" + "a" * 16, "g" * 32, 42, None, ["a"]],
)
def test_the_heartbeat_refuses_a_malformed_viewer_id(client, alice, viewer_id, go_live, redis):
    go_live(alice)

    response = beat(client, viewer=viewer_id)

    assert response.status_code == 400
    assert every_key(redis) == []


def test_the_heartbeat_refuses_a_body_that_is_not_json(client, alice, go_live, redis):
    go_live(alice)

    response = client.post(
        "/alice/viewers", {"viewer": ANNA}
    )  # a form, as a cross-site page could send

    assert response.status_code == 415
    assert every_key(redis) == []


def test_the_heartbeat_refuses_a_request_the_browser_labels_cross_site(
    client, alice, go_live, redis
):
    go_live(alice)

    response = beat(client, headers={"Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 403
    assert every_key(redis) == []


def test_the_heartbeat_needs_neither_login_nor_csrf_token(alice, go_live):
    go_live(alice)

    response = beat(Client(enforce_csrf_checks=True))

    assert response.status_code == 200


def test_the_heartbeat_refuses_get(client, alice, go_live):
    go_live(alice)

    response = client.get("/alice/viewers")

    assert response.status_code == 405


def test_an_offline_channel_counts_nobody(client, alice, bob, go_live, redis):
    go_live(bob)

    for channel in ("alice", "nobody", "x"):
        response = beat(client, channel)
        assert response.status_code == 404
        assert response.json() == {"live": False, "viewers": 0}
    assert every_key(redis) == []


def test_the_heartbeat_is_rate_limited_per_client_address(client, alice, monkeypatch, go_live):
    monkeypatch.setattr(viewers, "HEARTBEATS_PER_MINUTE", 3)
    go_live(alice)

    statuses = [beat(client, address="192.0.2.1").status_code for _ in range(4)]
    other = beat(client, address="192.0.2.2")

    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200


def test_one_client_address_counts_a_limited_number_of_viewers(client, alice, monkeypatch, go_live):
    monkeypatch.setattr(viewers, "MAX_VIEWERS_PER_CLIENT", 2)
    go_live(alice)

    for viewer_id in (ANNA, BEN, CLARA):
        beat(client, viewer=viewer_id, address="192.0.2.1")
    beat(client, viewer=CLARA, address="192.0.2.2")

    assert viewers.viewer_count("alice") == 3


def test_a_forged_forwarded_address_does_not_escape_the_limit(client, alice, monkeypatch, go_live):
    monkeypatch.setattr(viewers, "MAX_VIEWERS_PER_CLIENT", 1)
    go_live(alice)

    # nginx appends the address it saw: only the last entry counts.
    beat(client, viewer=ANNA, address="10.0.0.1, 192.0.2.1")
    beat(client, viewer=BEN, address="10.0.0.2, 192.0.2.1")

    assert viewers.viewer_count("alice") == 1


def test_nginx_heartbeats_fold_the_peak_into_the_broadcast(client, alice, go_live):
    broadcast = go_live(alice)
    for viewer_id in (ANNA, BEN, CLARA):
        beat(client, viewer=viewer_id)

    assert services.broadcast_heartbeat(key=alice.channel.stream_key, client_id="7")
    broadcast.refresh_from_db()
    assert broadcast.peak_viewers == 3

    beat(client, viewer=ANNA, leaving=True)
    beat(client, viewer=BEN, leaving=True)
    assert services.broadcast_heartbeat(key=alice.channel.stream_key, client_id="7")
    broadcast.refresh_from_db()
    assert broadcast.peak_viewers == 3


def test_the_directory_shows_how_many_are_watching(client, alice, bob, go_live):
    go_live(alice)
    go_live(bob)
    beat(client, "bob", viewer=ANNA)
    beat(client, "bob", viewer=BEN)
    beat(client, "alice", viewer=CLARA)

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "2 viewers" in page and "1 viewer<" in page
    # Most watched first.
    assert page.index('href="/bob"') < page.index('href="/alice"')


def test_past_broadcasts_keep_their_peak_viewers(client, alice):
    Broadcast.objects.create(
        channel=alice.channel, ended_at=timezone.now(), peak_viewers=1204, title="Parsing"
    )

    response = client.get("/alice")

    assert response.status_code == 200
    assert "1,204 viewers" in response.content.decode()
