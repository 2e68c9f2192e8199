"""The public RTMP and RTMPS ports: the stream-module front (per-address limits, TLS,
PROXY protocol), with real nginx, ffmpeg and Django.

ffmpeg cannot choose its source address, so a small TCP relay stands in for a second
machine: ffmpeg connects to it on 127.0.0.1, and it connects on to nginx from
127.0.0.2 (Linux routes all of 127/8 on lo), copying the bytes unchanged."""

import contextlib
import dataclasses
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from streams.media import callbacks
from streams.media.encoder import publish_test_pattern
from streams.media.nginx import port_open
from streams.models import Broadcast
from tests.streaming import (
    free_port,
    live_server_nginx_config,
    nginx_config,
    running_rtmp,
    self_signed_certificate,
    wait_for,
)

pytestmark = [pytest.mark.streaming, pytest.mark.django_db(transaction=True)]

OTHER_ADDRESS = "127.0.0.2"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def rtmps(live_server, settings, tmp_path, certificate):
    """The rtmp fixture's nginx, with a certificate: RTMP and RTMPS both listen."""
    config = live_server_nginx_config(
        live_server,
        settings,
        tmp_path,
        tls_certificate=str(certificate[0]),
        tls_certificate_key=str(certificate[1]),
        rtmps_port=free_port(),
        https_listen=f"127.0.0.1:{free_port()}",
    )
    with running_rtmp(config) as server:
        yield server


def url(server, scheme: str, path: str, *, port: int | None = None) -> str:
    default = server.config.rtmps_port if scheme == "rtmps" else server.config.rtmp_port
    return f"{scheme}://127.0.0.1:{port or default}/{path}"


def publish(server, target: str):
    publisher = publish_test_pattern(target)
    server.publishers.append(publisher)
    return publisher


@contextlib.contextmanager
def relay_from(source: str, target_port: int):
    """A port on 127.0.0.1 whose connections reach target_port from `source`."""
    listener = socket.create_server(("127.0.0.1", 0))
    sockets = [listener]

    def pump(reader: socket.socket, writer: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := reader.recv(65536):
                writer.sendall(data)
        with contextlib.suppress(OSError):
            writer.shutdown(socket.SHUT_WR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(
                    ("127.0.0.1", target_port), source_address=(source, 0)
                )
                sockets.extend([client, upstream])
                threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        for sock in sockets:
            sock.close()


def failures_from(addr: str) -> int:
    return callbacks._failures(addr)


def rtmp_session(server, scheme: str, source: str) -> socket.socket | None:
    """A connection from `source` that nginx-rtmp answers (S0 to our C0+C1), or None
    if nginx closes it first."""
    port = server.config.rtmps_port if scheme == "rtmps" else server.config.rtmp_port
    sock = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0))
    try:
        if scheme == "rtmps":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        sock.sendall(b"\x03" + bytes(1536))
        if sock.recv(1) == b"\x03":
            return sock
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass
    sock.close()
    return None


def test_a_publish_over_rtmps_goes_live_and_its_hls_plays(rtmps, alice):
    started = time.monotonic()
    publish(rtmps, url(rtmps, "rtmps", f"ingest/{alice.channel.stream_key}"))
    wait_for(lambda: rtmps.playlist_ready("alice"), timeout=20, message="the playlist")
    print(f"rtmps: first playlist {time.monotonic() - started:.2f} s after ffmpeg started")
    broadcast = alice.channel.broadcasts.get()
    assert broadcast.is_live
    status, playlist = rtmps.get("/hls/alice.m3u8")
    segment = next(line for line in playlist.decode().splitlines() if line.endswith(".ts"))
    status, body = rtmps.get(f"/hls/{segment}")
    assert status == 200
    assert body[:1] == b"G"  # MPEG-TS sync byte


@pytest.mark.parametrize("scheme", ["rtmp", "rtmps"])
def test_a_wrong_key_is_refused_and_counted_against_the_encoders_address(rtmps, alice, scheme):
    cache.clear()  # the database cache outlives the test's flush
    port = rtmps.config.rtmps_port if scheme == "rtmps" else rtmps.config.rtmp_port
    with relay_from(OTHER_ADDRESS, port) as relay_port:
        wrong = publish(rtmps, url(rtmps, scheme, "ingest/live_wrong-key", port=relay_port))
        assert wrong.wait(timeout=15) != 0
    assert not Broadcast.objects.exists()
    # The callback's addr is the encoder's, not the stream proxy's 127.0.0.1.
    assert failures_from(OTHER_ADDRESS) == 1
    assert failures_from("127.0.0.1") == 0


@pytest.mark.parametrize("scheme", ["rtmp", "rtmps"])
def test_the_internal_live_application_is_not_reachable_from_the_public_ports(rtmps, alice, scheme):
    # Behind the stream proxy every connection comes from 127.0.0.1: were `live`
    # reachable, anyone could publish into any channel without a key.
    intruder = publish(rtmps, url(rtmps, scheme, "live/alice"))
    assert intruder.wait(timeout=15) != 0
    assert not list(rtmps.hls_dir.glob("alice*"))
    assert not Broadcast.objects.exists()


@pytest.mark.parametrize("scheme", ["rtmp", "rtmps"])
def test_connections_are_limited_per_client_address(rtmps, scheme):
    limit = rtmps.config.rtmp_connections_per_address
    held = [rtmp_session(rtmps, scheme, "127.0.0.1") for _ in range(limit)]
    try:
        assert all(held)
        assert rtmp_session(rtmps, scheme, "127.0.0.1") is None
        # Another address still gets in while this one is at its limit.
        other = rtmp_session(rtmps, scheme, OTHER_ADDRESS)
        assert other is not None
        other.close()
    finally:
        for sock in held:
            if sock is not None:
                sock.close()


def test_rtmps_is_off_without_a_certificate(tmp_path):
    config = nginx_config(tmp_path, django_upstream="127.0.0.1:9", control_port=free_port())
    config = dataclasses.replace(config, rtmps_port=free_port())
    with running_rtmp(config):
        assert not port_open(config.rtmps_port)
