"""Every change in a chat room: sending, deleting, timeouts and bans, moderators, settings.
Each publishes its event after the database change; the consumer, the REST API and the
admin all come through here.

Counters (burst limit, cool-down, slow mode, duplicates) live in Redis, shared by every
web-server process. If Redis is down they let a message through (logged): the message is
stored, and the hubs close every connection within seconds anyway (4503), so the window
is short; refusing instead would lose what a user typed at the moment of the outage.
"""

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.db import transaction
from django.utils import timezone

from echo.redis import client as redis_client
from streams.chat import events, selectors
from streams.chat.models import (
    MAX_MESSAGE_LENGTH,
    ChatMessage,
    ChatModerator,
    ChatRestriction,
    ChatSettings,
)
from streams.models import Channel, Follow

log = logging.getLogger(__name__)

# Owncast's numbers: 3 messages per 2 s, then 10 s of silence.
BURST_MESSAGES = 3
BURST_SECONDS = 2
COOL_DOWN_SECONDS = 10
DUPLICATE_SECONDS = 30
MAX_SLOW_MODE_SECONDS = 120
TIMEOUT_SECONDS = (60, 86400)
# A timeout or ban hides the user's messages of this long ago for everyone (Twitch does).
PURGE_WINDOW = timedelta(hours=1)

LINK = re.compile(
    r"(https?://|www\.|\b[\w-]+\.(com|net|org|tv|io|gg|ly|me|co|xyz|ru|de|uk|info|app|dev|link)\b)",
    re.IGNORECASE,
)


@dataclass
class ChatRefused(Exception):
    """A message was not accepted; `message` is for the user."""

    code: str
    message: str
    retry_after: int | None = None
    until: datetime | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        until = self.until.isoformat().replace("+00:00", "Z") if self.until else None
        return {"code": self.code, "message": self.message, "until": until, "reason": self.reason}


class ChatDenied(Exception):
    """A moderation action by someone not allowed to take it."""


class ChatInvalid(Exception):
    """A moderation action with bad input; the message says what is wrong."""


# --- sending ---------------------------------------------------------------------


def send_refusal(*, user, channel: Channel, settings: ChatSettings) -> ChatRefused | None:
    """Why this user cannot write in this room at all now (rate limits aside), else None."""
    if not user.is_authenticated:
        return ChatRefused("login_required", "Log in to chat.")
    if not selectors.is_verified(user):
        return ChatRefused("unverified", "Confirm your e-mail address to chat.")
    restriction = ChatRestriction.objects.active().filter(channel=channel, user=user).first()
    if restriction is not None and restriction.kind == ChatRestriction.Kind.BAN:
        return ChatRefused("banned", "You are banned from this chat.", reason=restriction.reason)
    if restriction is not None:
        return ChatRefused(
            "timed_out", "You are timed out.", until=restriction.until, reason=restriction.reason
        )
    if settings.followers_only and not selectors.is_moderator(user, channel):
        if not Follow.objects.filter(user=user, channel=channel).exists():
            return ChatRefused("followers_only", "Only followers can chat here. Follow to chat.")
    return None


def _counter_keys(channel_id: int, user_id: int) -> tuple[str, str, str, str]:
    base = f"chat:{channel_id}:{user_id}"
    return f"{base}:burst", f"{base}:cool", f"{base}:slow", f"{base}:last"


def _seconds(milliseconds: int) -> int:
    return max(1, math.ceil(milliseconds / 1000))


def _check_counters(channel_id: int, user_id: int, digest: str, slow_mode: int) -> None:
    burst, cool, slow, last = _counter_keys(channel_id, user_id)
    r = redis_client()
    cool_ms, last_digest, slow_ms = r.pipeline().pttl(cool).get(last).pttl(slow).execute()
    if cool_ms > 0:
        raise ChatRefused(
            "rate_limited", "You are sending too fast. Wait a moment.", _seconds(cool_ms)
        )
    if last_digest is not None and last_digest.decode() == digest:
        raise ChatRefused("duplicate", "You just sent that message.")
    if slow_mode and slow_ms > 0:
        raise ChatRefused(
            "slow_mode", f"Slow mode: one message every {slow_mode} s.", _seconds(slow_ms)
        )
    # One transaction: the window's expiry is set with its first count, never lost.
    _, count = r.pipeline().set(burst, 0, nx=True, ex=BURST_SECONDS).incr(burst).execute()
    if count > BURST_MESSAGES:
        r.set(cool, 1, ex=COOL_DOWN_SECONDS)
        raise ChatRefused(
            "rate_limited", "You are sending too fast. Wait a moment.", COOL_DOWN_SECONDS
        )


def _remember_sent(channel_id: int, user_id: int, digest: str, slow_mode: int) -> None:
    _, _, slow, last = _counter_keys(channel_id, user_id)
    pipe = redis_client().pipeline().set(last, digest, ex=DUPLICATE_SECONDS)
    if slow_mode:
        pipe.set(slow, 1, ex=slow_mode)
    pipe.execute()


def message_send(*, channel: Channel, user, body: str) -> ChatMessage:
    """Store a message and send it to the room; ChatRefused says why not."""
    if not isinstance(body, str) or not body.strip():
        raise ChatRefused("empty", "Type a message first.")
    body = body.strip()
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ChatRefused("too_long", f"Messages are at most {MAX_MESSAGE_LENGTH} characters.")
    settings = selectors.settings_of(channel)
    refusal = send_refusal(user=user, channel=channel, settings=settings)
    if refusal is not None:
        raise refusal
    badges = selectors.badges_of(user, channel)
    if not settings.links_allowed and not badges and LINK.search(body):
        raise ChatRefused("links", "Links are not allowed in this chat.")
    slow_mode = 0 if badges else settings.slow_mode_seconds
    digest = hashlib.sha256(body.encode()).hexdigest()
    try:
        _check_counters(channel.pk, user.pk, digest, slow_mode)
    except redis.RedisError:
        log.warning("chat limits unavailable (Redis); message from %s let through", user)
    broadcast_id = (
        channel.broadcasts.filter(ended_at__isnull=True).values_list("pk", flat=True).first()
    )
    message = ChatMessage.objects.create(
        channel=channel, broadcast_id=broadcast_id, author=user, body=body
    )
    try:
        _remember_sent(channel.pk, user.pk, digest, slow_mode)
    except redis.RedisError:
        pass
    events.publish(channel.pk, [{"type": "message", **events.message_data(message, badges)}])
    return message


# --- moderation -------------------------------------------------------------------


def _require_moderator(by, channel: Channel) -> None:
    if not selectors.is_moderator(by, channel):
        raise ChatDenied("Only the streamer, moderators and staff can moderate this chat.")


def message_delete(*, channel: Channel, message_id: int, by) -> bool:
    """Hide a message for everyone; False if it was already deleted."""
    _require_moderator(by, channel)
    with transaction.atomic():
        # Locked: two moderators deleting at once record one deleter and one event.
        message = ChatMessage.objects.select_for_update().filter(channel=channel, pk=message_id)
        message = message.first()
        if message is None:
            raise ChatInvalid(f"No message {message_id} in {channel.name}'s chat.")
        if message.deleted_at is not None:
            return False
        message.deleted_at, message.deleted_by = timezone.now(), by
        message.save(update_fields=["deleted_at", "deleted_by"])
    events.publish(channel.pk, [{"type": "deleted", "ids": [message.pk]}])
    return True


def message_restore(*, message: ChatMessage) -> None:
    """Undo a deletion (staff, from the admin). Clients see it again on their next load."""
    ChatMessage.objects.filter(pk=message.pk).update(deleted_at=None, deleted_by=None)


def _restriction_event(restriction: ChatRestriction | None, kind: str, reason: str) -> dict:
    until = restriction.until if restriction else None
    return {
        "type": "restriction",
        "kind": kind,
        "until": until.isoformat().replace("+00:00", "Z") if until else None,
        "reason": reason,
    }


def restriction_create(
    *, channel: Channel, user, kind: str, by, seconds: int | None = None, reason: str = ""
) -> ChatRestriction:
    """Time a user out (seconds) or ban them (no end); replaces any restriction they had,
    and hides their recent messages for everyone."""
    _require_moderator(by, channel)
    if kind not in ChatRestriction.Kind.values:
        raise ChatInvalid('kind must be "timeout" or "ban".')
    if kind == ChatRestriction.Kind.TIMEOUT:
        low, high = TIMEOUT_SECONDS
        if not isinstance(seconds, int) or not low <= seconds <= high:
            raise ChatInvalid(f"A timeout lasts {low} to {high} seconds.")
    elif seconds is not None:
        raise ChatInvalid("A ban has no duration; leave seconds out.")
    if user.pk == by.pk:
        raise ChatInvalid("You can't restrict yourself.")
    if user.pk == channel.user_id or user.is_staff:
        raise ChatInvalid("The streamer and staff can't be restricted.")
    if selectors.is_moderator(user, channel) and not (by.is_staff or by.pk == channel.user_id):
        raise ChatDenied("Only the streamer or staff can restrict a moderator.")
    now = timezone.now()
    with transaction.atomic():
        # Lock the channel: two moderators acting at once leave one active restriction.
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        ChatRestriction.objects.active(now=now).filter(channel=channel, user=user).update(
            lifted_at=now, lifted_by=by
        )
        restriction = ChatRestriction.objects.create(
            channel=channel,
            user=user,
            kind=kind,
            until=now + timedelta(seconds=seconds) if seconds else None,
            reason=reason[:200],
            created_by=by,
        )
        recent = ChatMessage.objects.filter(
            channel=channel,
            author=user,
            deleted_at__isnull=True,
            created_at__gte=now - PURGE_WINDOW,
        )
        purged = list(recent.values_list("pk", flat=True))
        recent.update(deleted_at=now, deleted_by=by)
    if purged:
        events.publish(channel.pk, [{"type": "deleted", "ids": purged}])
    event = _restriction_event(restriction, kind, restriction.reason)
    events.publish(channel.pk, [event], user_id=user.pk)
    return restriction


def restriction_lift(*, channel: Channel, user, by) -> bool:
    """End the user's timeout or ban in this room; False if they had none."""
    _require_moderator(by, channel)
    with transaction.atomic():
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        active = ChatRestriction.objects.active().filter(channel=channel, user=user)
        lifted = active.update(lifted_at=timezone.now(), lifted_by=by)
    if lifted:
        events.publish(channel.pk, [_restriction_event(None, "lifted", "")], user_id=user.pk)
    return bool(lifted)


def _require_owner(by, channel: Channel) -> None:
    if not (by.is_staff or by.pk == channel.user_id):
        raise ChatDenied("Only the streamer (or staff) can appoint moderators.")


def moderator_add(*, channel: Channel, user, by) -> ChatModerator:
    _require_owner(by, channel)
    if user.pk == channel.user_id:
        raise ChatInvalid("The streamer moderates their own chat already.")
    moderator, _ = ChatModerator.objects.get_or_create(channel=channel, user=user)
    return moderator


def moderator_remove(*, channel: Channel, user, by) -> bool:
    _require_owner(by, channel)
    deleted, _ = ChatModerator.objects.filter(channel=channel, user=user).delete()
    return bool(deleted)


def settings_update(
    *,
    channel: Channel,
    by,
    slow_mode_seconds: int | None = None,
    followers_only: bool | None = None,
    links_allowed: bool | None = None,
) -> ChatSettings:
    """Change some of the room's settings and tell every client."""
    _require_moderator(by, channel)
    if slow_mode_seconds is not None and not 0 <= slow_mode_seconds <= MAX_SLOW_MODE_SECONDS:
        raise ChatInvalid(f"Slow mode is 0 (off) to {MAX_SLOW_MODE_SECONDS} seconds.")
    with transaction.atomic():
        ChatSettings.objects.get_or_create(channel=channel)
        # Locked: two moderators changing different settings at once keep both changes.
        settings = ChatSettings.objects.select_for_update().get(channel=channel)
        if slow_mode_seconds is not None:
            settings.slow_mode_seconds = slow_mode_seconds
        if followers_only is not None:
            settings.followers_only = followers_only
        if links_allowed is not None:
            settings.links_allowed = links_allowed
        settings.save()
    events.publish(channel.pk, [{"type": "settings", **settings.as_dict()}])
    return settings
