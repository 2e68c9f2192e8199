"""The job worker for replays and clips (streams/replays/jobs.py), as run_platform and
echo-worker.service run it: one process per --name, jobs one at a time."""

import logging
import os
import socket

from django.core.management.base import BaseCommand

from streams.media import recordings
from streams.replays import jobs


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
        requeued = jobs.requeue_abandoned(name)
        if requeued:
            self.stderr.write(f"requeued {len(requeued)} interrupted job(s)")
        worker = jobs.worker(name)
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        # with_scheduler: retries wait in rq's scheduled registry until their time.
        worker.work(with_scheduler=True, logging_level=level)
