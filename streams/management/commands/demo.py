"""A live channel for newcomers: the user `demo` publishing ffmpeg's test pattern."""

import signal
import subprocess
import threading
import time
from collections import deque

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from streams.media.encoder import publish_test_pattern
from streams.models import Channel

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"
RETRY_SECONDS = 5


def demo_channel_ensure() -> Channel:
    """Create the demo user (verified e-mail, no password) once; reuse it afterwards."""
    with transaction.atomic():
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": DEMO_EMAIL, "display_name": "Demo"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        elif user.email != DEMO_EMAIL:
            # Someone signed up as "demo": never stream with a real user's key.
            raise CommandError(f"user {DEMO_USERNAME!r} exists and was not made by this command")
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        channel = Channel.objects.select_related("user").get(user=user)
        if not channel.title:
            channel.title = "Test pattern from ffmpeg"
            channel.save(update_fields=["title"])
    return channel


def _collect(stream, lines: deque, secret: str) -> None:
    # ffmpeg names the output URL in its errors, and the URL ends with the stream key.
    for line in stream:
        lines.append(line.decode(errors="replace").replace(secret, "<stream key>").rstrip())


class Command(BaseCommand):
    help = "Create the demo user and publish a test pattern to its channel until interrupted."

    def add_arguments(self, parser) -> None:
        port = settings.ECHO_RTMP_PORT
        parser.add_argument(
            "--rtmp-url",
            default=f"rtmp://127.0.0.1:{port}/ingest",
            help="the ingest application; the demo's stream key is appended",
        )
        parser.add_argument("--no-publish", action="store_true", help="only create the user")

    def handle(self, *args, **options) -> None:
        channel = demo_channel_ensure()
        url = f"{settings.SITE_URL}{channel.get_absolute_url()}"
        if options["no_publish"]:
            self.stdout.write(f"demo user ready: {url}")
            return
        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        base = options["rtmp_url"].rstrip("/")
        self.stdout.write(f"demo: publishing a test pattern to {base}/<demo's stream key>")
        self.stdout.write(f"demo: watch it at {url}")
        self.stdout.flush()
        while not self.stopping:
            self._publish_once(f"{base}/{channel.stream_key}", channel.stream_key)
            if not self.stopping:
                self.stderr.write(f"demo: retrying in {RETRY_SECONDS} s")
                self._sleep(RETRY_SECONDS)

    def _request_stop(self, signum, frame) -> None:
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.2)

    def _publish_once(self, rtmp_url: str, key: str) -> None:
        # 720p when the server transcodes: its renditions (480p, 360p) and the player's
        # quality menu are part of what the demo shows.
        transcoding = settings.ECHO_RENDITIONS and settings.ECHO_TRANSCODE_MAX > 0
        size = {"size": "1280x720", "bitrate": "2500k"} if transcoding else {}
        process = publish_test_pattern(rtmp_url, **size)
        errors: deque[str] = deque(maxlen=10)
        reader = threading.Thread(target=_collect, args=(process.stderr, errors, key), daemon=True)
        reader.start()
        while process.poll() is None and not self.stopping:
            time.sleep(0.2)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return
        reader.join(timeout=1)
        self.stderr.write(f"demo: ffmpeg exited with code {process.returncode}")
        for line in errors:
            self.stderr.write(f"demo: ffmpeg: {line}")
