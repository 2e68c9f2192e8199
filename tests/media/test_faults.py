"""Faults on the streaming path, with real nginx, ffmpeg and Django."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from streams import services
from streams.management.commands.run_platform import RECONCILE_SECONDS
from streams.media.nginx import start_private_nginx
from streams.models import Broadcast
from tests.media.test_restarts import database_env
from tests.records import record_fault
from tests.streaming import kill_nginx, wait_for

pytestmark = [pytest.mark.streaming]


def is_live(channel) -> bool:
    return channel.broadcasts.filter(ended_at__isnull=True).exists()


def reconcile_loop(control_url: str) -> subprocess.Popen:
    """`manage.py reconcile_broadcasts --loop` as deploy/production runs it, on the test database."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DB", "DATABASE"))
    }
    env.update(
        database_env(),
        SECRET_KEY="reconcile-loop-test-secret-key",
        ECHO_NGINX_CONTROL_URL=control_url,
        ECHO_RTMP_CALLBACK_SECRET="unused-here-0123456789",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_broadcasts", "--loop"]
        + ["--interval", str(RECONCILE_SECONDS)],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def test_after_nginx_is_killed_the_channel_goes_offline_and_can_go_live_again(
    rtmp, alice, settings
):
    rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: is_live(alice.channel), timeout=10, message="on_publish")
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=10, message="the playlist")

    # The production reconcile loop, at its production interval, in its own process.
    reconciler = reconcile_loop(settings.ECHO_NGINX_CONTROL_URL)
    try:
        kill_nginx(rtmp.process)
        killed_at = time.monotonic()
        killed_at_wall = timezone.now()
        last_seen = alice.channel.broadcasts.get().last_seen_at
        wait_for(lambda: not is_live(alice.channel), timeout=90, interval=0.2, message="offline")
        elapsed = time.monotonic() - killed_at
        offline_wall = timezone.now()
        assert reconciler.poll() is None
    finally:
        reconciler.terminate()
        reconciler.wait(timeout=20)
    record_fault("nginx SIGKILL", "channel offline after", elapsed)
    # The mechanism: a broadcast is lost once silent for HEARTBEAT_GRACE, seen by the
    # next round of the loop; not earlier (a live one would be cut), not much later.
    silent_for = (offline_wall - last_seen).total_seconds()
    grace = services.HEARTBEAT_GRACE.total_seconds()
    assert grace <= silent_for <= grace + RECONCILE_SECONDS + 2
    broadcast = alice.channel.broadcasts.get()
    assert broadcast.end_reason == Broadcast.EndReason.LOST
    # Ended at its last sign of life (its start or last heartbeat), not at detection.
    assert broadcast.started_at <= broadcast.ended_at <= killed_at_wall

    rtmp.process = start_private_nginx(rtmp.config)
    rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: is_live(alice.channel), timeout=10, message="going live again")
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=10, message="the new playlist")
    assert alice.channel.broadcasts.count() == 2


def test_an_encoder_restarted_right_after_an_nginx_crash_is_not_refused(rtmp, alice):
    rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: is_live(alice.channel), timeout=10, message="on_publish")
    kill_nginx(rtmp.process)
    rtmp.process = start_private_nginx(rtmp.config)
    # The old broadcast's heartbeat is fresh, but nginx no longer has its publisher.
    publisher = rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: alice.channel.broadcasts.count() == 2, timeout=10, message="a new broadcast")
    assert publisher.poll() is None
    old, new = alice.channel.broadcasts.order_by("started_at")
    assert old.end_reason == Broadcast.EndReason.LOST
    assert new.is_live


def test_an_encoder_whose_network_vanishes_goes_offline_within_10_seconds(rtmp, alice):
    publisher = rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: is_live(alice.channel), timeout=10, message="on_publish")
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=10, message="media flowing")
    # A stopped process keeps its TCP connection open but sends nothing: a dead link.
    publisher.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        wait_for(lambda: not is_live(alice.channel), timeout=30, message="offline")
        elapsed = time.monotonic() - stopped_at
        record_fault("encoder network gone", "channel offline after", elapsed)
        # drop_idle_publisher 5s: nginx checks idleness on a timer, so up to twice that;
        # on_update's 10 s would only end it at the heartbeat grace (25 s).
        assert 4.5 <= elapsed < 10
    finally:
        publisher.send_signal(signal.SIGCONT)
