"""Viewer counts: player heartbeats into presence files, counts, limits and peak viewers."""

import json
import os
import time

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
def _viewers_in_tmp(settings, tmp_path):
    settings.ECHO_VIEWERS_PATH = tmp_path / "viewers"
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


def presence_files() -> list[str]:
    root = viewers.viewers_root()
    return sorted(path.name for path in root.rglob("*") if path.is_file())


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


def test_two_viewers_count_twice_and_a_repeated_heartbeat_once(client, alice, go_live):
    go_live(alice)

    beat(client, viewer=ANNA)
    beat(client, viewer=ANNA)
    response = beat(client, viewer=BEN, address="198.51.100.7")

    assert response.status_code == 200
    assert response.json()["viewers"] == 2
    assert len(presence_files()) == 2


def test_a_viewer_who_leaves_stops_counting_at_once(client, alice, go_live):
    go_live(alice)
    beat(client, viewer=ANNA)
    beat(client, viewer=BEN)

    response = beat(client, viewer=ANNA, leaving=True)

    assert response.status_code == 200
    assert response.json()["viewers"] == 1
    assert viewers.viewer_count("alice", fresh=True) == 1


def test_a_viewer_silent_for_longer_than_the_timeout_is_no_longer_counted(client, alice, go_live):
    go_live(alice)
    beat(client, viewer=ANNA)
    beat(client, viewer=BEN)
    stale = time.time() - viewers.VIEWER_TIMEOUT - 1
    [anna] = [p for p in viewers.viewers_root().rglob(f"*-{ANNA}")]
    os.utime(anna, (stale, stale))

    assert viewers.viewer_count("alice", fresh=True) == 1
    assert not anna.exists()  # cleaned up by the count


def test_counts_come_from_the_shared_directory_not_from_one_process(alice):
    # What another gunicorn worker wrote is counted here once the cache expires.
    directory = viewers.viewers_root() / "alice"
    directory.mkdir(parents=True)
    (directory / f"0123456789ab-{ANNA}").touch()
    (directory / f"0123456789ab-{BEN}").touch()

    assert viewers.viewer_count("alice", fresh=True) == 2


def test_counts_are_cached_for_a_few_seconds(alice):
    assert viewers.viewer_count("alice") == 0
    directory = viewers.viewers_root() / "alice"
    directory.mkdir(parents=True)
    (directory / f"0123456789ab-{ANNA}").touch()

    assert viewers.viewer_count("alice") == 0
    assert viewers.viewer_count("alice", fresh=True) == 1


@pytest.mark.parametrize(
    "viewer_id",
    ["", "a" * 31, "a" * 33, "A" * 32, "../../etc/passwd" + "a" * 16, "g" * 32, 42, None, ["a"]],
)
def test_the_heartbeat_refuses_a_malformed_viewer_id(client, alice, viewer_id, go_live):
    go_live(alice)

    response = beat(client, viewer=viewer_id)

    assert response.status_code == 400
    assert presence_files() == []


def test_the_heartbeat_refuses_a_body_that_is_not_json(client, alice, go_live):
    go_live(alice)

    response = client.post(
        "/alice/viewers", {"viewer": ANNA}
    )  # a form, as a cross-site page could send

    assert response.status_code == 415
    assert presence_files() == []


def test_the_heartbeat_refuses_a_request_the_browser_labels_cross_site(client, alice, go_live):
    go_live(alice)

    response = beat(client, headers={"Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 403
    assert presence_files() == []


def test_the_heartbeat_needs_neither_login_nor_csrf_token(alice, go_live):
    go_live(alice)

    response = beat(Client(enforce_csrf_checks=True))

    assert response.status_code == 200


def test_the_heartbeat_refuses_get(client, alice, go_live):
    go_live(alice)

    response = client.get("/alice/viewers")

    assert response.status_code == 405


def test_an_offline_channel_counts_nobody(client, alice, bob, go_live):
    go_live(bob)

    for channel in ("alice", "nobody", "x"):
        response = beat(client, channel)
        assert response.status_code == 404
        assert response.json() == {"live": False, "viewers": 0}
    assert presence_files() == []


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

    assert viewers.viewer_count("alice", fresh=True) == 3


def test_a_forged_forwarded_address_does_not_escape_the_limit(client, alice, monkeypatch, go_live):
    monkeypatch.setattr(viewers, "MAX_VIEWERS_PER_CLIENT", 1)
    go_live(alice)

    # nginx appends the address it saw: only the last entry counts.
    beat(client, viewer=ANNA, address="10.0.0.1, 192.0.2.1")
    beat(client, viewer=BEN, address="10.0.0.2, 192.0.2.1")

    assert viewers.viewer_count("alice", fresh=True) == 1


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
