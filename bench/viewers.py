#!/usr/bin/env python3
"""How many HLS viewers of one 1 Mbps channel one box serves before a segment arrives late.

A real origin (bench/stack.py: Django + nginx-rtmp from deploy/, ffmpeg publishing a
640x360 test pattern at 900 kbit/s video + 96 kbit/s audio, 1 s keyframes), and for
`--target edge` one edge (deploy/edge.conf.template) in front of it. Viewers are wrk
connections: each one polls the playlist --polls times per fragment and fetches every
new segment once, paced like the player: two wrk processes, bench/wrk/playlists.lua and
bench/wrk/segments.lua (wrk is the load generator because
Python cannot make tens of thousands of requests a second here; two of them because
copying every segment body into Lua made a single one the bottleneck).

Lateness is measured from outside the load, the way a viewer would feel it: a probe
polls the origin's playlist every 10 ms to note when each segment is listed, and a probe
viewer on the target fetches each new segment as soon as its own polls (every 40 ms, as
the player) show it. A segment is late when it has not fully arrived half its duration
after the origin listed it. The viewer count grows by --steps until a step has a late
segment, wrk reports errors, or the viewers got less than 90 % of the segments they
asked for (one per viewer per fragment): past that the machine, which runs wrk too, no
longer offers the load it names.

    apt-get install wrk
    .venv/bin/python bench/viewers.py --target origin --steps 500,1000,2000,3000,4000,5000
    .venv/bin/python bench/viewers.py --target edge --steps 1000,2000,4000,6000

Results (per step: viewers, requests/s, probe lateness p50/p95/max, late segments, CPU
seconds of nginx, of the edge and of wrk per second) go to bench/results/viewers-*.json.
"""

import argparse
import getpass
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROOT, Bench, Variant, free_port  # noqa: E402

CHANNEL = "bench01"
PLAYLIST = f"/hls/{CHANNEL}.m3u8"
WRK = ROOT / "bench" / "wrk"


def fetch(url: str, timeout: float = 5) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except OSError:
        return None


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (nginx master + workers)."""
    total = 0.0
    pids = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    pids += [int(p) for p in children.stdout.split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Probe:
    """When the origin lists each segment, and when a player-like viewer on the target has
    it in full; run while wrk loads the target."""

    def __init__(self, origin: str, target: str, newest_file: Path) -> None:
        self.origin, self.target = origin, target
        self.newest_file = newest_file
        self.listed: dict[str, tuple[float, float]] = {}  # name -> (time, EXTINF)
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()

    def watch_origin(self) -> None:
        while not self.stop.is_set():
            body = fetch(self.origin + PLAYLIST)
            if body:
                text = body.decode(errors="replace")
                listed = re.findall(r"#EXTINF:([\d.]+),\s*\n(\S+\.ts)", text)
                for duration, name in listed:
                    self.listed.setdefault(name, (time.time(), float(duration)))
                if listed:
                    # For segments.lua: the newest name, replaced atomically.
                    temporary = self.newest_file.with_suffix(".tmp")
                    temporary.write_text(listed[-1][1] + "\n")
                    temporary.replace(self.newest_file)
            time.sleep(0.01)

    def watch_target(self) -> None:
        newest = None
        while not self.stop.is_set():
            body = fetch(self.target + PLAYLIST)
            names = re.findall(rb"^\S+\.ts$", body or b"", re.MULTILINE)
            if names and names[-1] != newest:
                newest = names[-1]
                name = newest.decode()
                if fetch(f"{self.target}/hls/{name}", timeout=10) is not None:
                    self.arrived[name] = time.time()
            time.sleep(0.04)

    def __enter__(self) -> "Probe":
        self.threads = [
            threading.Thread(target=self.watch_origin, daemon=True),
            threading.Thread(target=self.watch_target, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def lateness(self) -> dict:
        delays, late = [], 0
        # The first segment each saw may have been listed before the probe started.
        for name in sorted(self.arrived)[1:]:
            if name not in self.listed:
                continue
            listed_at, duration = self.listed[name]
            delay = self.arrived[name] - listed_at
            delays.append(delay)
            late += delay > duration / 2
        delays.sort()

        def pick(q):
            return round(delays[int(q * (len(delays) - 1))] * 1000, 1) if delays else None

        return {
            "segments_probed": len(delays),
            "segment_delay_p50_ms": pick(0.5),
            "segment_delay_p95_ms": pick(0.95),
            "segment_delay_max_ms": pick(1.0),
            "late_segments": late,
        }


def wrk(script: str, viewers: int, url: str, duration: int, env: dict) -> subprocess.Popen:
    command = ["wrk", "-t", "1", "-c", str(viewers), "-d", f"{duration}s", "--timeout", "5s"]
    command += ["-s", str(WRK / script), url]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def run_step(viewers: int, target_url: str, origin_url: str, pids: dict, options) -> dict:
    newest_file = Path(tempfile.mkdtemp(prefix="echo-viewers-newest-")) / "newest"
    env = {
        **os.environ,
        "ECHO_BENCH_POLLS": str(options.polls),
        "ECHO_BENCH_PERIOD_MS": "1000",
        "ECHO_BENCH_NEWEST": str(newest_file),
    }
    cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    with Probe(origin_url, target_url, newest_file) as probe:
        for _ in range(100):
            if newest_file.exists():
                break
            time.sleep(0.05)
        loads = [
            wrk("playlists.lua", viewers, target_url + PLAYLIST, options.duration, env),
            wrk("segments.lua", viewers, target_url + "/hls/", options.duration, env),
        ]
        usages = [os.wait4(load.pid, 0)[2] for load in loads]
        outputs = [load.stdout.read() for load in loads]
    elapsed = time.monotonic() - started
    playlists, segments = (json.loads(out.strip().splitlines()[-1]) for out in outputs)
    cpu = {
        f"cpu_{name}_per_s": round((tree_cpu_seconds(pid) - cpu_before[name]) / elapsed, 3)
        for name, pid in pids.items()
    }
    seconds = options.duration
    segments_per_s = segments["requests"] / seconds
    return {
        "viewers": viewers,
        # One segment per viewer per fragment (1 s) is what the viewers asked for.
        "served_fraction": round(segments_per_s / viewers, 3),
        "playlist_requests_per_s": round(playlists["requests"] / seconds, 1),
        "segment_requests_per_s": round(segments["requests"] / seconds, 1),
        "playlist_latency_p99_ms": playlists["latency_p99_ms"],
        "segment_latency_p50_ms": segments["latency_p50_ms"],
        "segment_latency_p99_ms": segments["latency_p99_ms"],
        "wrk_errors": playlists["errors"] + segments["errors"],
        **probe.lateness(),
        **cpu,
        "cpu_wrk_per_s": round(sum(u.ru_utime + u.ru_stime for u in usages) / elapsed, 3),
        "load_average": os.getloadavg()[0],
    }


def on_time(step: dict) -> bool:
    return not step["late_segments"] and not step["wrk_errors"] and step["served_fraction"] >= 0.9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("origin", "edge"), default="origin")
    parser.add_argument("--steps", default="500,1000,2000,3000,4000,5000")
    parser.add_argument("--duration", type=int, default=20)
    # The channel page asks 2.8-3.2 times per 1 s fragment (bench/latency.py's
    # "playlist requests/fragment", bench/results/latency-20261203-165414.json).
    parser.add_argument("--polls", type=int, default=3, help="playlist requests per fragment")
    parser.add_argument("--edge-workers", default="2")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench/viewers.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    steps = [int(step) for step in options.steps.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="echo-viewers-"))
    bench = Bench(options, workdir)
    bench.setup_django([CHANNEL])
    from streams.media.edge import EdgeConfig, start_private_edge, stop_private_edge
    from streams.media.encoder import publish_test_pattern

    bench.start_gunicorn()
    variant = Variant(
        "echo",
        # One address (127.0.0.1) stands for every viewer: no per-address limit.
        nginx={"limit_conn_per_address": 60_000, "worker_rlimit_nofile": min(hard, 65536),
               "worker_connections": min(hard, 65536) - 2048},
        hls_config=None,
    )  # fmt: skip
    config, origin = bench.start_nginx(variant, workdir / "origin")
    origin_url = f"http://{config.http_listen}"
    pids = {"origin_nginx": origin.pid}
    edge = None
    target_url = origin_url
    key = bench.stream_keys[CHANNEL]
    publisher = publish_test_pattern(
        f"rtmp://127.0.0.1:{config.rtmp_port}/ingest/{key}", bitrate="900k"
    )
    results = []
    try:
        if options.target == "edge":
            edge_config = EdgeConfig(
                prefix=str(workdir / "edge"),
                listen=f"127.0.0.1:{free_port()}",
                origin=config.http_listen,
                worker_processes=options.edge_workers,
                worker_rlimit_nofile=min(hard, 65536),
                worker_connections=min(hard, 65536) - 2048,
                limit_conn_per_address=60_000,
                user=getpass.getuser() if os.geteuid() == 0 else "",
            )
            edge = start_private_edge(edge_config)
            pids["edge_nginx"] = edge.pid
            target_url = f"http://{edge_config.listen}"
        for _ in range(300):
            if (body := fetch(origin_url + PLAYLIST)) and b".ts" in body:
                break
            time.sleep(0.1)
        time.sleep(3)
        for viewers in steps:
            result = run_step(viewers, target_url, origin_url, pids, options)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
            if not on_time(result):
                break
    finally:
        publisher.kill()
        publisher.wait()
        if edge is not None:
            stop_private_edge(edge)
        bench.stop_nginx(origin)
        bench.stop_gunicorn()
    served = [r["viewers"] for r in results if on_time(r)]
    output = {
        "target": options.target,
        "options": vars(options),
        "steps": results,
        "most_viewers_on_time": max(served) if served else 0,
        "median_load_average": statistics.median(r["load_average"] for r in results),
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / "bench" / "results" / f"viewers-{options.target}-{stamp}.json"
    out.write_text(json.dumps(output, indent=1) + "\n")
    print(json.dumps({k: v for k, v in output.items() if k != "steps"}, indent=1))
    print(f"results in {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
