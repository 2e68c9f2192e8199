"""Reads of replays and clips that pages and the API share: who may see what."""

from datetime import timedelta

from django.http import Http404

from streams.models import Channel
from streams.replays.models import Clip, Recording, Replay

CHAT_REPLAY_LIMIT = 5000


def _manages(user, channel: Channel) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or user.pk == channel.user_id))


def replay_visible(replay: Replay, user) -> bool:
    """Anyone sees a public replay; its channel's owner and staff see any of it."""
    if _manages(user, replay.channel):
        return True
    return Replay.objects.public().filter(pk=replay.pk).exists()


def replay_list(*, channel: Channel, user, limit: int = 20) -> list[Replay]:
    """The channel's past broadcasts, newest first; the owner also sees hidden, processing
    and failed ones. A banned channel lists none to others."""
    replays = Replay.objects.filter(channel=channel).select_related("channel__user")
    if not _manages(user, channel):
        replays = replays.public()
    return list(replays[:limit])


def past_broadcasts(*, channel: Channel, user, limit: int = 12) -> list[dict]:
    """The channel's ended broadcasts, newest first, each with its replay when this user
    may watch it (else None: not recorded, hidden, processing, a banned channel's)."""
    broadcasts = list(channel.broadcasts.filter(ended_at__isnull=False)[:limit])
    replays = Replay.objects.filter(broadcast__in=broadcasts).select_related("channel__user")
    if not _manages(user, channel):
        replays = replays.public()
    by_broadcast = {replay.broadcast_id: replay for replay in replays}
    return [{"broadcast": b, "replay": by_broadcast.get(b.pk)} for b in broadcasts]


def replay_get(*, channel_name: str, replay_id: int, user) -> Replay:
    replay = (
        Replay.objects.select_related("channel__user", "broadcast")
        .filter(pk=replay_id, channel__user__username=channel_name)
        .first()
    )
    if replay is None or not replay_visible(replay, user):
        raise Http404("No such replay")
    return replay


def clip_visible(clip: Clip, user) -> bool:
    if _manages(user, clip.channel) or (user and user.pk == clip.created_by_id):
        return True
    channel = clip.channel
    return (
        clip.status == Clip.Status.READY
        and not channel.streaming_banned
        and channel.user.is_active
        and (clip.replay_id is None or not clip.replay.hidden)
    )


def clip_list(*, channel: Channel, user, limit: int = 20) -> list[Clip]:
    clips = Clip.objects.filter(channel=channel).select_related(
        "channel__user", "created_by", "replay"
    )
    return [clip for clip in clips[: limit * 2] if clip_visible(clip, user)][:limit]


def clip_get(*, slug: str, user) -> Clip:
    clip = (
        Clip.objects.select_related("channel__user", "created_by", "replay", "broadcast")
        .filter(slug=slug)
        .first()
    )
    if clip is None or not clip_visible(clip, user):
        raise Http404("No such clip")
    return clip


def file_owner(token: str) -> Replay | Clip | None:
    return (
        Replay.objects.select_related("channel__user").filter(token=token).first()
        or Clip.objects.select_related("channel__user", "replay").filter(token=token).first()
    )


def replay_zero(replay: Replay):
    """The wall-clock moment at the replay's second 0: when its first recording began."""
    first = replay.broadcast.recordings.exclude(path="").order_by("started_at").first()
    return first.started_at if first else replay.broadcast.started_at


def replay_chat(replay: Replay) -> list[dict]:
    """The broadcast's chat, each message with its second in the replay."""
    zero = replay_zero(replay)
    until = (replay.broadcast.ended_at or zero) + timedelta(seconds=5)
    messages = (
        replay.broadcast.chat_messages.filter(deleted_at__isnull=True, created_at__lte=until)
        .select_related("author")
        .order_by("created_at", "id")[:CHAT_REPLAY_LIMIT]
    )
    return [
        {
            "at": round(max(0.0, (m.created_at - zero).total_seconds()), 2),
            "author": m.author.username,
            "body": m.body,
        }
        for m in messages
    ]


def recording_now(channel: Channel) -> Recording | None:
    return (
        Recording.objects.filter(
            broadcast__channel=channel,
            broadcast__ended_at__isnull=True,
            status=Recording.Status.RECORDING,
        )
        .select_related("broadcast")
        .first()
    )
