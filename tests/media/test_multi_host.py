"""Beyond one machine, on one machine: an origin (nginx-rtmp from deploy/), two edges
(deploy/edge.conf.template), two Django web-server processes behind the origin's nginx,
one Redis and the test database (MariaDB in CI's second pass), all on loopback ports
standing in for hosts; ffmpeg publishes, Chromium viewers watch and chat.

It runs on both databases: what it proves (several web servers agreeing through one
database and one Redis) is exactly what differs between them."""

import getpass
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from streams.media.edge import EdgeConfig, start_private_edge, stop_private_edge
from streams.social import viewers
from tests.streaming import free_port, kill_nginx, wait_for

pytestmark = [pytest.mark.streaming, pytest.mark.browser]

PLAYING = "() => document.querySelector('#player').dataset.state === 'playing'"
CHAT_READY = "() => document.getElementById('chat').dataset.chatState === 'connected'"


def segment_log(config: EdgeConfig) -> list[tuple[str, str]]:
    """(segment, cache status) for every segment request the edge answered."""
    log = (Path(config.prefix) / "logs" / "access.log").read_text()
    return re.findall(r'"GET /hls/(alice-\d+\.ts) HTTP/1\.1" 200 \d+ (\S+)', log)


def test_a_stream_plays_through_both_edges_while_web_servers_agree_and_an_edge_dies(
    web_servers, chromium, alice, bob, verified, tmp_path
):
    verified(bob)
    edge_ports = [free_port(), free_port()]
    edge_urls = [f"http://127.0.0.1:{port}/hls/" for port in edge_ports]
    site = web_servers(2, env={"ECHO_HLS_EDGE_URLS": ",".join(edge_urls)})
    edges = [
        EdgeConfig(
            prefix=str(tmp_path / f"edge{n}"),
            listen=f"127.0.0.1:{port}",
            origin=site.nginx.http_listen,
            worker_processes="1",
            worker_rlimit_nofile=4096,
            worker_connections=2048,
            user=getpass.getuser() if os.geteuid() == 0 else "",
        )
        for n, port in enumerate(edge_ports, start=1)
    ]
    processes = [start_private_edge(config) for config in edges]
    contexts = []
    try:
        site.rtmp.publish(alice.channel.stream_key)
        wait_for(lambda: site.rtmp.playlist_ready("alice"), timeout=20, message="the playlist")
        viewers.forget_all()

        # Each page lists the edges in its own order: open viewers until both edges have
        # one (bob's page first, it chats below); a page on an edge already taken leaves.
        watchers: dict[int, object] = {}
        for attempt in range(12):
            context = chromium.new_context()
            if attempt == 0:
                client = Client()
                client.force_login(bob)
                cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
                context.add_cookies(
                    [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": site.url}]
                )
            page = context.new_page()
            page.add_init_script("window.echoViewerBeatMs = 2000")
            page.goto(site.url + "/alice")
            first = page.evaluate("() => document.querySelector('#player').dataset.hlsUrl")
            edge = edge_urls.index(first.removesuffix("alice.m3u8"))
            contexts.append(context)
            if edge in watchers:
                # Leave as a viewer does (pagehide says goodbye if it was counted), with the
                # context kept open: closing it at once could cancel that goodbye, and the
                # page would count for 45 s.
                page.goto("about:blank")
                continue
            watchers[edge] = page
            if len(watchers) == 2:
                break
        assert len(watchers) == 2, "12 pages all chose the same edge"
        for page in watchers.values():
            page.wait_for_function(PLAYING, timeout=20_000)

        # Both edges serve video, and each fetched a segment from the origin once at most.
        wait_for(lambda: all(len(segment_log(c)) >= 3 for c in edges), timeout=15)
        origin_log = (Path(site.nginx.prefix) / "logs" / "access.log").read_text()
        for config in edges:
            statuses: dict[str, list[str]] = {}
            for segment, status in segment_log(config):
                statuses.setdefault(segment, []).append(status)
            assert all(s.count("MISS") <= 1 for s in statuses.values()), statuses
        for segment in {segment for c in edges for segment, _ in segment_log(c)}:
            assert origin_log.count(f"GET /hls/{segment} ") <= 2, segment

        # The web servers agree: every open page counts every viewer, whichever server
        # its heartbeats reach; the page from bob's context chats to the other one.
        expected = "2 viewers"
        counts = (
            "() => [...document.querySelectorAll('[data-viewer-count]')].map(e => e.textContent)"
        )
        for page in watchers.values():
            try:
                page.wait_for_function(
                    f"text => ({counts})()[0].trim() === text", arg=expected, timeout=15_000
                )
            except PlaywrightTimeoutError:
                shown = [p.evaluate(counts) for p in watchers.values()]
                raise AssertionError(f"pages show {shown}, not {expected!r}") from None
        bob_page = contexts[0].pages[0]
        reader = next(p for p in watchers.values() if p is not bob_page)
        for page in (bob_page, reader):
            page.wait_for_function(CHAT_READY)
        bob_page.fill("#chat-input", "hello from one web server")
        bob_page.press("#chat-input", "Enter")
        reader.get_by_text("hello from one web server").wait_for()
        # Both processes answered the viewers' heartbeats (nginx spreads requests).
        logs = [server.log() for server in site.servers]
        assert all(re.search(r"POST /alice/viewers HTTP", log) for log in logs)

        # One edge dies; its viewer goes on through the other, the other viewer never notices.
        dying = next(n for n in watchers if watchers[n] is reader)
        survivor = 1 - dying
        kill_nginx(processes[dying])
        before = len(segment_log(edges[survivor]))
        wait_for(
            lambda: len(segment_log(edges[survivor])) >= before + 6,
            timeout=20,
            message="both viewers on the surviving edge",
        )
        for page in watchers.values():
            page.wait_for_function(PLAYING, timeout=20_000)
            at = page.evaluate("() => document.querySelector('video').currentTime")
            page.wait_for_function(
                "t => document.querySelector('video').currentTime > t + 1.5", arg=at
            )
    finally:
        for context in contexts:
            context.close()
        for process in processes:
            if process.poll() is None:
                stop_private_edge(process)
