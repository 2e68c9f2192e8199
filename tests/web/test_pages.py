"""The public pages, the streamer's dashboard and the stream key's exposure."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from streams.models import Broadcast, Channel

XSS_TITLE = "<script>alert(1)</script>"


pytestmark = pytest.mark.usefixtures("plain_static_storage", "no_nginx")


# --- directory ---------------------------------------------------------------


def test_the_directory_says_nobody_is_live(client, alice):
    response = client.get("/")

    assert response.status_code == 200
    assert b"Nobody is live right now" in response.content
    assert b'href="/alice"' not in response.content


def test_the_directory_lists_a_live_channel(client, alice, bob, games, go_live):
    Channel.objects.filter(user=alice).update(title="Writing a parser", category=games)
    go_live(alice, minutes_ago=12)

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Nobody is live" not in page
    assert 'href="/alice"' in page
    assert "Writing a parser" in page
    assert "Games" in page
    assert "Alice A." in page and "@alice" in page
    assert "live for 12" in page
    assert 'data-live-since="' in page
    # bob is offline: not listed.
    assert 'href="/bob"' not in page


def test_the_directory_leaves_out_ended_broadcasts(client, alice, go_live):
    broadcast = go_live(alice)
    Broadcast.objects.filter(pk=broadcast.pk).update(ended_at=timezone.now())

    response = client.get("/")

    assert response.status_code == 200
    assert b"Nobody is live right now" in response.content


# --- channel page and status.json --------------------------------------------


def test_the_channel_page_shows_an_offline_channel(client, alice, go_live):
    broadcast = go_live(alice, minutes_ago=90)
    Broadcast.objects.filter(pk=broadcast.pk).update(ended_at=timezone.now() - timedelta(hours=2))

    response = client.get("/alice")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-state="offline"' in page
    assert "Alice A. is offline" in page
    assert "Last live 2" in page
    assert "Parsers, live." in page
    # The player can still start without a reload: it knows where to poll.
    assert 'data-status-url="/alice/status.json"' in page
    assert "js/player.js" in page


def test_the_channel_page_shows_the_player_when_live(client, alice, games, go_live):
    Channel.objects.filter(user=alice).update(title="Writing a parser", category=games)
    go_live(alice)

    response = client.get("/alice")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-state="starting"' in page
    assert 'data-hls-url="/hls/alice.m3u8"' in page
    assert "<video" in page and "muted" in page and "autoplay" in page and "controls" in page
    assert "vendor/hls.js/hls.min.js" in page
    assert "js/player.js" in page
    assert "Writing a parser" in page
    assert "Games" in page


def test_the_channel_page_is_titled_with_the_streamers_name(client, alice, go_live):
    offline = client.get("/alice").content.decode()
    go_live(alice)
    live = client.get("/alice").content.decode()

    assert "<title>Alice A. · echo.tv</title>" in offline
    assert "<title>Alice A. (live) · echo.tv</title>" in live


def test_the_channel_page_is_404_for_an_unknown_channel(client, alice):
    response = client.get("/nobody")

    assert response.status_code == 404
    assert b"Nothing here" in response.content


def test_status_json_says_live_with_the_playlist_url(client, alice, go_live):
    Channel.objects.filter(user=alice).update(title="Writing a parser")
    broadcast = go_live(alice)

    response = client.get("/alice/status.json")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "channel": "alice",
        "live": True,
        "title": "Writing a parser",
        "category": None,
        "started_at": broadcast.started_at.isoformat(),
        "hls_url": "/hls/alice.m3u8",
        "hls_urls": ["/hls/alice.m3u8"],
        "segment_seconds": None,  # until nginx's first heartbeat measures it
    }


def test_status_json_says_offline(client, alice):
    response = client.get("/alice/status.json")

    assert response.status_code == 200
    data = response.json()
    assert data["live"] is False
    assert data["started_at"] is None


def test_status_json_is_404_for_an_unknown_channel(client, alice):
    response = client.get("/nobody/status.json")

    assert response.status_code == 404
    assert b"Nothing here" in response.content
    assert b'"live"' not in response.content


# --- dashboard ---------------------------------------------------------------


def test_the_dashboard_requires_login(client, alice):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_dashboard_shows_the_owners_key_and_server(alice, settings, logged_in):
    settings.ECHO_RTMP_PUBLIC_URL = "rtmp://live.example.org/ingest"

    response = logged_in(alice).get("/dashboard/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    page = response.content.decode()
    assert alice.channel.stream_key in page
    assert "rtmp://live.example.org/ingest" in page
    # Hidden until revealed.
    assert 'type="password" id="stream-key"' in page
    assert "Keyframe Interval" in page


def test_the_dashboard_never_shows_another_users_key(alice, bob, logged_in):
    response = logged_in(alice).get("/dashboard/")

    assert response.status_code == 200
    assert bob.channel.stream_key not in response.content.decode()


def test_the_dashboard_shows_live_since_and_recent_broadcasts(alice, go_live, logged_in):
    ended = go_live(alice, minutes_ago=120)
    Broadcast.objects.filter(pk=ended.pk).update(
        ended_at=timezone.now() - timedelta(minutes=60),
        end_reason=Broadcast.EndReason.PUBLISHER_DONE,
        title="Yesterday's stream",
    )
    go_live(alice, minutes_ago=5)

    response = logged_in(alice).get("/dashboard/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "live for 5" in page
    assert "Yesterday&#x27;s stream" in page
    assert "1 h 00 min" in page
    assert "Streamer stopped" in page


def test_the_key_appears_on_no_public_page_even_while_live(client, alice, go_live, logged_in):
    go_live(alice)
    key = alice.channel.stream_key

    for url in ("/", "/alice", "/alice/status.json"):
        response = client.get(url)
        assert response.status_code == 200
        assert key not in response.content.decode(), url

    # Not even to the owner, logged in, on the public pages.
    owner = logged_in(alice)
    for url in ("/", "/alice", "/alice/status.json"):
        assert key not in owner.get(url).content.decode(), url


# --- rotate key --------------------------------------------------------------


def test_rotate_key_refuses_get(alice, logged_in):
    old_key = alice.channel.stream_key

    response = logged_in(alice).get("/dashboard/rotate-key/")

    assert response.status_code == 405
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key


def test_rotate_key_requires_login(client, alice):
    old_key = alice.channel.stream_key

    response = client.post("/dashboard/rotate-key/", {"confirm": "on"})

    assert response.status_code == 302
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key


def test_rotate_key_refuses_without_confirmation(alice, logged_in):
    old_key = alice.channel.stream_key
    client = logged_in(alice)

    response = client.post("/dashboard/rotate-key/", follow=True)

    assert response.status_code == 200
    assert b"Your stream key was not changed" in response.content
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key


def test_rotate_key_replaces_the_key(alice, logged_in):
    old_key = alice.channel.stream_key
    client = logged_in(alice)

    response = client.post("/dashboard/rotate-key/", {"confirm": "on"})

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key != old_key
    assert Channel.objects.with_key(old_key).first() is None
    page = client.get("/dashboard/").content.decode()
    assert alice.channel.stream_key in page
    assert old_key not in page


def test_rotate_key_ends_the_live_broadcast(alice, go_live, logged_in):
    broadcast = go_live(alice)

    response = logged_in(alice).post("/dashboard/rotate-key/", {"confirm": "on"})

    assert response.status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.ended_at is not None
    assert broadcast.end_reason == Broadcast.EndReason.KEY_ROTATED


def test_rotate_key_changes_only_the_users_own_key(alice, bob, logged_in):
    bobs_key = bob.channel.stream_key

    response = logged_in(alice).post("/dashboard/rotate-key/", {"confirm": "on"})

    assert response.status_code == 302
    bob.channel.refresh_from_db()
    assert bob.channel.stream_key == bobs_key


# --- title and category ------------------------------------------------------


def test_the_settings_form_saves_title_and_category(alice, games, logged_in):
    response = logged_in(alice).post("/dashboard/", {"title": "Speedrunning", "category": games.pk})

    assert response.status_code == 302
    alice.channel.refresh_from_db()
    assert alice.channel.title == "Speedrunning"
    assert alice.channel.category == games


def test_the_settings_form_rejects_a_too_long_title(alice, logged_in):
    response = logged_in(alice).post("/dashboard/", {"title": "x" * 141, "category": ""})

    assert response.status_code == 200
    assert b"at most 140 characters" in response.content
    alice.channel.refresh_from_db()
    assert alice.channel.title == ""


def test_the_settings_form_cannot_change_the_stream_key(alice, logged_in):
    old_key = alice.channel.stream_key

    response = logged_in(alice).post(
        "/dashboard/", {"title": "t", "stream_key": "live_attacker", "stream_key_digest": "x"}
    )

    assert response.status_code == 302
    alice.channel.refresh_from_db()
    assert alice.channel.stream_key == old_key


# --- escaping ----------------------------------------------------------------


def test_a_title_with_html_is_escaped_on_the_directory_and_channel_pages(
    client, alice, bob, go_live
):
    Channel.objects.filter(user=alice).update(title=XSS_TITLE)
    User.objects.filter(pk=bob.pk).update(display_name=XSS_TITLE, bio=XSS_TITLE)
    Channel.objects.filter(user=bob).update(title=XSS_TITLE)
    go_live(alice)
    go_live(bob)

    for url in ("/", "/alice", "/bob"):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert XSS_TITLE not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url


def test_the_500_page_renders_without_a_request(settings):
    from django.template.loader import render_to_string

    page = render_to_string("500.html")

    assert "Something went wrong" in page


def test_with_edges_the_page_and_status_hand_the_player_every_edge(
    client, alice, go_live, settings
):
    settings.ECHO_HLS_EDGE_URLS = ["https://edge1.example/hls/", "https://edge2.example/hls/"]
    go_live(alice)
    edges = {"https://edge1.example/hls/alice.m3u8", "https://edge2.example/hls/alice.m3u8"}

    firsts = set()
    for _ in range(30):
        page = client.get("/alice").content.decode()
        listed = re.search(r'data-hls-urls="([^"]*)"', page).group(1).split()
        assert set(listed) == edges
        first = re.search(r'data-hls-url="([^"]*)"', page).group(1)
        assert first == listed[0]
        firsts.add(first)
    # Viewers are spread over the edges: each page lists them in its own order.
    assert firsts == edges
    status = client.get("/alice/status.json").json()
    assert set(status["hls_urls"]) == edges
