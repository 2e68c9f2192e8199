"""Every change of a recording or replay (clips: clips.py). Callbacks (on_record_done), the reconcile
loop, jobs, pages, the API and the admin call these; none of them writes the rows or the
files itself.

A broadcast's life here: on_publish asks nginx to start recording (recording_start_soon;
the reconcile loop retries), on_record_done marks the FLV done and schedules the replay's
job, which remuxes it (jobs.replay_build). nginx killed mid-broadcast sends no
on_record_done: the reconcile loop finishes those recordings once the broadcast has ended.
"""

import logging
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from echo.db import retry_on_deadlock
from echo.redis import UNAVAILABLE, client
from streams.media import control
from streams.models import Broadcast, Channel
from streams.replays import jobs
from streams.replays.models import Clip, Recording, Replay, ReplaySettings

log = logging.getLogger(__name__)

# on_publish answers before nginx has pushed the stream to `live`: ask until it is there.
START_RETRY_SECONDS = 10.0
# A recording whose broadcast ended this long ago without on_record_done was cut short
# (nginx killed): on_record_done normally follows the end within a second.
RECORD_DONE_GRACE = timedelta(seconds=10)
# Someone fetched bytes of a replay this recently: retention leaves it for the next round.
WATCH_SECONDS = 15 * 60
RETENTION_EVERY_SECONDS = 3600
# A job still unfinished this long after its row was made, and unknown to Redis, was lost.
LOST_JOB_AFTER = timedelta(minutes=2)


# --- settings and disk ------------------------------------------------------------


def recording_enabled(channel: Channel) -> bool:
    preference = ReplaySettings.objects.filter(channel=channel).first()
    return preference is None or preference.recording_enabled


def replay_settings_update(*, channel: Channel, recording_enabled: bool) -> ReplaySettings:
    preference, _ = ReplaySettings.objects.update_or_create(
        channel=channel, defaults={"recording_enabled": recording_enabled}
    )
    return preference


def low_disk_reason() -> str | None:
    """Why recording must pause now (free space under the threshold), or None."""
    directory = Path(settings.ECHO_RECORDINGS_PATH)
    try:
        free = shutil.disk_usage(directory).free // (1024 * 1024)
    except OSError as exc:
        return f"recordings directory unusable: {exc.strerror}"
    if free < settings.ECHO_RECORDING_MIN_FREE_MB:
        return (
            f"{free} MB free on the recordings' disk, below ECHO_RECORDING_MIN_FREE_MB"
            f" ({settings.ECHO_RECORDING_MIN_FREE_MB} MB)"
        )
    return None


def replay_files(token: str) -> tuple[Path, Path]:
    """The MP4 and the JPEG of a replay or clip."""
    directory = Path(settings.ECHO_REPLAYS_PATH)
    return directory / f"{token}.mp4", directory / f"{token}.jpg"


# --- recording --------------------------------------------------------------------


def _pause_note(broadcast: Broadcast, reason: str) -> None:
    paused = broadcast.recordings.filter(status=Recording.Status.PAUSED, path="").first()
    if paused is None:
        log.warning("recording of %s paused: %s", broadcast.channel.name, reason)
        Recording.objects.create(broadcast=broadcast, status=Recording.Status.PAUSED, note=reason)


def recording_start(*, broadcast: Broadcast) -> Recording | None:
    """Ask nginx to record the live broadcast; the new Recording, or None (not wanted,
    no room, or nginx has no such stream yet, or records it already)."""
    if broadcast.ended_at is not None or not recording_enabled(broadcast.channel):
        return None
    reason = low_disk_reason()
    if reason:
        _pause_note(broadcast, reason)
        return None
    path = control.record_start(name=broadcast.channel.name)
    if path is None:
        return None
    if not Path(path).is_file():
        log.error("nginx could not write %s: is record_path writable by its workers?", path)
        return None
    with transaction.atomic():
        broadcast.recordings.filter(status=Recording.Status.PAUSED, path="").update(
            note="", ended_at=timezone.now()
        )
        recording = Recording.objects.create(broadcast=broadcast, path=path)
    log.info("recording %s of %s", recording.pk, broadcast.channel.name)
    return recording


def _adopt_untracked(broadcast: Broadcast) -> None:
    """nginx has the stream but would not start recording: it may be recording already,
    into a file Django never heard of (it died between nginx's answer and the insert).
    Close that file as a part of this broadcast, and start a tracked one."""
    if timezone.now() - broadcast.started_at < timedelta(seconds=START_RETRY_SECONDS):
        return  # recording_start_soon() may still be starting it
    path = control.record_stop(name=broadcast.channel.name)
    if path is None or not Path(path).is_file():
        return
    log.warning("recording %s of %s was untracked: kept as a part", path, broadcast.channel.name)
    Recording.objects.create(
        broadcast=broadcast,
        path=path,
        status=Recording.Status.DONE,
        started_at=broadcast.started_at,
        ended_at=timezone.now(),
        note="adopted: nginx was recording without Django knowing",
    )
    time.sleep(1)  # nginx names files by the second: the next one needs a name of its own
    recording_start(broadcast=broadcast)


def recording_start_soon(*, broadcast_id: int) -> None:
    """recording_start() in a thread once the publish is committed, retried until nginx
    has the stream in `live` (a fraction of a second after on_publish's answer)."""

    def run() -> None:
        try:
            deadline = time.monotonic() + START_RETRY_SECONDS
            while time.monotonic() < deadline:
                broadcast = Broadcast.objects.select_related("channel__user").get(pk=broadcast_id)
                if broadcast.ended_at is not None or broadcast.recordings.exists():
                    return
                if not recording_enabled(broadcast.channel) or recording_start(broadcast=broadcast):
                    return
                time.sleep(0.1)
        except Exception:
            log.exception("starting the recording of broadcast %s failed", broadcast_id)
        finally:
            close_old_connections()

    transaction.on_commit(lambda: threading.Thread(target=run, daemon=True).start())


@retry_on_deadlock
def recording_done(*, path: str) -> Recording | None:
    """nginx closed an FLV (on_record_done): the broadcast ended, or we paused it."""
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update()
            .select_related("broadcast__channel__user")
            .filter(path=path)
            .exclude(status=Recording.Status.DONE)
            .first()
        )
        if recording is None:
            return None
        paused = recording.status == Recording.Status.PAUSED
        recording.status = Recording.Status.DONE
        recording.ended_at = timezone.now()
        recording.save(update_fields=["status", "ended_at"])
        if not paused:
            replay_schedule(broadcast=recording.broadcast)
    return recording


def _pause(recording: Recording, reason: str) -> None:
    # PAUSED before asking nginx: its on_record_done must not schedule the replay.
    recording.status = Recording.Status.PAUSED
    recording.note = reason
    recording.save(update_fields=["status", "note"])
    name = recording.broadcast.channel.name
    transaction.on_commit(lambda: control.record_stop(name=name))
    log.warning("recording of %s paused: %s", name, reason)


def recordings_reconcile() -> None:
    """Every few seconds (the reconcile loop): start recordings nginx should be making,
    pause them when the disk runs low, finish those nginx died writing, and retention."""
    reason = low_disk_reason()
    live = Broadcast.objects.filter(ended_at__isnull=True).select_related("channel__user")
    for broadcast in live:
        recording = broadcast.recordings.filter(status=Recording.Status.RECORDING).first()
        if recording is not None and reason:
            with transaction.atomic():
                _pause(recording, reason)
        elif recording is None and recording_enabled(broadcast.channel):
            if reason:
                _pause_note(broadcast, reason)
            elif recording_start(broadcast=broadcast) is None:
                _adopt_untracked(broadcast)
    cut_short = Recording.objects.filter(
        status__in=[Recording.Status.RECORDING, Recording.Status.PAUSED],
        broadcast__ended_at__lt=timezone.now() - RECORD_DONE_GRACE,
    ).select_related("broadcast__channel__user")
    for recording in cut_short:
        with transaction.atomic():
            interrupted = recording.status == Recording.Status.RECORDING
            recording.status = Recording.Status.DONE
            recording.ended_at = recording.broadcast.ended_at
            if interrupted:
                recording.note = "cut short: nginx never closed the file"
            recording.save(update_fields=["status", "ended_at", "note"])
            replay_schedule(broadcast=recording.broadcast)
    # Paused for disk and ended while paused: its files closed before the end, and nothing
    # else schedules the replay.
    closed = Recording.objects.filter(
        status=Recording.Status.DONE,
        broadcast__ended_at__lt=timezone.now() - RECORD_DONE_GRACE,
        broadcast__replay__isnull=True,
    ).exclude(path="")
    for broadcast in Broadcast.objects.filter(pk__in=closed.values("broadcast_id")):
        with transaction.atomic():
            replay_schedule(broadcast=broadcast)
    _requeue_lost_jobs()
    if settings.ECHO_REPLAY_RETENTION_DAYS and _retention_due():
        jobs.enqueue_retention()


def _requeue_lost_jobs() -> None:
    """Jobs Redis lost (restarted without persistence, flushed): the rows still say what
    is unfinished. A replay is queued again; a clip, which a viewer waits for, fails."""
    settled = timezone.now() - LOST_JOB_AFTER
    try:
        for replay in Replay.objects.filter(
            status=Replay.Status.PROCESSING, created_at__lt=settled
        ):
            if not jobs.job_known(jobs.replay_job_id(replay.pk)):
                log.warning("replay %s had no job in Redis: queued again", replay.pk)
                jobs.enqueue_replay_build(replay.pk)
        for clip in Clip.objects.filter(status=Clip.Status.PROCESSING, created_at__lt=settled):
            if not jobs.job_known(jobs.clip_job_id(clip.pk)):
                Clip.objects.filter(pk=clip.pk).update(
                    status=Clip.Status.FAILED,
                    error="its job was lost (Redis restarted): clip again",
                )
    except UNAVAILABLE:
        pass  # Redis is away: next round


def _retention_due() -> bool:
    try:
        return bool(client().set("echo:replays:retention", 1, nx=True, ex=RETENTION_EVERY_SECONDS))
    except UNAVAILABLE:
        return False


# --- replays ----------------------------------------------------------------------


def replay_schedule(*, broadcast: Broadcast) -> Replay | None:
    """Queue the job that turns the broadcast's recordings into its replay (once)."""
    recordings = broadcast.recordings
    if recordings.filter(status=Recording.Status.RECORDING).exists():
        return None  # the rest of it is still being written
    if not recordings.filter(status=Recording.Status.DONE).exclude(path="").exists():
        return None  # nothing was recorded (the disk was low all along)
    replay, created = Replay.objects.get_or_create(
        broadcast=broadcast,
        defaults={"channel": broadcast.channel, "title": broadcast.title},
    )
    if created or replay.status == Replay.Status.FAILED:
        replay_id = replay.pk
        transaction.on_commit(lambda: jobs.enqueue_replay_build(replay_id))
    return replay


def replay_retry(*, replay: Replay) -> None:
    """Staff (the admin) run a failed replay's job again."""
    Replay.objects.filter(pk=replay.pk).update(status=Replay.Status.PROCESSING, attempts=0)
    jobs.enqueue_replay_build(replay.pk)


def replay_attempt(*, replay_id: int) -> Replay | None:
    """A job starts on this replay: count the attempt. None: nothing to do (deleted, done)."""
    with transaction.atomic():
        replay = (
            Replay.objects.select_for_update()
            .select_related("broadcast__channel__user")
            .filter(pk=replay_id)
            .first()
        )
        if replay is None or replay.status == Replay.Status.READY:
            return None
        replay.attempts += 1
        replay.status = Replay.Status.PROCESSING
        replay.save(update_fields=["attempts", "status"])
    return replay


def replay_sources(replay: Replay) -> list[Path]:
    recordings = replay.broadcast.recordings.filter(status=Recording.Status.DONE).exclude(path="")
    return [Path(r.path) for r in recordings if Path(r.path).is_file()]


def replay_ready(*, replay: Replay, duration: float, size: int) -> None:
    Replay.objects.filter(pk=replay.pk).update(
        status=Replay.Status.READY,
        duration=duration,
        size_bytes=size,
        error="",
        ready_at=timezone.now(),
    )
    log.info("replay %s of %s ready (%.1f s)", replay.pk, replay.channel.name, duration)


def replay_failed(*, replay: Replay, error: str, final: bool) -> None:
    status = Replay.Status.FAILED if final else Replay.Status.PROCESSING
    Replay.objects.filter(pk=replay.pk).update(status=status, error=error[:4000])
    log.warning("replay %s failed (attempt %d): %s", replay.pk, replay.attempts, error[:300])


def replay_update(*, replay: Replay, title: str | None = None, hidden: bool | None = None):
    fields = []
    if title is not None:
        replay.title = title.strip()[:140]
        fields.append("title")
    if hidden is not None:
        replay.hidden = hidden
        fields.append("hidden")
    if fields:
        replay.save(update_fields=fields)
    return replay


def remove_files(token: str) -> None:
    for path in replay_files(token):
        path.unlink(missing_ok=True)


def replay_delete(*, replay: Replay) -> None:
    """The row and its files (and the FLVs it was made from). A download in progress ends
    with the bytes nginx had already opened; the player's next range request gets 404."""
    recordings = replay.broadcast.recordings.all()
    sources = [Path(r.path) for r in recordings if r.path]
    token = replay.token
    with transaction.atomic():
        # The rows too: a broadcast without a replay but with recordings would be
        # scheduled again (recordings_reconcile).
        recordings.delete()
        replay.delete()
    remove_files(token)
    for path in sources:
        path.unlink(missing_ok=True)


def recordings_discard(*, replay: Replay) -> None:
    """The FLVs once the MP4 holds everything in them."""
    for recording in replay.broadcast.recordings.exclude(path=""):
        Path(recording.path).unlink(missing_ok=True)


def replay_watched(token: str) -> None:
    try:
        client().set(f"echo:replays:watched:{token}", 1, ex=WATCH_SECONDS)
    except UNAVAILABLE:
        pass


def _being_watched(token: str) -> bool:
    try:
        return bool(client().exists(f"echo:replays:watched:{token}"))
    except UNAVAILABLE:
        return True  # can't tell: keep it until the next round


def replays_expire(*, now=None) -> int:
    """Delete replays past ECHO_REPLAY_RETENTION_DAYS, files and rows together; one that
    someone fetched in the last WATCH_SECONDS waits for a later round."""
    days = settings.ECHO_REPLAY_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    for replay in Replay.objects.filter(created_at__lt=cutoff).select_related("broadcast"):
        if _being_watched(replay.token):
            log.info("replay %s past retention but being watched: kept for now", replay.pk)
            continue
        replay_delete(replay=replay)
        deleted += 1
    return deleted
