"""The public channel API: who is live (/api/channels/live/), categories, one channel."""

import json

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.pagination import PageNumberPagination

from streams.models import Broadcast, Channel
from streams.social import services as social_services
from streams.social import viewers
from tests.api.clients import names, with_session, with_token

# --- live channels -----------------------------------------------------------


def test_the_live_list_is_empty_when_nobody_is_live(anonymous, alice):
    response = anonymous.get("/api/channels/live/")

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_live_list_shows_live_channels_most_recent_first(
    anonymous, alice, bob, charlie, games, go_live
):
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


def test_the_live_list_leaves_out_ended_broadcasts(anonymous, alice, go_live):
    broadcast = go_live(alice)
    Broadcast.objects.filter(pk=broadcast.pk).update(ended_at=timezone.now())

    response = anonymous.get("/api/channels/live/")

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_the_live_list_filters_by_category_slug(
    anonymous, alice, bob, charlie, games, music, go_live
):
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


def test_the_live_list_is_paginated(anonymous, alice, bob, charlie, monkeypatch, go_live):
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
    anonymous, alice, bob, charlie, games, go_live
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


def test_channel_detail_shows_an_offline_channel(anonymous, alice, go_live):
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


def test_channel_detail_shows_a_live_channel(anonymous, bob, games, go_live):
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


def test_channel_detail_counts_the_viewers_of_a_live_channel(anonymous, alice, bob, go_live):
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


def test_the_stream_key_is_in_no_public_response_even_to_its_owner(anonymous, alice, bob, go_live):
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


def test_no_email_address_appears_in_any_response(alice, bob, go_live):
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
