#!/usr/bin/env python3
"""How far behind the origin an edge's playlists are, and what they cost the origin, for
each way an edge can handle playlists (deploy/edge.conf.template, EdgeConfig.playlist_cache):

- off:    every request passed to the origin over a kept-open connection;
- second: nginx's shortest plain cache (proxy_cache_valid 1s);
- tenth:  the shipped one, a cache key renewed every 100 ms.

One origin (bench/stack.py: Django + nginx-rtmp from deploy/) with ffmpeg publishing 1 s
keyframes; per variant a fresh edge, a crowd of --viewers threads polling its playlist at
the player's cadence (every 40 ms, static/js/playlist-loader.js), and an observer polling
origin and edge every 10 ms that notes when each new fragment first shows on each. The
lag is edge minus origin, per fragment; the origin's playlist requests per second come
from its access log. Variants are interleaved, --runs times.

    .venv/bin/python bench/edges.py [--runs 3] [--duration 20] [--viewers 50]
"""

import argparse
import getpass
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROOT, Bench, Variant, free_port  # noqa: E402

VARIANTS = ("off", "second", "tenth")
PLAYLIST = "/hls/edge01.m3u8"


def newest(body: bytes) -> int:
    first = re.search(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)", body)
    return (int(first.group(1)) if first else 0) + body.count(b"#EXTINF") - 1


def fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except OSError:
        return None


def first_seen(url: str, seen: dict[int, float], stop: threading.Event, polls: list) -> None:
    while not stop.is_set():
        body = fetch(url)
        polls.append(1)
        if body:
            seen.setdefault(newest(body), time.time())
        time.sleep(0.01)


def crowd_member(url: str, stop: threading.Event, counts: list[int], segments: list) -> None:
    """A player: polls the playlist, fetches each new segment as soon as it is listed."""
    polls, newest_seen = 0, None
    while not stop.is_set() and polls < 100_000:
        body = fetch(url)
        polls += 1
        if body and (names := re.findall(rb"^\S+\.ts$", body, re.MULTILINE)):
            sequence = newest(body)
            if newest_seen is not None and sequence > newest_seen:
                started = time.monotonic()
                if fetch(url.rsplit("/", 1)[0] + "/" + names[-1].decode()):
                    segments.append(time.monotonic() - started)
            newest_seen = sequence
        time.sleep(0.04)
    counts.append(polls)


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[int(q * (len(ordered) - 1))] * 1000, 1) if ordered else None


def origin_playlist_requests(origin_prefix: Path) -> int:
    log = (origin_prefix / "logs" / "access.log").read_text(errors="replace")
    return log.count(f'"GET {PLAYLIST} HTTP/1.1"')


def measure(variant: str, origin_url: str, origin_prefix: Path, workdir: Path, options) -> dict:
    from streams.media.edge import EdgeConfig, start_private_edge, stop_private_edge

    config = EdgeConfig(
        prefix=str(workdir / f"edge-{variant}-{time.monotonic_ns()}"),
        listen=f"127.0.0.1:{free_port()}",
        origin=origin_url.removeprefix("http://"),
        worker_processes="1",
        worker_rlimit_nofile=4096,
        worker_connections=2048,
        limit_conn_per_address=10_000,
        user=getpass.getuser() if os.geteuid() == 0 else "",
        playlist_cache=variant,
    )
    edge = start_private_edge(config)
    stop = threading.Event()
    origin_seen: dict[int, float] = {}
    edge_seen: dict[int, float] = {}
    counts: list[int] = []
    segments: list[float] = []
    observer_polls: list = []
    threads = [
        threading.Thread(target=first_seen, args=(origin_url + PLAYLIST, origin_seen, stop, observer_polls)),
        threading.Thread(target=first_seen, args=(f"http://{config.listen}{PLAYLIST}", edge_seen, stop, [])),
    ]  # fmt: skip
    threads += [
        threading.Thread(target=crowd_member, args=(f"http://{config.listen}{PLAYLIST}", stop, counts, segments))
        for _ in range(options.viewers)
    ]  # fmt: skip
    before = origin_playlist_requests(origin_prefix)
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        time.sleep(options.duration)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        elapsed = time.monotonic() - started
        stop_private_edge(edge)
    # For every fragment the origin listed (after the first): when the edge first listed
    # it or a newer one. A 1 s cache skips fragments; those count too, as a viewer waits
    # for them just the same.
    edge_times = sorted(edge_seen.items())
    lags = []
    for n in sorted(origin_seen)[1:]:
        later = [at for newest_n, at in edge_times if newest_n >= n]
        if later and n > edge_times[0][0]:
            lags.append(min(later) - origin_seen[n])
    lags.sort()
    origin_requests = origin_playlist_requests(origin_prefix) - before - len(observer_polls)
    return {
        "variant": variant,
        "fragments": len(lags),
        "lag_p50_ms": round(statistics.median(lags) * 1000, 1) if lags else None,
        "lag_p95_ms": round(lags[int(0.95 * (len(lags) - 1))] * 1000, 1) if lags else None,
        "lag_max_ms": round(lags[-1] * 1000, 1) if lags else None,
        "viewer_polls_per_s": round(sum(counts) / elapsed, 1),
        # Time to fetch a segment that has just been listed, as the crowd saw it.
        "segment_fetch_p50_ms": percentile(segments, 0.5),
        "segment_fetch_p95_ms": percentile(segments, 0.95),
        "segment_fetch_max_ms": percentile(segments, 1.0),
        # The observer's own polls of the origin are left out.
        "origin_playlist_requests_per_s": round(origin_requests / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--viewers", type=int, default=50)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="echo-edges-"))
    bench = Bench(options, workdir)
    bench.setup_django(["edge01"])
    from streams.media.encoder import publish_test_pattern

    bench.start_gunicorn()
    config, origin = bench.start_nginx(
        Variant("echo", nginx={}, hls_config=None), workdir / "origin"
    )
    origin_url = f"http://{config.http_listen}"
    key = bench.stream_keys["edge01"]
    publisher = publish_test_pattern(f"rtmp://127.0.0.1:{config.rtmp_port}/ingest/{key}")
    results = []
    try:
        for _ in range(300):
            if (body := fetch(origin_url + PLAYLIST)) and b".ts" in body:
                break
            time.sleep(0.1)
        for run in range(options.runs):
            for variant in VARIANTS:
                result = measure(variant, origin_url, workdir / "origin", workdir, options)
                result["run"] = run + 1
                results.append(result)
                print(json.dumps(result), file=sys.stderr)
    finally:
        publisher.kill()
        publisher.wait()
        bench.stop_nginx(origin)
        bench.stop_gunicorn()
    medians = {}
    for variant in VARIANTS:
        rows = [r for r in results if r["variant"] == variant]
        medians[variant] = {
            key: statistics.median(r[key] for r in rows if r[key] is not None)
            for key in rows[0]
            if key not in ("variant", "run")
        }
    output = {
        "options": vars(options),
        "load_at_end": os.getloadavg(),
        "runs": results,
        "median": medians,
    }
    out = ROOT / "bench" / "results" / f"edges-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(output, indent=1) + "\n")
    print(json.dumps(medians, indent=1))
    print(f"results in {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
