"""Failed-publish limits: wrong keys from one address are limited, right keys never are.

Many streamers can share one address (a carrier NAT, a LAN party), so someone else's
wrong keys must not lock out a streamer with the right one.
"""

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from streams.models import Broadcast
from tests.callbacks import publish
from tests.streaming import wait_for

NAT = "198.51.100.7"


@pytest.fixture(autouse=True)
def _callback_settings(callbacks_from_nginx, db):
    # The failure counts live in the cache, which outlives a test's database rollback.
    cache.clear()
    yield
    cache.clear()


def live_broadcast(user) -> Broadcast | None:
    return user.channel.broadcasts.filter(ended_at__isnull=True).first()


def lock_out(client, addr: str, limit: int) -> list[int]:
    return [publish(client, f"live_guess{n}", addr=addr).status_code for n in range(limit)]


def test_a_right_key_goes_live_from_an_address_over_the_limit(client, alice, settings):
    assert settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT == 10
    assert lock_out(client, NAT, 10) == [403] * 10

    response = publish(client, alice.channel.stream_key, addr=NAT)

    assert response.status_code == 302
    assert response["Location"] == "alice"
    assert alice.channel.broadcasts.get().is_live


def test_wrong_keys_from_an_address_over_the_limit_get_429(client, alice, settings):
    settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT = 3
    assert lock_out(client, NAT, 3) == [403, 403, 403]

    assert publish(client, "live_guess-again", addr=NAT).status_code == 429
    # Other addresses keep their own count.
    assert publish(client, "live_guess-again", addr="198.51.100.8").status_code == 403
    assert not Broadcast.objects.exists()


def test_a_wrong_key_over_the_limit_costs_only_the_key_lookup(client, alice, settings):
    settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT = 2
    lock_out(client, NAT, 2)

    with CaptureQueriesContext(connection) as queries:
        response = publish(client, "live_guess-again", addr=NAT)

    assert response.status_code == 429
    # The failure counts are in Redis: the database sees only the key lookup.
    [query] = [q["sql"] for q in queries]
    assert query.startswith("SELECT")
    assert "streams_channel" in query


def test_refused_right_keys_do_not_count_as_failures(client, alice, settings):
    settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT = 2
    alice.channel.streaming_banned = True
    alice.channel.save()

    statuses = [publish(client, alice.channel.stream_key, addr=NAT).status_code for _ in range(3)]

    assert statuses == [403, 403, 403]
    assert publish(client, "live_guess", addr=NAT).status_code == 403


def refuse_every_query(execute, sql, params, many, context):
    raise OperationalError("database is down")


@pytest.mark.parametrize("key", ["right", "live_wrong"])
def test_a_database_outage_refuses_a_publish_with_503(client, alice, key):
    key = alice.channel.stream_key if key == "right" else key

    with connection.execute_wrapper(refuse_every_query):
        response = publish(client, key, addr=NAT)

    assert response.status_code == 503
    assert not Broadcast.objects.exists()


@pytest.mark.streaming
@pytest.mark.django_db(transaction=True)
def test_through_nginx_a_right_key_goes_live_after_wrong_ones_from_its_address(
    rtmp, alice, settings, caplog
):
    # Every ffmpeg here connects from 127.0.0.1: one shared address, as behind a NAT.
    settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT = 2
    for n in range(3):
        assert rtmp.publish(f"live_guess{n}").wait(timeout=30) != 0
    # The third guess came over the limit (429): the address is limited now.
    assert "too many failed attempts" in caplog.text

    rtmp.publish(alice.channel.stream_key)

    wait_for(lambda: live_broadcast(alice), timeout=20, message="on_publish")
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=20, message="the playlist")
