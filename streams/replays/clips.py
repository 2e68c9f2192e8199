"""Every change of a clip: made from a live broadcast's recording or a replay, cut by the
worker (jobs.clip_cut), deleted with its files."""

from pathlib import Path

from django.db import transaction
from django.utils import timezone

from streams.models import Broadcast
from streams.replays import jobs
from streams.replays.models import Clip, Recording, Replay
from streams.replays.services import remove_files, replay_files

CLIP_MIN_SECONDS = 5
CLIP_MAX_SECONDS = 60
CLIP_DEFAULT_SECONDS = 30


class ClipRefused(Exception):
    """The clip cannot be made; the message says why, for the person asking."""


def _clip_source(broadcast: Broadcast, replay: Replay | None) -> tuple[Path, float]:
    """The file to cut from and how many seconds of media it holds now."""
    if replay is not None:
        if replay.status != Replay.Status.READY:
            raise ClipRefused("This replay is not ready yet.")
        return replay_files(replay.token)[0], replay.duration or 0.0
    recording = broadcast.recordings.filter(status=Recording.Status.RECORDING).last()
    if broadcast.ended_at is not None or recording is None:
        raise ClipRefused("This channel is not being recorded right now, so it can't be clipped.")
    return Path(recording.path), (timezone.now() - recording.started_at).total_seconds()


def clip_create(
    *,
    user,
    broadcast: Broadcast,
    replay: Replay | None = None,
    title: str,
    length: float = CLIP_DEFAULT_SECONDS,
    start: float | None = None,
) -> Clip:
    """A clip of a live broadcast's last `length` seconds, or of a replay from `start`."""
    title = " ".join(title.split())[:140]
    if not title:
        raise ClipRefused("Give the clip a title.")
    if not CLIP_MIN_SECONDS <= length <= CLIP_MAX_SECONDS:
        raise ClipRefused(f"A clip is {CLIP_MIN_SECONDS} to {CLIP_MAX_SECONDS} seconds long.")
    source, available = _clip_source(broadcast, replay)
    if replay is None:
        start = max(0.0, available - length)
    elif start is None or not 0 <= start < available:
        raise ClipRefused(f"Start between 0 and {int(available)} seconds.")
    clip = Clip.objects.create(
        channel=broadcast.channel,
        broadcast=broadcast,
        replay=replay,
        created_by=user,
        title=title,
        start=start,
        length=min(length, available - start) if replay else length,
    )
    clip_id, path = clip.pk, str(source)
    transaction.on_commit(lambda: jobs.enqueue_clip_cut(clip_id, path))
    return clip


def clip_ready(*, clip: Clip, duration: float) -> None:
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.READY, duration=duration, error="", ready_at=timezone.now()
    )


def clip_failed(*, clip: Clip, error: str) -> None:
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED, error=error[:4000])


def clip_delete(*, clip: Clip) -> None:
    token = clip.token
    clip.delete()
    remove_files(token)
