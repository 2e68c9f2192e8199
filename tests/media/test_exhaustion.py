"""One host holding thousands of idle connections must not take the server down.

Real nginx-rtmp from deploy/, started with systemd's default descriptor limit (1024), a
live ffmpeg broadcast, Django behind it; the attacker is 127.0.0.2 (Linux routes all of
127/8 on lo), everyone else 127.0.0.1."""

import resource
import select
import socket
import threading
import time

import pytest
from django.utils import timezone

from accounts.models import User
from streams.media import control
from streams.models import Broadcast, Channel
from tests.streaming import (
    live_server_nginx_config,
    running_rtmp,
    wait_for,
)

pytestmark = [pytest.mark.streaming, pytest.mark.django_db(transaction=True)]

ATTACKER = "127.0.0.2"
IDLE_HTTP = 1500
IDLE_RTMP = 200
# What systemd gives a service without LimitNOFILE (soft limit).
SYSTEMD_DEFAULT_NOFILE = 1024
# Short, so the test sees several on_update heartbeats while the attack runs.
UPDATE_SECONDS = 2
# IP_BIND_ADDRESS_NO_PORT: the source port is chosen at connect(), per destination.
BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def idle_connection(port: int) -> socket.socket | None:
    """A TCP connection from the attacker's address that never sends a byte."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.IPPROTO_IP, BIND_ADDRESS_NO_PORT, 1)
        sock.bind((ATTACKER, 0))
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


class Attack:
    """Holds `count` idle connections per port, reopening those the server closes
    (a timeout, a per-address limit), until stopped or `seconds` have passed."""

    def __init__(self, targets: dict[int, int], *, seconds: float) -> None:
        self.targets = targets
        self.deadline = time.monotonic() + seconds
        self.sockets: dict[int, list[socket.socket]] = {port: [] for port in targets}
        self.opened = {port: 0 for port in targets}
        self.failed = {port: 0 for port in targets}
        self.closed_by_server = {port: 0 for port in targets}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def open(self) -> None:
        for port, count in self.targets.items():
            for _ in range(count):
                if time.monotonic() > self.deadline:
                    return
                self._add(port)
        self.thread.start()

    def _add(self, port: int) -> None:
        sock = idle_connection(port)
        if sock is None:
            self.failed[port] += 1
        else:
            self.opened[port] += 1
            self.sockets[port].append(sock)

    def _hold(self) -> None:
        # Bounded by time: at most one pass every half second until the deadline.
        while not self.stopping.wait(0.5) and time.monotonic() < self.deadline:
            for port, sockets in self.sockets.items():
                poller = select.poll()
                for sock in sockets:
                    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
                # The attacker never sends, so anything readable is the server hanging up.
                gone = {fd for fd, _ in poller.poll(0)}
                for sock in [sock for sock in sockets if sock.fileno() in gone]:
                    sockets.remove(sock)
                    sock.close()
                    self.closed_by_server[port] += 1
                for _ in range(self.targets[port] - len(sockets)):
                    if self.stopping.is_set() or time.monotonic() > self.deadline:
                        return
                    self._add(port)

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        for sockets in self.sockets.values():
            for sock in sockets:
                sock.close()


def raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.fixture
def own_fd_limit():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


@pytest.fixture
def server(live_server, settings, tmp_path, transactional_db, own_fd_limit):
    """nginx as systemd starts it: 1024 descriptors unless the config raises them."""
    config = live_server_nginx_config(
        live_server, settings, tmp_path, notify_update_timeout=f"{UPDATE_SECONDS}s"
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # nginx inherits the limit at fork: start it with systemd's default, then give this
    # process (the attacker, Django's live server, the clients) room of its own.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(SYSTEMD_DEFAULT_NOFILE, hard), hard))
    try:
        context = running_rtmp(config)
        rtmp = context.__enter__()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    raise_own_fd_limit(IDLE_HTTP + IDLE_RTMP + 1024)
    try:
        yield rtmp
    finally:
        context.__exit__(None, None, None)


def live_broadcast(channel: Channel) -> Broadcast | None:
    return channel.broadcasts.filter(ended_at__isnull=True).first()


def fetch(rtmp, path: str) -> tuple[int | str, bytes]:
    # A refused, reset or unanswered request is a result here, not an error.
    try:
        return rtmp.get(path)
    except OSError as error:
        return f"{type(error).__name__}: {error}", b""


def test_one_address_with_thousands_of_idle_connections_starves_nobody(server):
    alice = User.objects.create_user("alice", "alice@example.org", "pw")
    bob = User.objects.create_user("bob", "bob@example.org", "pw")
    alice_publisher = server.publish(alice.channel.stream_key)
    before = wait_for(lambda: live_broadcast(alice.channel), timeout=20, message="on_publish")
    wait_for(lambda: server.playlist_ready("alice"), timeout=20, message="alice's playlist")

    http_port = int(server.config.http_listen.rsplit(":", 1)[-1])
    rtmp_port = server.config.rtmp_port
    attack = Attack({http_port: IDLE_HTTP, rtmp_port: IDLE_RTMP}, seconds=120)
    try:
        attack.open()
        attack_started = timezone.now()

        page_status, page = fetch(server, alice.channel.get_absolute_url())
        playlist_status, playlist = fetch(server, "/hls/alice.m3u8")
        segments = [line for line in playlist.decode().splitlines() if line.endswith(".ts")]
        segment_status, segment = fetch(server, f"/hls/{segments[-1]}") if segments else ("", b"")
        server.publish(bob.channel.stream_key)
        try:
            wait_for(lambda: live_broadcast(bob.channel), timeout=20, message="bob's on_publish")
            bob_live = True
        except AssertionError:
            bob_live = False
        # Two heartbeats at the least: one failed on_update would drop alice.
        time.sleep(3 * UPDATE_SECONDS)
        alice_broadcast = Broadcast.objects.get(pk=before.pk)
        publishers = control.ingest_publishers() or {}
        held = {port: len(sockets) for port, sockets in attack.sockets.items()}
    finally:
        attack.stop()

    outcome = {
        "idle HTTP connections opened": attack.opened[http_port] >= IDLE_HTTP,
        "idle RTMP connections opened": attack.opened[rtmp_port] >= IDLE_RTMP,
        "page": page_status == 200 and b"alice" in page,
        "segment": segment_status == 200 and segment[:1] == b"G",
        "new publish": bob_live,
        "alice still live in Django": alice_broadcast.ended_at is None,
        "heartbeats reached Django during the attack": alice_broadcast.last_seen_at
        > attack_started,
        "alice still publishing": alice_publisher.poll() is None and "alice" in publishers.values(),
    }
    details = (
        f"page {page_status}, playlist {playlist_status}, segment {segment_status}; "
        f"opened {attack.opened}, failed {attack.failed}, "
        f"closed by the server {attack.closed_by_server}, held at the end {held}"
    )
    assert outcome == dict.fromkeys(outcome, True), details
