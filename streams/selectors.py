"""Reads of channels that pages, the API and the go-live e-mail share.

Writes live in services.py; these are the reads several callers need, so that a
page and its API twin list the same channels in the same order. Every channel in
a list, and from channel_get(stats=True) and channel_of_user, carries:

    .live_since      when its open broadcast started (None while offline)
    .last_live_at    when its last broadcast ended (None if it never streamed)
    .follower_count  everyone following it
    .viewers         players watching now (0 while offline, None if unknown: Redis down)
    .thumbnail_url   its live preview image (None: show the placeholder)

One order for every list, what a viewer looks for first: live channels, the most
watched first and, equally watched, the most recently started; then offline ones,
the most recently live first, then those that never streamed; ties by name.
"""

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from streams.media import thumbnails
from streams.models import Category, Channel, Follow
from streams.social import viewers


def _channels() -> QuerySet[Channel]:
    return (
        Channel.objects.select_related("user", "category").with_live_state().with_follower_count()
    )


def _with_presence(channels: list[Channel]) -> list[Channel]:
    """Attach .viewers and .thumbnail_url: the one place either is worked out for a list."""
    live_names = [channel.name for channel in channels if channel.live_since is not None]
    counts = viewers.viewer_counts(live_names) if live_names else {}
    for channel in channels:
        live = channel.live_since is not None
        channel.viewers = counts[channel.name] if live else 0
        channel.thumbnail_url = thumbnails.thumbnail_url(channel.name) if live else None
    return channels


def _most_watched_first(live: list[Channel]) -> list[Channel]:
    def watched(channel: Channel) -> tuple[int, float, str]:
        started: datetime = channel.live_since
        return (-(channel.viewers or 0), -started.timestamp(), channel.name)

    return sorted(_with_presence(live), key=watched)


def _in_order(channels: QuerySet[Channel], *, limit: int | None = None) -> list[Channel]:
    # Viewer counts are in Redis, not columns: the live part is sorted here
    # (live channels are few), the offline part ordered (and cut) by the database.
    channels = channels.order_by(F("last_live_at").desc(nulls_last=True), "user__username")
    if limit is None:
        every = list(channels)  # one query, not two, when nothing is cut
        live = [channel for channel in every if channel.live_since is not None]
        offline = [channel for channel in every if channel.live_since is None]
    else:
        live = list(channels.filter(live_since__isnull=False))
        offline = list(channels.filter(live_since__isnull=True)[: max(limit - len(live), 0)])
    return (_most_watched_first(live) + _with_presence(offline))[:limit]


def channel_get(*, name: str, stats: bool = False) -> Channel:
    """One channel by its name (the username), live or not; Http404 (a JSON 404 in the
    API) if there is none. Only with stats does it carry what this module's lists do:
    the players polling status.json every few seconds need none of it."""
    if not stats:
        return get_object_or_404(
            Channel.objects.select_related("user", "category"), user__username=name
        )
    return _with_presence([get_object_or_404(_channels(), user__username=name)])[0]


def channel_of_user(*, user: AbstractBaseUser) -> Channel:
    """The user's own channel, with stats; Http404 if missing (every user gets one when created)."""
    return _with_presence([get_object_or_404(_channels(), user=user)])[0]


def channel_list_live(*, category: str | None = None) -> list[Channel]:
    """Channels live now (only those in the category with this slug, if given)."""
    channels = _channels().live()
    if category:
        channels = channels.filter(category__slug=category)
    return _most_watched_first(list(channels))


def _followed(user: AbstractBaseUser) -> QuerySet[Channel]:
    # Not filter(follows__user=user): ordering and counts then see only the one follow.
    follows = Follow.objects.filter(user=user)
    follow = follows.filter(channel=OuterRef("pk"))
    return (
        _channels()
        .filter(pk__in=follows.values("channel_id"))
        .annotate(
            followed_at=Subquery(follow.values("created_at")[:1]),
            notify_by_email=Subquery(follow.values("notify_by_email")[:1]),
        )
    )


def channel_list_followed(*, user: AbstractBaseUser, limit: int | None = None) -> list[Channel]:
    """The channels the user follows, each also with .followed_at and .notify_by_email."""
    # Read them all and cut here: one query, and nobody follows too many to read.
    return _in_order(_followed(user))[:limit]


def channel_get_followed(*, user: AbstractBaseUser, name: str) -> Channel | None:
    """One channel the user follows (as in channel_list_followed), None if not followed."""
    channel = _followed(user).filter(user__username=name).first()
    return _with_presence([channel])[0] if channel is not None else None


def channel_search(*, query: str, limit: int) -> list[Channel]:
    """Active users' channels whose username, display name or title holds the query."""
    matches = _channels().filter(
        Q(user__username__icontains=query)
        | Q(user__display_name__icontains=query)
        | Q(title__icontains=query),
        user__is_active=True,
    )
    return _in_order(matches, limit=limit)


def category_list_with_live() -> QuerySet[Category]:
    """Every category with .live: how many channels in it are live now."""
    return Category.objects.annotate(
        live=Count("channels", filter=Q(channels__in=Channel.objects.live()))
    )


def follow_list_to_notify(*, channel: Channel) -> QuerySet[Follow]:
    """The follows of the channel whose follower wants its go-live e-mails and can get them."""
    return (
        Follow.objects.filter(channel=channel, notify_by_email=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "channel__user")
        .order_by("pk")
    )
