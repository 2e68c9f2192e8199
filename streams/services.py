"""Every change of live state: going live, ending, heartbeats, key rotation, bans.

Callback views, admin actions, API views and management commands call these
functions; none of them changes a channel's or broadcast's live state itself.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from echo.db import retry_on_deadlock
from streams.latency import LatencyMode
from streams.media import control, hls
from streams.models import Broadcast, Category, Channel, stream_key_generate
from streams.social import viewers
from streams.social.services import broadcasts_notify_followers

log = logging.getLogger(__name__)

# An open broadcast not heard from (publish or on_update) for this long is treated
# as lost: nginx sends on_update every 10 s, so two missed beats. While Django is
# down nginx answers heartbeats itself, so a restart of up to ~15 s loses nothing.
HEARTBEAT_GRACE = timedelta(seconds=25)


class PublishRefused(Exception):
    """The publish attempt is refused; the message is safe to log (it holds no key)."""


class UnknownKey(PublishRefused):
    """No channel has this key: a typo, an old key, or someone guessing."""


def channel_create(*, user) -> Channel:
    """A new user's channel (streams.signals); read one with selectors.channel_of_user."""
    channel = Channel(user=user)
    channel.set_stream_key(stream_key_generate())
    channel.save()
    return channel


class _Unchanged:
    """A setting the caller leaves as it is."""


UNCHANGED = _Unchanged()


def channel_settings_update(
    *,
    channel: Channel,
    title: str | _Unchanged = UNCHANGED,
    category: Category | None | _Unchanged = UNCHANGED,
    latency_mode: LatencyMode | str | _Unchanged = UNCHANGED,
) -> Channel:
    """What the streamer sets on the dashboard or with the API: the title, the category
    and the latency mode (which keyframe interval the dashboard coaches them to send)."""
    changed = []
    if not isinstance(title, _Unchanged):
        channel.title = title
        changed.append("title")
    if not isinstance(category, _Unchanged):
        channel.category = category
        changed.append("category")
    if not isinstance(latency_mode, _Unchanged):
        channel.latency_mode = LatencyMode(latency_mode)
        changed.append("latency_mode")
    # Only these columns: saving them all would write back a stream key rotated,
    # or a ban set, since the caller read the row.
    if changed:
        channel.save(update_fields=changed)
    return channel


def _drop_after_commit(client_id: str) -> None:
    # Drop only once the ended broadcast is committed: nginx then calls
    # on_publish_done, which must find nothing left to end.
    transaction.on_commit(lambda: control.drop_publisher(client_id=client_id))


def _end(broadcast: Broadcast, reason: str, *, drop: bool) -> None:
    # A lost publisher was last known alive at its last heartbeat, not now.
    lost = reason == Broadcast.EndReason.LOST
    broadcast.ended_at = broadcast.last_seen_at if lost else timezone.now()
    broadcast.end_reason = reason
    broadcast.save(update_fields=["ended_at", "end_reason"])
    log.info("broadcast %s of %s ended: %s", broadcast.pk, broadcast.channel.name, reason)
    if drop:
        _drop_after_commit(broadcast.client_id)


def _still_publishing(broadcast: Broadcast, *, channel: Channel, new_client_id: str) -> bool:
    """Is the encoder of this open broadcast still connected (so a new one is a second)?"""
    if broadcast.client_id == new_client_id:
        return False  # nginx gives every connection a new id: the old one is gone
    if timezone.now() - broadcast.last_seen_at >= HEARTBEAT_GRACE:
        return False
    publishers = control.ingest_publishers()
    if publishers is None:
        return True  # nginx can't be asked: trust the recent heartbeat
    # After an nginx restart (killed, say) the old connection is simply not there.
    return publishers.get(broadcast.client_id) == channel.name


@retry_on_deadlock
def broadcast_start(*, key: str, client_id: str) -> Broadcast:
    with transaction.atomic():
        # Lock the channel row: two publishes with one key must not both go live.
        channel = Channel.objects.with_key(key).select_for_update().select_related("user").first()
        if channel is None:
            raise UnknownKey("unknown stream key")
        if channel.streaming_banned or not channel.user.is_active:
            raise PublishRefused(f"channel {channel.name} may not stream")
        now = timezone.now()
        for open_broadcast in channel.broadcasts.filter(ended_at__isnull=True):
            if _still_publishing(open_broadcast, channel=channel, new_client_id=client_id):
                raise PublishRefused(f"channel {channel.name} is already live")
            _end(open_broadcast, Broadcast.EndReason.LOST, drop=False)
        broadcast = Broadcast.objects.create(
            channel=channel,
            title=channel.title,
            category=channel.category,
            client_id=client_id,
            started_at=now,
            last_seen_at=now,
        )
    log.info("broadcast %s of %s started", broadcast.pk, channel.name)
    return broadcast


def _open_broadcast_for(key: str, client_id: str) -> Broadcast | None:
    return (
        Broadcast.objects.select_for_update()
        .select_related("channel__user")
        .filter(
            ended_at__isnull=True,
            client_id=client_id,
            channel__in=Channel.objects.with_key(key),
        )
        .first()
    )


@retry_on_deadlock
def broadcast_publisher_done(*, key: str, client_id: str) -> Broadcast | None:
    with transaction.atomic():
        broadcast = _open_broadcast_for(key, client_id)
        if broadcast is not None:
            _end(broadcast, Broadcast.EndReason.PUBLISHER_DONE, drop=False)
    return broadcast


@retry_on_deadlock
def broadcast_heartbeat(*, key: str, client_id: str) -> bool:
    """Record that the publisher is still there; False means it must be dropped."""
    with transaction.atomic():
        broadcast = _open_broadcast_for(key, client_id)
        if broadcast is None:
            return False
        if broadcast.channel.streaming_banned:
            _end(broadcast, Broadcast.EndReason.BANNED, drop=False)
            return False
        broadcast.last_seen_at = timezone.now()
        broadcast.segment_seconds = hls.last_segment_seconds(broadcast.channel.name)
        broadcast.peak_viewers = max(broadcast.peak_viewers, _viewers_now(broadcast))
        broadcast.save(update_fields=["last_seen_at", "segment_seconds", "peak_viewers"])
    return True


def broadcast_end(*, broadcast: Broadcast, reason: str = Broadcast.EndReason.STAFF) -> bool:
    """End a live broadcast and disconnect its publisher. False if it had already ended."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if broadcast.ended_at is not None:
            return False
        _end(broadcast, reason, drop=True)
    return True


def _end_live(channel: Channel, reason: str) -> None:
    for broadcast in channel.broadcasts.select_for_update().filter(ended_at__isnull=True):
        _end(broadcast, reason, drop=True)


def stream_key_rotate(*, channel: Channel) -> Channel:
    """Give the channel a new key; the old one stops working and its broadcast is dropped."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        channel.set_stream_key(stream_key_generate())
        channel.save(update_fields=["stream_key", "stream_key_digest"])
        _end_live(channel, Broadcast.EndReason.KEY_ROTATED)
    return channel


def _set_streaming_banned(channel: Channel, banned: bool) -> Channel:
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        channel.streaming_banned = banned
        channel.save(update_fields=["streaming_banned"])
        if banned:
            _end_live(channel, Broadcast.EndReason.BANNED)
    return channel


def channel_ban(*, channel: Channel) -> Channel:
    """Ban the channel from streaming; a live broadcast is dropped."""
    return _set_streaming_banned(channel, True)


def channel_unban(*, channel: Channel) -> Channel:
    return _set_streaming_banned(channel, False)


def broadcasts_reconcile() -> int:
    """End open broadcasts whose publisher nginx no longer has (or that went silent)."""
    publishers = control.ingest_publishers()
    now = timezone.now()
    ended = 0
    with transaction.atomic():
        open_broadcasts = Broadcast.objects.select_for_update().select_related("channel__user")
        for broadcast in open_broadcasts.filter(ended_at__isnull=True):
            silent = now - broadcast.last_seen_at >= HEARTBEAT_GRACE
            gone = (
                publishers is not None
                and publishers.get(broadcast.client_id) != broadcast.channel.name
            )
            if silent or (gone and now - broadcast.started_at >= timedelta(seconds=5)):
                _end(broadcast, Broadcast.EndReason.LOST, drop=False)
                ended += 1
    broadcasts_notify_followers()
    return ended


# --- viewers -------------------------------------------------------------------


def _viewers_now(broadcast: Broadcast) -> int:
    # Folded into the row nginx's heartbeat writes anyway: no write of its own. Unknown
    # (Redis down, already logged) leaves the peak as it was.
    return viewers.viewer_count(broadcast.channel.name) or 0
