import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from streams import services


class Command(BaseCommand):
    help = "End broadcasts whose publisher nginx no longer has: once, or forever with --loop."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="repeat until stopped")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between runs")

    def handle(self, *args, loop: bool, interval: float, **options) -> None:
        while True:
            ended = services.broadcasts_reconcile()
            if ended or not loop:
                self.stdout.write(f"ended {ended} lost broadcast(s)")
            if not loop:
                return
            # A connection idle for hours is dropped by MySQL: start fresh each round.
            close_old_connections()
            time.sleep(interval)
