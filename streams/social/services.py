"""Follows and the go-live e-mails to followers."""

import logging
from datetime import timedelta

from django.utils import timezone

from streams.models import Broadcast, Channel
from streams.social import emails
from streams.social.models import Follow

log = logging.getLogger(__name__)


class CannotFollow(Exception):
    """The follow is refused; the message is for the user."""


def channel_follow(*, user, channel: Channel) -> Follow:
    if channel.user_id == user.pk:
        raise CannotFollow("You can’t follow your own channel.")
    follow, _ = Follow.objects.get_or_create(user=user, channel=channel)
    return follow


def channel_unfollow(*, user, channel: Channel) -> bool:
    deleted, _ = Follow.objects.filter(user=user, channel=channel).delete()
    return bool(deleted)


def follow_set_notify(*, user_id: int, channel_id: int, notify: bool) -> bool:
    """Turn go-live e-mails for one followed channel on or off; False if not following."""
    follows = Follow.objects.filter(user_id=user_id, channel_id=channel_id)
    return bool(follows.update(notify_by_email=notify))


# Broadcasts older than this when the loop first sees them (it was down) mail nobody.
GO_LIVE_MAIL_WINDOW = timedelta(minutes=10)
# Live again this soon after the last broadcast ended: a reconnect, not news.
GO_LIVE_RECONNECT = timedelta(minutes=10)


def broadcasts_notify_followers() -> int:
    """E-mail followers about broadcasts that went live since the last call; returns mails sent.

    The open broadcasts are the outbox: the reconcile loop (run_platform,
    `manage.py reconcile_broadcasts --loop`) drains it every few seconds, so no mail is
    ever sent inside nginx's on_publish, whose answer a slow mail server must not delay.
    Each broadcast is claimed by one conditional UPDATE before anything is sent, so two
    loops never both mail it: at most once per broadcast, even if sending then fails.
    """
    now = timezone.now()
    pending = Broadcast.objects.filter(
        followers_notified_at__isnull=True,
        ended_at__isnull=True,
        started_at__gte=now - GO_LIVE_MAIL_WINDOW,
    )
    sent = 0
    for broadcast in pending.select_related("channel__user", "category"):
        claimed = Broadcast.objects.filter(pk=broadcast.pk, followers_notified_at__isnull=True)
        if not claimed.update(followers_notified_at=now):
            continue
        reconnect = broadcast.channel.broadcasts.filter(
            ended_at__gte=broadcast.started_at - GO_LIVE_RECONNECT
        ).exclude(pk=broadcast.pk)
        if reconnect.exists():
            continue
        try:
            sent += emails.go_live_send(broadcast=broadcast)
        except Exception:
            log.exception("go-live e-mails for broadcast %s failed", broadcast.pk)
    return sent
