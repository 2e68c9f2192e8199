"""Past broadcasts and clips, measured on the real platform (run by hand, not in the suite):

- a one-minute broadcast: from the encoder stopping to a READY replay, and to a replay
  page playing in Debian's Chromium;
- seeking in Chromium: from setting currentTime to the next frame played, at random points;
- clips: from the request (API) to a READY clip, of the live stream and of the replay;
- remux speed (times real time) and storage per hour of stream at 2.5 and 6 Mbps.

Everything runs as `./echotv run` runs it: `manage.py run_platform` (its Redis, gunicorn,
the worker and nginx from deploy/) on free loopback ports, a throwaway SQLite database.

    .venv/bin/python bench/replays.py --runs 3          # about 8 minutes
    .venv/bin/python bench/replays.py --runs 1 --broadcast 20 --remux-minutes 2   # a look
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)


class Platform:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.http = free_port()
        self.rtmp = free_port()
        self.env = {
            "PATH": os.environ["PATH"],
            "SECRET_KEY": "bench-replays-" + "k" * 50,
            "ECHO_RTMP_CALLBACK_SECRET": "bench-replays-callback-secret",
            "ECHO_STATIC_MANIFEST": "false",
            "SECURE_COOKIES": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DB": "sqlite",
            "DB_NAME": str(workdir / "db.sqlite3"),
            "ECHO_HTTP_PORT": str(self.http),
            "ECHO_RTMP_PORT": str(self.rtmp),
            "ECHO_DJANGO_PORT": str(free_port()),
            "ECHO_RTMP_INGEST_PORT": str(free_port()),
            "ECHO_RTMP_LIVE_PORT": str(free_port()),
            "ECHO_NGINX_CONTROL_URL": f"http://127.0.0.1:{free_port()}",
            "ECHO_HLS_PATH": str(workdir / "hls"),
            "ECHO_REDIS_DIR": str(workdir / "redis"),
            "SITE_URL": f"http://127.0.0.1:{self.http}",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "echo.settings",
            "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        }
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.log = open(workdir / "platform.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_platform", "--workers", "2"]
            + ["--nginx-prefix", str(workdir / "nginx")],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while b"Press Ctrl-C" not in (workdir / "platform.log").read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((workdir / "platform.log").read_text())
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def user_with_token(name: str):
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    user = User.objects.create_user(name, f"{name}@example.org", None)
    return user, Token.objects.create(user=user).key


def api(platform: Platform, method: str, path: str, token: str, body: dict | None = None):
    request = urllib.request.Request(
        platform.url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None


def wait(predicate, timeout: float, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(str(predicate))


def clip_time(platform, token, channel: str, body: dict) -> float:
    started = time.monotonic()
    clip = api(platform, "POST", f"/api/channels/{channel}/clips/", token, body)
    wait(lambda: api(platform, "GET", f"/api/clips/{clip['slug']}/", token)["status"] == "ready",
         timeout=30)  # fmt: skip
    return time.monotonic() - started


def one_broadcast(platform: Platform, browser, index: int, options) -> dict:
    from streams.media.encoder import publish_test_pattern
    from streams.replays.models import Replay

    streamer, _ = user_with_token(f"streamer{index}")
    _, viewer_token = user_with_token(f"viewer{index}")
    name = streamer.username
    encoder = publish_test_pattern(
        f"rtmp://127.0.0.1:{platform.rtmp}/ingest/{streamer.channel.stream_key}",
        size="640x360",
        bitrate="1000k",
        duration=options.broadcast,
    )
    wait(lambda: streamer.channel.broadcasts.filter(recordings__status="recording").exists(),
         timeout=20, interval=0.1)  # fmt: skip
    # The last 30 s (the default length), once 35 s are on disk.
    time.sleep(min(35, options.broadcast * 0.6))
    live_clips = [clip_time(platform, viewer_token, name, {"title": "live", "length": 30})]
    encoder.wait(timeout=options.broadcast + 60)
    ended = time.monotonic()
    replay = wait(
        lambda: Replay.objects.filter(channel=streamer.channel, status="ready").first(),
        timeout=60,
    )
    ready_after = time.monotonic() - ended

    page = browser.new_page()
    opened = time.monotonic()
    page.goto(platform.url + replay.get_absolute_url(), wait_until="domcontentloaded")
    page.eval_on_selector("#replay-video", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('#replay-video').currentTime > 0.2")
    playing_after = time.monotonic() - ended
    page_to_playing = time.monotonic() - opened

    seeks = []
    for _ in range(options.seeks):
        target = random.uniform(1, replay.duration - 3)
        seconds = page.evaluate(
            """(target) => new Promise((resolve) => {
                const v = document.querySelector('#replay-video');
                const start = performance.now();
                const done = () => {
                  if (!v.seeking && v.currentTime > target + 0.05) resolve((performance.now() - start) / 1000);
                  else v.requestVideoFrameCallback(done);
                };
                v.currentTime = target;
                v.requestVideoFrameCallback(done);
            })""",
            target,
        )
        seeks.append(seconds)
        page.wait_for_timeout(300)
    page.close()
    replay_clips = [
        clip_time(platform, viewer_token, name,
                  {"title": "span", "replay": replay.pk, "start": replay.duration / 3, "length": 30})
    ]  # fmt: skip
    return {
        "broadcast_seconds": options.broadcast,
        "replay_duration": replay.duration,
        "replay_ready_after_end_s": round(ready_after, 3),
        "replay_playing_in_chromium_after_end_s": round(playing_after, 3),
        "replay_page_opened_to_playing_s": round(page_to_playing, 3),
        "seek_to_frame_s": [round(s, 3) for s in seeks],
        "live_clip_ready_s": [round(s, 3) for s in live_clips],
        "replay_clip_ready_s": [round(s, 3) for s in replay_clips],
    }


def remux_speed(workdir: Path, bitrate_kbps: int, minutes: int) -> dict:
    """Encode 20 s at the bitrate (720p30, 1 s keyframes, as OBS would send), loop it to
    `minutes` with streams copied (an FLV as nginx-rtmp records), then time the remux."""
    from streams.media import recordings

    piece, flv = workdir / f"piece-{bitrate_kbps}.flv", workdir / f"long-{bitrate_kbps}.flv"
    rate = f"{bitrate_kbps}k"
    if not flv.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"]
            + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "20"]
            + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-keyint_min", "30"]
            + ["-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-x264-params", "nal-hrd=cbr"]
            + ["-c:a", "aac", "-b:a", "128k", "-f", "flv", "-y", str(piece)],
            check=True,
        )
        subprocess.run(
            ["ffmpeg", "-v", "error", "-stream_loop", str(minutes * 3 - 1), "-i", str(piece)]
            + ["-c", "copy", "-f", "flv", "-y", str(flv)],
            check=True,
        )
    destination = workdir / f"remux-{bitrate_kbps}.mp4"
    started = time.monotonic()
    recordings.remux([flv], destination)
    elapsed = time.monotonic() - started
    seconds = recordings.duration(destination)
    mp4_size = destination.stat().st_size
    destination.unlink()
    return {
        "bitrate_kbps": bitrate_kbps,
        "media_seconds": round(seconds, 1),
        "remux_seconds": round(elapsed, 3),
        "times_real_time": round(seconds / elapsed, 1),
        "flv_gb_per_hour": round(flv.stat().st_size / seconds * 3600 / 1e9, 3),
        "mp4_gb_per_hour": round(mp4_size / seconds * 3600 / 1e9, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--broadcast", type=float, default=60, help="seconds per broadcast")
    parser.add_argument("--seeks", type=int, default=10, help="seeks per replay")
    parser.add_argument("--remux-minutes", type=int, default=10)
    options = parser.parse_args()
    results = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "options": vars(options),
        "runs": [],
        "remux": [],
    }
    with tempfile.TemporaryDirectory(prefix="echo-bench-replays-") as scratch:
        workdir = Path(scratch)
        platform = Platform(workdir)
        from playwright.sync_api import sync_playwright

        from tests.browser import CHROMIUM, CHROMIUM_ARGS

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for index in range(options.runs):
                    run = one_broadcast(platform, browser, index, options)
                    print(json.dumps(run), flush=True)
                    results["runs"].append(run)
                browser.close()
        finally:
            platform.stop()
        for bitrate in (2500, 6000):
            for _ in range(options.runs):
                row = remux_speed(workdir, bitrate, options.remux_minutes)
                print(json.dumps(row), flush=True)
                results["remux"].append(row)
    runs, remux = results["runs"], results["remux"]
    seeks = [s for run in runs for s in run["seek_to_frame_s"]]
    results["summary"] = {
        "replay_ready_after_end_s_median": median([r["replay_ready_after_end_s"] for r in runs]),
        "replay_ready_after_end_s_max": max(r["replay_ready_after_end_s"] for r in runs),
        "replay_playing_after_end_s_median": median(
            [r["replay_playing_in_chromium_after_end_s"] for r in runs]
        ),
        "seek_to_frame_s_median": median(seeks),
        "seek_to_frame_s_p95": p95(seeks),
        "seek_to_frame_s_max": max(seeks),
        "live_clip_ready_s_median": median([s for r in runs for s in r["live_clip_ready_s"]]),
        "replay_clip_ready_s_median": median([s for r in runs for s in r["replay_clip_ready_s"]]),
    }
    for bitrate in (2500, 6000):
        rows = [row for row in remux if row["bitrate_kbps"] == bitrate]
        results["summary"][f"remux_{bitrate}k_times_real_time_median"] = median(
            [row["times_real_time"] for row in rows]
        )
        results["summary"][f"storage_{bitrate}k_mp4_gb_per_hour"] = median(
            [row["mp4_gb_per_hour"] for row in rows]
        )
        results["summary"][f"storage_{bitrate}k_flv_gb_per_hour"] = median(
            [row["flv_gb_per_hour"] for row in rows]
        )
    results["machine"]["load_after"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"replays-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["summary"], indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
