"""The jobs behind replays and clips, on an rq queue in the platform's Redis
(settings.REDIS_URL), run by `manage.py run_worker` (started by run_platform, or
echo-worker.service).

Every job is idempotent: it reads the row, writes its outputs under temporary names and
renames them into place (streams/media/recordings.py), then marks the row. A job
interrupted halfway (the worker killed) is put back on its queue when that worker starts
again (requeue_abandoned), and simply runs again. A job that keeps failing ends as
FAILED with its error on the row (the admin lists it) and in rq's failed registry.
"""

import functools
import logging

import redis
from django.conf import settings
from django.db import close_old_connections
from rq import Queue, Retry
from rq.job import Job
from rq.worker import SimpleWorker

from echo.redis import UNAVAILABLE
from streams.media import recordings as media

log = logging.getLogger(__name__)

# Clips first: a viewer waits for them; a replay's remux can take a while.
CLIPS, REPLAYS = "echo-clips", "echo-replays"
QUEUES = (CLIPS, REPLAYS)
# Three attempts in all, a little apart (a full disk may have room again):
# ECHO_JOB_RETRY_SECONDS, "10,60".
ATTEMPTS = 3
# An hour of stream remuxes in well under a minute; six hours of it is far below this.
REPLAY_TIMEOUT = 3600
CLIP_TIMEOUT = 300
FAILED_KEPT_SECONDS = 30 * 86400


@functools.cache
def _connection(url: str) -> redis.Redis:
    # Not echo.redis's client: its half-second socket timeout would cut the worker's
    # blocking wait for the next job.
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def connection() -> redis.Redis:
    return _connection(settings.REDIS_URL)


def queue(name: str) -> Queue:
    return Queue(name, connection=connection())


def _retry() -> Retry:
    return Retry(max=ATTEMPTS - 1, interval=settings.ECHO_JOB_RETRY_SECONDS or 0)


def replay_job_id(replay_id: int) -> str:
    return f"echo-replay-{replay_id}"


def clip_job_id(clip_id: int) -> str:
    return f"echo-clip-{clip_id}"


def job_known(job_id: str) -> bool:
    """Whether Redis still has the job (queued, running, scheduled for a retry, failed)."""
    return bool(connection().exists(Job.key_for(job_id)))


def enqueue_replay_build(replay_id: int) -> None:
    """Redis away: logged, and the reconcile loop queues it once Redis is back (the row
    stays PROCESSING with no job)."""
    try:
        _enqueue_replay_build(replay_id)
    except UNAVAILABLE as exc:
        log.warning(
            "replay %s not queued, Redis does not answer (%s): retried later", replay_id, exc
        )


def _enqueue_replay_build(replay_id: int) -> None:
    queue(REPLAYS).enqueue(
        replay_build,
        replay_id,
        job_id=replay_job_id(replay_id),
        job_timeout=REPLAY_TIMEOUT,
        retry=_retry(),
        failure_ttl=FAILED_KEPT_SECONDS,
        description=f"replay {replay_id}: remux, duration, thumbnail",
    )


def enqueue_clip_cut(clip_id: int, source: str) -> None:
    """Redis away: the clip fails at once (its page says so), rather than waiting."""
    try:
        queue(CLIPS).enqueue(
            clip_cut,
            clip_id,
            source,
            job_id=clip_job_id(clip_id),
            job_timeout=CLIP_TIMEOUT,
            failure_ttl=FAILED_KEPT_SECONDS,
            description=f"clip {clip_id}",
        )
    except UNAVAILABLE as exc:
        from streams.replays.models import Clip

        log.warning("clip %s not queued, Redis does not answer (%s)", clip_id, exc)
        Clip.objects.filter(pk=clip_id).update(
            status=Clip.Status.FAILED, error="the job queue (Redis) did not answer"
        )


def enqueue_retention() -> None:
    queue(REPLAYS).enqueue(replays_expire, job_timeout=REPLAY_TIMEOUT, description="retention")


# --- the jobs -----------------------------------------------------------------------


def replay_build(replay_id: int) -> str:
    """Remux the broadcast's FLV(s) to one MP4 (+faststart), read its duration, take a
    thumbnail; then the replay is READY and the FLVs go."""
    from streams.replays import services

    close_old_connections()
    replay = services.replay_attempt(replay_id=replay_id)
    if replay is None:
        return "nothing to do"
    video, picture = services.replay_files(replay.token)
    try:
        sources = services.replay_sources(replay)
        if not sources:
            raise media.MediaError("no recording file is left for this broadcast")
        media.remux(sources, video, timeout=REPLAY_TIMEOUT)
        seconds = media.duration(video)
        media.thumbnail(video, picture, at=min(10.0, seconds / 3))
    except Exception as exc:
        services.replay_failed(replay=replay, error=str(exc), final=replay.attempts >= ATTEMPTS)
        raise
    finally:
        close_old_connections()
    services.replay_ready(replay=replay, duration=seconds, size=video.stat().st_size)
    services.recordings_discard(replay=replay)
    return f"ready: {seconds:.1f} s"


def clip_cut(clip_id: int, source: str) -> str:
    from pathlib import Path

    from streams.replays import clips, services
    from streams.replays.models import Clip

    close_old_connections()
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None or clip.status == Clip.Status.READY:
        return "nothing to do"
    video, picture = services.replay_files(clip.token)
    try:
        media.cut(Path(source), video, start=clip.start, length=clip.length)
        seconds = media.duration(video)
        media.thumbnail(video, picture, at=min(1.0, seconds / 2))
    except Exception as exc:
        clips.clip_failed(clip=clip, error=str(exc))
        raise
    finally:
        close_old_connections()
    clips.clip_ready(clip=clip, duration=seconds)
    return f"ready: {seconds:.1f} s"


def replays_expire() -> str:
    from streams.replays import services

    close_old_connections()
    try:
        return f"deleted {services.replays_expire()} replay(s)"
    finally:
        close_old_connections()


# --- the worker ---------------------------------------------------------------------


def remove_stale_scratch(older_than: float = REPLAY_TIMEOUT) -> int:
    """Half-written outputs and remux scratch a killed job left behind. Only what is older
    than a job may run: other workers on this machine may be writing theirs now."""
    import shutil
    import time
    from pathlib import Path

    cutoff = time.time() - older_than
    removed = 0
    for path in Path(settings.ECHO_REPLAYS_PATH).glob(".*"):
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
        except OSError:
            continue
    return removed


def worker(name: str) -> SimpleWorker:
    # SimpleWorker: the job runs in the worker's own process (no fork), so Django's
    # database connections stay its own, and killing the worker kills the job (and,
    # through PR_SET_PDEATHSIG, its ffmpeg).
    return SimpleWorker([queue(q) for q in QUEUES], connection=connection(), name=name)


def requeue_abandoned(name: str) -> list[str]:
    """Put back on their queues the jobs a previous worker of this name was running when
    it died (SIGKILL, power loss), and forget that worker. rq itself would only notice
    them once their timeout expired (an hour for a replay).

    Run before the worker starts: one worker per name runs at a time (systemd, run_platform)."""
    requeued = []
    conn = connection()
    for name_of_queue in QUEUES:
        q = queue(name_of_queue)
        registry = q.started_job_registry
        for job_id, _execution in registry.get_job_and_execution_ids(cleanup=False):
            job = Job.fetch(job_id, connection=conn) if conn.exists(Job.key_for(job_id)) else None
            if job is not None and job.worker_name not in ("", None, name):
                continue  # another worker's, alive or not: its own restart handles it
            if job is None:
                conn.zrem(registry.key, f"{job_id}:{_execution}")
                continue
            registry.remove_executions(job)
            conn.zrem(registry.key, f"{job_id}:{_execution}")
            q.enqueue_job(job, at_front=True)
            requeued.append(job_id)
    stale = worker(name)
    if conn.exists(stale.key) and not conn.hexists(stale.key, "death"):
        from rq import worker_registration

        worker_registration.unregister(stale)
        conn.delete(stale.key)
    if requeued:
        log.warning("requeued %d job(s) interrupted when worker %s stopped", len(requeued), name)
    return requeued
