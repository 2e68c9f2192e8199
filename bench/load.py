#!/usr/bin/env python3
"""Load on the streaming path: many publishers and many HLS viewers at once, on loopback.

Starts the same stack as bench/latency.py (gunicorn Django on a throwaway SQLite
database, a private nginx from deploy/nginx.conf.template), then:

- N publishers (ffmpeg, stream copy of one pre-encoded clip, looped in real time: the
  encoder's CPU is not what is measured) go live on N channels;
- M simulated viewers (one asyncio client each, HTTP/1.1 keep-alive) poll their
  channel's playlist every second and fetch every new segment, as hls.js does;
- after the run: were all publishes accepted and still live, was every segment served,
  did Django or nginx log an error.

    .venv/bin/python bench/load.py [--publishers 20] [--viewers 200] [--duration 60]

Every loop is bounded by count and time; all traffic goes to 127.0.0.1.
"""

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Bench, Variant  # noqa: E402

SEGMENT = re.compile(rb"^[a-z0-9_-]+-[0-9]+\.ts$", re.MULTILINE)


def encode_clip(path: Path, seconds: int = 10) -> None:
    """A short H.264 + AAC clip with a 1 s GOP, encoded once and then only copied."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]
        + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds)]
        + ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-keyint_min", "30"]
        + ["-sc_threshold", "0", "-b:v", "800k", "-maxrate", "800k", "-bufsize", "800k"]
        + ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", str(path)],
        check=True,
    )


def publish_clip(clip: Path, rtmp_url: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
        + ["-stream_loop", "-1", "-i", str(clip), "-c", "copy", "-f", "flv", rtmp_url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


class Stats:
    def __init__(self) -> None:
        self.playlists = 0
        self.segments = 0
        self.bytes = 0
        self.errors: dict[str, int] = {}
        self.segment_seconds: list[float] = []

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def http_get(reader, writer, path: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def viewer(port: int, channel: str, stop_at: float, stats: Stats) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fetched: set[bytes] = set()
    try:
        for _ in range(10_000):  # bounded; the clock below ends it long before
            if time.monotonic() >= stop_at:
                break
            status, playlist = await http_get(reader, writer, f"/hls/{channel}.m3u8")
            stats.playlists += 1
            if status != 200:
                stats.error(f"playlist {status}")
            for name in SEGMENT.findall(playlist):
                if name in fetched:
                    continue
                fetched.add(name)
                started = time.monotonic()
                status, body = await http_get(reader, writer, f"/hls/{name.decode()}")
                if status == 200 and body[:1] == b"G":
                    stats.segments += 1
                    stats.bytes += len(body)
                    stats.segment_seconds.append(time.monotonic() - started)
                else:
                    stats.error(f"segment {status}")
            await asyncio.sleep(1.0)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        stats.error(type(exc).__name__)
    finally:
        writer.close()


async def watch_all(port: int, channels: list[str], viewers: int, seconds: float) -> Stats:
    stats = Stats()
    stop_at = time.monotonic() + seconds
    tasks = [
        viewer(port, channels[index % len(channels)], stop_at, stats) for index in range(viewers)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
    return stats


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def error_lines(path: Path, markers: tuple[str, ...], *, until: int) -> list[str]:
    """Error lines logged during the run (shutting the stack down logs its own)."""
    if not path.exists():
        return []
    text = path.read_bytes()[:until].decode(errors="replace")
    return [line for line in text.splitlines() if any(marker in line for marker in markers)]


def run(options: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="echo-load-"))
    bench = Bench(options, workdir)
    channels = [f"load{index:02d}" for index in range(1, options.publishers + 1)]
    bench.setup_django(channels)
    from streams.models import Broadcast

    clip = workdir / "clip.mp4"
    encode_clip(clip)
    bench.start_gunicorn()
    config, nginx_process = bench.start_nginx(
        Variant("echo", nginx={}, hls_config=None), workdir / "nginx"
    )
    publishers = []
    try:
        started = time.monotonic()
        for name in channels:
            url = f"rtmp://127.0.0.1:{config.rtmp_port}/ingest/{bench.stream_keys[name]}"
            publishers.append(publish_clip(clip, url, workdir / f"ffmpeg-{name}.log"))
        for _ in range(600):
            if Broadcast.objects.filter(ended_at__isnull=True).count() == len(channels):
                break
            time.sleep(0.05)
        all_live_after = time.monotonic() - started
        print(f"{len(channels)} publishers live after {all_live_after:.2f} s")
        time.sleep(3)  # a first segment on every channel
        stats = asyncio.run(
            watch_all(bench.ports["http"], channels, options.viewers, options.duration)
        )
        nginx_log, django_log = workdir / "nginx" / "logs" / "error.log", workdir / "gunicorn.log"
        logged = {nginx_log: log_size(nginx_log), django_log: log_size(django_log)}
        still_publishing = sum(process.poll() is None for process in publishers)
        live = Broadcast.objects.filter(ended_at__isnull=True).count()
        accepted = Broadcast.objects.count()
    finally:
        for process in publishers:
            process.terminate()
        for process in publishers:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        bench.stop_nginx(nginx_process)
        bench.stop_gunicorn()
    nginx_errors = error_lines(
        nginx_log, ("[error]", "[crit]", "[alert]", "[emerg]"), until=logged[nginx_log]
    )
    django_errors = error_lines(
        django_log, ("ERROR", "Traceback", "CRITICAL"), until=logged[django_log]
    )
    times = sorted(stats.segment_seconds)
    return {
        "publishers": len(channels),
        "viewers": options.viewers,
        "duration_s": options.duration,
        "publishes_accepted": accepted,
        "live_at_end": live,
        "publishers_running_at_end": still_publishing,
        "all_live_after_s": round(all_live_after, 2),
        "playlists_served": stats.playlists,
        "segments_served": stats.segments,
        "megabytes_served": round(stats.bytes / 1e6, 1),
        "segment_fetch_p50_ms": round(statistics.median(times) * 1000, 1) if times else None,
        "segment_fetch_p95_ms": round(times[int(len(times) * 0.95)] * 1000, 1) if times else None,
        "http_errors": stats.errors,
        "nginx_error_lines": nginx_errors[:20],
        "django_error_lines": django_errors[:20],
        "workdir": str(workdir),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishers", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    options = parser.parse_args(argv)
    result = run(options)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / f"load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    ok = (
        result["publishes_accepted"] == result["publishers"] == result["live_at_end"]
        and not result["http_errors"]
        and not result["nginx_error_lines"]
        and not result["django_error_lines"]
    )
    print("PASS" if ok else "FAIL", f"(results in {out.relative_to(ROOT)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
