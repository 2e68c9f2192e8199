"""Faults on the streaming path, with real nginx, ffmpeg and Django."""

import os
import signal
import subprocess
import time

import pytest
from django.utils import timezone

from streams import services
from streams.media.nginx import start_private_nginx
from streams.models import Broadcast
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming]


def is_live(channel) -> bool:
    return channel.broadcasts.filter(ended_at__isnull=True).exists()


def kill_nginx(process: subprocess.Popen) -> None:
    """SIGKILL the master and its workers, as a crash or the OOM killer would."""
    workers = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    process.kill()
    for pid in workers:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def test_after_nginx_is_killed_the_channel_goes_offline_and_can_go_live_again(rtmp, alice):
    rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: is_live(alice.channel), timeout=10, message="on_publish")
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=10, message="the playlist")

    kill_nginx(rtmp.process)
    killed_at = time.monotonic()
    killed_at_wall = timezone.now()
    # run_platform reconciles every 5 s; here the test drives the same function.
    wait_for(
        lambda: services.broadcasts_reconcile() or not is_live(alice.channel),
        timeout=30,
        interval=1,
        message="the channel to go offline",
    )
    elapsed = time.monotonic() - killed_at
    print(f"nginx SIGKILL: offline after {elapsed:.1f} s")
    assert elapsed <= 30
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
        wait_for(lambda: not is_live(alice.channel), timeout=10, message="offline")
        elapsed = time.monotonic() - stopped_at
        print(f"encoder network gone: offline after {elapsed:.1f} s")
        assert elapsed <= 10
    finally:
        publisher.send_signal(signal.SIGCONT)
