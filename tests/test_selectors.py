"""Channel reads in streams/selectors.py: what each carries, limits, and missing channels."""

from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from streams import selectors, services
from streams.models import Broadcast, Channel
from streams.social import services as social_services
from streams.social import viewers


@pytest.fixture(autouse=True)
def _thumbs_in_tmp(settings, tmp_path):
    settings.ECHO_THUMBS_PATH = tmp_path / "thumbs"


def users(*names: str) -> list[User]:
    return [User.objects.create_user(name, f"{name}@example.org", "pw") for name in names]


def test_a_limit_keeps_the_live_channels_and_cuts_the_offline_ones(alice, bob, go_live):
    followed = users("dave", "erin", "frank")
    for streamer in followed:
        social_services.channel_follow(user=bob, channel=streamer.channel)
    go_live(followed[2])

    channels = selectors.channel_list_followed(user=bob, limit=2)

    assert [channel.name for channel in channels] == ["frank", "dave"]


def test_a_limit_smaller_than_the_live_channels_keeps_the_most_watched(bob, go_live):
    followed = users("dave", "erin", "frank")
    for minutes_ago, streamer in enumerate(followed):
        social_services.channel_follow(user=bob, channel=streamer.channel)
        go_live(streamer, minutes_ago=minutes_ago)
    viewers.viewer_seen("frank", viewer_id="a" * 32, client="192.0.2.1")

    channels = selectors.channel_list_followed(user=bob, limit=2)

    assert [(channel.name, channel.viewers) for channel in channels] == [("frank", 1), ("dave", 0)]


def test_every_channel_carries_live_state_viewers_followers_and_thumbnail(
    alice, bob, charlie, go_live, settings
):
    social_services.channel_follow(user=bob, channel=alice.channel)
    social_services.channel_follow(user=charlie, channel=alice.channel)
    broadcast = go_live(alice)
    viewers.viewer_seen("alice", viewer_id="a" * 32, client="192.0.2.1")
    settings.ECHO_THUMBS_PATH.mkdir()
    (settings.ECHO_THUMBS_PATH / "alice.jpg").write_bytes(b"\xff\xd8")

    for channel in (
        selectors.channel_get(name="alice", stats=True),
        selectors.channel_list_live()[0],
        selectors.channel_list_followed(user=bob)[0],
        selectors.channel_search(query="ali", limit=5)[0],
    ):
        assert channel.live_since == broadcast.started_at
        assert channel.viewers == 1
        # All of alice's followers, also in the list of the channels bob follows.
        assert channel.follower_count == 2
        assert channel.thumbnail_url.startswith(f"{settings.ECHO_THUMBS_URL}alice.jpg?v=")


def test_an_offline_channel_has_no_viewers_and_no_thumbnail_but_its_last_broadcast(alice, go_live):
    ended = go_live(alice, minutes_ago=90)
    Broadcast.objects.filter(pk=ended.pk).update(ended_at=timezone.now() - timedelta(hours=1))
    viewers.viewer_seen("alice", viewer_id="a" * 32, client="192.0.2.1")

    channel = selectors.channel_get(name="alice", stats=True)

    assert channel.live_since is None
    assert channel.last_live_at == Broadcast.objects.get().ended_at
    assert channel.viewers == 0
    assert channel.thumbnail_url is None


def test_search_leaves_out_deactivated_users_and_orders_live_first(alice, bob, go_live):
    carlo, carla = users("carlo", "carla")
    User.objects.filter(pk=carlo.pk).update(is_active=False)
    go_live(alice)
    Channel.objects.filter(user=alice).update(title="Live with Carla")

    results = selectors.channel_search(query="carl", limit=5)

    assert [channel.name for channel in results] == ["alice", "carla"]


def test_a_missing_channel_is_a_404_and_is_not_made(charlie):
    Channel.objects.filter(user=charlie).delete()

    with pytest.raises(Http404):
        selectors.channel_of_user(user=charlie)
    with pytest.raises(Http404):
        selectors.channel_get(name="charlie")
    with pytest.raises(Http404):
        selectors.channel_get(name="charlie", stats=True)
    assert not Channel.objects.filter(user=charlie).exists()


def test_the_go_live_mail_goes_to_active_followers_with_an_address_who_want_it(alice, bob):
    quiet, gone, no_address, wants = users("quiet", "gone", "noaddress", "wants")
    for follower in (bob, quiet, gone, no_address, wants):
        social_services.channel_follow(user=follower, channel=alice.channel)
    social_services.follow_set_notify(user_id=quiet.pk, channel_id=alice.channel.pk, notify=False)
    User.objects.filter(pk=gone.pk).update(is_active=False)
    User.objects.filter(pk=no_address.pk).update(email="")

    follows = selectors.follow_list_to_notify(channel=alice.channel)

    assert [follow.user.username for follow in follows] == ["bob", "wants"]


def test_saving_settings_keeps_a_key_rotation_and_a_ban_made_since_the_read(alice, games, no_nginx):
    stale = selectors.channel_of_user(user=alice)
    services.stream_key_rotate(channel=alice.channel)
    services.channel_ban(channel=alice.channel)

    services.channel_settings_update(channel=stale, title="New title", category=games)

    channel = Channel.objects.get(user=alice)
    assert (channel.title, channel.category) == ("New title", games)
    assert channel.stream_key != stale.stream_key
    assert channel.streaming_banned is True


def test_a_search_limit_keeps_the_live_matches_and_the_most_recently_live(go_live):
    never, earlier, later, live = users("chess1", "chess2", "chess3", "chess4")
    for hours_ago, streamer in ((5, earlier), (2, later)):
        broadcast = go_live(streamer, minutes_ago=hours_ago * 60 + 30)
        Broadcast.objects.filter(pk=broadcast.pk).update(
            ended_at=timezone.now() - timedelta(hours=hours_ago)
        )
    go_live(live)

    results = selectors.channel_search(query="chess", limit=2)

    assert [channel.name for channel in results] == ["chess4", "chess3"]
