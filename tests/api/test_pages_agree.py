"""A page and its API twin list the same channels in the same order (both read streams.selectors).

The order, as streams/selectors.py documents it: live channels, the most watched first and,
equally watched, the most recently started; then offline ones, the most recently live
first, then those that never streamed.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from streams.models import Channel
from streams.social import services as social_services
from streams.social import viewers
from tests.api.clients import names, with_session

CARD = re.compile(r'<a class="channel-card" href="/([^"]+)"')
ROW = re.compile(r'<a class="channel-row-link" href="/([^"]+)"')
FOLLOWED_ORDER = ["frank", "dave", "erin", "gina", "charlie", "alice"]


def watched_by(user: User, count: int) -> None:
    for n in range(count):
        viewers.viewer_seen(user.username, viewer_id=f"{n:032x}", client=f"192.0.2.{n}")


@pytest.fixture
def streamers(alice, bob, charlie, go_live, games, music) -> dict[str, User]:
    """Six channels, so that every rule of the order decides somewhere:

    frank: live an hour, 2 viewers (music)     dave: live 30 min, 1 viewer (games)
    erin:  live 5 min, 0 viewers (games)       gina: live 10 min, 0 viewers (games)
    charlie: offline, last live yesterday      alice: never streamed
    """
    dave, erin, frank, gina = (
        User.objects.create_user(name, f"{name}@example.org", "pw")
        for name in ("dave", "erin", "frank", "gina")
    )
    Channel.objects.filter(user__in=[dave, erin, gina]).update(category=games)
    Channel.objects.filter(user=frank).update(category=music)
    ended = go_live(charlie, minutes_ago=26 * 60)
    ended.ended_at = timezone.now() - timedelta(hours=24)
    ended.save()
    go_live(dave, minutes_ago=30)
    go_live(erin, minutes_ago=5)
    go_live(frank, minutes_ago=60)
    go_live(gina, minutes_ago=10)
    watched_by(frank, 2)
    watched_by(dave, 1)
    return {user.username: user for user in (alice, charlie, dave, erin, frank, gina)}


def test_following_page_and_api_list_the_same_channels_in_the_same_order(bob, streamers):
    for streamer in streamers.values():
        social_services.channel_follow(user=bob, channel=streamer.channel)
    client = with_session(bob)

    page = client.get("/following/")
    api = client.get("/api/me/following/")

    assert page.status_code == api.status_code == 200
    assert ROW.findall(page.content.decode()) == FOLLOWED_ORDER
    assert names(api) == FOLLOWED_ORDER


def test_the_directorys_following_section_keeps_that_order(bob, streamers):
    for streamer in streamers.values():
        social_services.channel_follow(user=bob, channel=streamer.channel)

    page = with_session(bob).get("/").content.decode()

    assert ROW.findall(page) == FOLLOWED_ORDER


def test_directory_and_live_api_list_the_same_channels_in_the_same_order(streamers):
    anonymous = Client()

    page = anonymous.get("/")
    api = anonymous.get("/api/channels/live/")

    assert page.status_code == api.status_code == 200
    assert CARD.findall(page.content.decode()) == ["frank", "dave", "erin", "gina"]
    assert names(api) == ["frank", "dave", "erin", "gina"]


def test_a_category_page_and_the_filtered_live_api_agree(streamers):
    anonymous = Client()

    page = anonymous.get("/c/games/")
    api = anonymous.get("/api/channels/live/", {"category": "games"})

    assert CARD.findall(page.content.decode()) == ["dave", "erin", "gina"]
    assert names(api) == ["dave", "erin", "gina"]
