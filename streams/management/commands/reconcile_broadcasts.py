import logging
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from streams import services
from streams.replays import services as replays

log = logging.getLogger(__name__)


def reconcile_loop(*, interval: float, keep_going: Callable[[], bool]) -> None:
    """Reconcile every `interval` seconds while keep_going() says so (asked twice a second).

    The one loop behind `reconcile_broadcasts --loop` and `run_platform`: a failed round
    (database or nginx away for a moment) is logged and retried, never fatal."""
    while keep_going():
        # A connection idle for hours is dropped by MySQL: start fresh each round.
        close_old_connections()
        try:
            ended = services.broadcasts_reconcile()
        except Exception:
            log.exception("reconciling broadcasts failed; will retry")
        else:
            if ended:
                log.info("reconcile: ended %d lost broadcast(s)", ended)
        try:
            # Recordings: start, pause for disk, finish those nginx died writing.
            replays.recordings_reconcile()
        except Exception:
            log.exception("reconciling recordings failed; will retry")
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and keep_going():
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


class Command(BaseCommand):
    help = "End broadcasts whose publisher nginx no longer has: once, or forever with --loop."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="repeat until stopped")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between runs")

    def handle(self, *args, loop: bool, interval: float, **options) -> None:
        if loop:
            reconcile_loop(interval=interval, keep_going=lambda: True)
            return
        ended = services.broadcasts_reconcile()
        self.stdout.write(f"ended {ended} lost broadcast(s)")
