"""The job worker for replays and clips (streams/replays/jobs.py), as run_platform and
echo-worker.service run it: one process per --name, jobs one at a time."""

import logging
import os
import socket

from django.core.management.base import BaseCommand
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from echo.redis import UNAVAILABLE, report_unavailable
from streams.media import recordings
from streams.replays import jobs

# A Redis that is down (restarting, or not yet up at boot) is waited for, 1, 2, 4 … 30 s
# apart, as rq's own loop waits for it once the worker runs: exiting instead would take
# run_platform's whole site down with it.
STARTUP_RETRY = Retry(
    ExponentialBackoff(cap=30, base=0.5), retries=-1, supported_errors=UNAVAILABLE
)


class Command(BaseCommand):
    help = "Run replay and clip jobs from the Redis queue until stopped (SIGTERM finishes the job)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--name",
            default=f"echo-worker-{socket.gethostname()}",
            help="this worker's name: one running worker per name (its jobs are requeued "
            "when it starts again)",
        )

    def handle(self, *args, name: str, **options) -> None:
        # rq forks its scheduler (retries' delays): killed with the worker, not orphaned.
        os.register_at_fork(after_in_child=recordings.die_with_parent)
        jobs.remove_stale_scratch()
        requeued = STARTUP_RETRY.call_with_retry(
            lambda: jobs.requeue_abandoned(name),
            lambda exc: report_unavailable(exc, consequence="the job worker waits for it"),
        )
        if requeued:
            self.stderr.write(f"requeued {len(requeued)} interrupted job(s)")
        worker = jobs.worker(name)
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        # with_scheduler: retries wait in rq's scheduled registry until their time.
        worker.work(with_scheduler=True, logging_level=level)
