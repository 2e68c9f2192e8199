"""Renditions: which live broadcasts are transcoded, and what their transcoders report.

nginx starts a supervisor per broadcast (streams/media/transcoder.py, the template's
``transcode`` application); it asks here for a slot (``transcode_claim``) and reports
every few seconds (``transcode_report``) through the ``on-transcode`` callback. At most
ECHO_TRANSCODE_MAX broadcasts hold a slot at once; the others are played as sent (the
dashboard and the admin say so), and their supervisors ask again every few seconds, so
a slot freed by a broadcast that ends goes to one that waits.

These are the renditions' services: every write of a broadcast's ``transcode_*`` fields
happens here.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from echo.db import retry_on_deadlock
from streams.media.playlists import SOURCE_SUFFIX
from streams.models import Broadcast, TranscodeState

log = logging.getLogger(__name__)

# A supervisor reports every 5 s: one not heard from for this long (nginx was killed,
# say) holds no slot any more.
SLOT_EXPIRES = timedelta(seconds=30)
HOLDING = (TranscodeState.STARTING, TranscodeState.RUNNING, TranscodeState.RESTARTING)
# Reported without a slot: the broadcast is played as sent meanwhile.
SOURCE_ONLY = (TranscodeState.SOURCE, TranscodeState.BEHIND)
# Below this speed a transcoder falls behind the broadcast (logged, shown in the admin);
# below it for ECHO_TRANSCODE_BEHIND_SECONDS, it gives up for a while (transcoder.py).
BEHIND_SPEED = 0.95
CAPPED_RETRY_SECONDS = 5


def ladder() -> list[dict]:
    return [
        {"height": height, "fps": fps, "kbps": kbps}
        for height, fps, kbps in settings.ECHO_RENDITIONS
    ]


def _holds_slot(broadcast: Broadcast, now) -> bool:
    seen = broadcast.transcode_seen_at
    return broadcast.transcode_state in HOLDING and seen is not None and now - seen < SLOT_EXPIRES


def _live_broadcasts_locked() -> list[Broadcast]:
    # Every live broadcast, locked in one order: two transcoders asking at once are
    # counted one after the other (without the lock both could take the last slot),
    # and the same order everywhere means no deadlock. (SQLite: the whole transaction is
    # serialized by its IMMEDIATE mode.)
    return list(
        Broadcast.objects.select_for_update()
        .filter(ended_at__isnull=True)
        .select_related("channel__user")
        .order_by("pk")
    )


def _take_slot(broadcast: Broadcast, live: list[Broadcast], now) -> bool:
    """Mark the broadcast as transcoded if a slot is free (or it holds one already)."""
    if _holds_slot(broadcast, now):
        return True
    held = sum(1 for other in live if other.pk != broadcast.pk and _holds_slot(other, now))
    if held >= settings.ECHO_TRANSCODE_MAX:
        if broadcast.transcode_state != TranscodeState.CAPPED:
            log.info(
                "broadcast %s of %s played as sent: %s of %s transcodes in use",
                broadcast.pk,
                broadcast.channel.name,
                held,
                settings.ECHO_TRANSCODE_MAX,
            )
        broadcast.transcode_state = TranscodeState.CAPPED
        broadcast.transcode_levels = ""
        broadcast.transcode_speed = None
        broadcast.save(update_fields=["transcode_state", "transcode_levels", "transcode_speed"])
        return False
    broadcast.transcode_state = TranscodeState.STARTING
    broadcast.transcode_seen_at = now
    broadcast.save(update_fields=["transcode_state", "transcode_seen_at"])
    return True


def _refusal(reason: str, retry: int) -> dict:
    return {"granted": False, "reason": reason, "retry": retry}


@retry_on_deadlock
def transcode_claim(*, name: str) -> dict:
    """A supervisor asks to transcode the channel's live broadcast: the ladder, or why not
    (and when to ask again)."""
    if not settings.ECHO_RENDITIONS or settings.ECHO_TRANSCODE_MAX < 1:
        return _refusal("renditions are off", 60)
    with transaction.atomic():
        live = _live_broadcasts_locked()
        broadcast = next((b for b in live if b.channel.name == name), None)
        if broadcast is None:
            return _refusal("not live", 2)
        if not _take_slot(broadcast, live, timezone.now()):
            return _refusal("transcoding limit reached", CAPPED_RETRY_SECONDS)
    log.info("broadcast %s of %s transcoded", broadcast.pk, name)
    return {
        "granted": True,
        "ladder": ladder(),
        "behind_speed": BEHIND_SPEED,
        "behind_seconds": settings.ECHO_TRANSCODE_BEHIND_SECONDS,
    }


@retry_on_deadlock
def transcode_report(
    *, name: str, state: str, levels: list[str], speed: float | None, restarts: int
) -> dict:
    """A supervisor's status. granted False: it holds no slot (it expired and another
    broadcast took it) and must stop."""
    now = timezone.now()
    with transaction.atomic():
        live = _live_broadcasts_locked()
        broadcast = next((b for b in live if b.channel.name == name), None)
        if broadcast is None:
            return _refusal("not live", 2)
        gave_up = (
            state == TranscodeState.BEHIND and broadcast.transcode_state != TranscodeState.BEHIND
        )
        if state in SOURCE_ONLY:
            broadcast.transcode_state = state  # its slot, if it held one, is free
        elif not _take_slot(broadcast, live, now):
            return _refusal("transcoding limit reached", CAPPED_RETRY_SECONDS)
        else:
            broadcast.transcode_state = state
        broadcast.transcode_levels = ",".join(levels)
        broadcast.transcode_speed = speed
        broadcast.transcode_restarts = restarts
        broadcast.transcode_seen_at = now
        broadcast.save(
            update_fields=[
                "transcode_state",
                "transcode_levels",
                "transcode_speed",
                "transcode_restarts",
                "transcode_seen_at",
            ]
        )
    if gave_up:
        log.warning(
            "transcoder of %s gave up, behind real time for %d s: played as sent for now",
            name,
            settings.ECHO_TRANSCODE_BEHIND_SECONDS,
        )
    elif speed is not None and speed < BEHIND_SPEED:
        log.warning("transcoder of %s behind real time: speed %.2fx", name, speed)
    return {"granted": True}


@retry_on_deadlock
def transcode_release(*, name: str) -> dict:
    """The supervisor stopped (the broadcast ended, or nginx stops): its slot is free."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update()
            .filter(ended_at__isnull=True, channel__user__username=name)
            .first()
        )
        if broadcast is not None and broadcast.transcode_state in HOLDING:
            broadcast.transcode_state = TranscodeState.STOPPED
            broadcast.transcode_levels = ""
            broadcast.transcode_speed = None
            broadcast.save(update_fields=["transcode_state", "transcode_levels", "transcode_speed"])
    return {"granted": False, "reason": "released", "retry": 60}


def level_labels(broadcast: Broadcast) -> list[str]:
    """The levels viewers can choose now, for pages: "Source", "720p30", ..."""
    return [
        "Source" if suffix == SOURCE_SUFFIX else suffix
        for suffix in filter(None, broadcast.transcode_levels.split(","))
    ]


def is_behind(broadcast: Broadcast) -> bool:
    return broadcast.transcode_speed is not None and broadcast.transcode_speed < BEHIND_SPEED
