#!/usr/bin/env python3
"""Glass-to-glass latency of echo.tv, measured end to end on this machine.

Starts its own Django (gunicorn) with a throwaway SQLite database, a private nginx
rendered from deploy/nginx.conf.template, a camera stand-in (bench/pattern.py: frames
carrying their capture time, encoded by ffmpeg as OBS would) and Debian's Chromium on
the real channel page. For each configuration ("echo": the template's defaults and
player.js's hls.js config; "defaults": nginx-rtmp's and hls.js's defaults) it reports
glass-to-glass latency, stalls, time to first frame and publish-to-playable.

    .venv/bin/python bench/latency.py [--runs 3] [--duration 60]

See bench/README.md. Not a test: run it by hand on a quiet machine.
"""

import argparse
import functools
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from bench.pattern import Camera  # noqa: E402
from bench.report import print_table, summarize  # noqa: E402
from bench.stack import Bench, Variant  # noqa: E402
from bench.watch import PlaylistWatcher  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 (the same browser as the tests)

# What a first-time viewer's page load is made of (ms since navigation start).
TTFF_FIELDS = """() => ({
    first_frame: __bench.firstFrameMs, navigation: __bench.navigation,
    hls_defined: __bench.hlsDefinedMs, hls_events: __bench.hlsEvents.slice(0, 8),
    media_events: __bench.mediaEvents, resources: __bench.resources,
})"""


def variants(options: argparse.Namespace) -> list[Variant]:
    echo = Variant("echo", nginx={}, hls_config=None)
    for item in options.nginx:
        key, _, value = item.partition("=")
        echo.nginx[key] = value
    echo.nginx_extra = options.nginx_extra
    if options.hls_config:
        echo.hls_config = Path(options.hls_config).read_text()
    for item in options.route:
        pattern, _, path = item.partition("=")
        echo.routes.append((pattern, Path(path).resolve()))
    defaults = Variant(
        "defaults", nginx={"hls_fragment": "5s", "hls_playlist_length": "30s"}, hls_config="{}"
    )
    chosen = {"echo": echo, "defaults": defaults}
    return [chosen[name] for name in options.variants.split(",")]


def fulfill_with(path: Path, route, request=None) -> None:
    route.fulfill(path=path)


def warm_up(page_url: str) -> None:
    """Fetch the page and its static files as earlier viewers would have: a production
    gunicorn is warm, and the first request of a fresh worker is not what viewers see."""
    origin = page_url.rsplit("/", 1)[0]
    for _ in range(3):
        with urllib.request.urlopen(page_url, timeout=10) as response:
            html = response.read().decode()
    for path in sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))):
        with urllib.request.urlopen(origin + path, timeout=10) as response:
            response.read()


class LatencyBench(Bench):
    """The stack, a camera publishing to it and Chromium viewers on the channel page."""

    def open_viewer(self, browser, variant: Variant, url: str):
        """A new browser context (empty cache: a first-time viewer) on the channel page,
        returned once the first frame is shown."""
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            override = variant.hls_config.strip() if variant.hls_config is not None else "null"
            probe = (BENCH / "probe.js").read_text().replace("__BENCH_OVERRIDE__", f"({override})")
            context.add_init_script(script=probe)
            for pattern, path in variant.routes:
                context.route(pattern, functools.partial(fulfill_with, path))
            page = context.new_page()
            if self.options.console:
                log = open(self.options.console, "a")  # noqa: SIM115 (closed with the page)
                page.on("console", lambda message: log.write(f"{time.time():.3f} {message.text}\n"))
                page.on("close", lambda _: log.close())
            page.goto(url, wait_until="commit", timeout=15_000)
            page.wait_for_function(
                "() => window.__bench && window.__bench.firstFrameMs !== null", timeout=15_000
            )
        except BaseException:
            context.close()
            raise
        return context, page

    # --- one measurement ---------------------------------------------------

    def measure(self, browser, variant: Variant, channel: str) -> dict:
        options = self.options
        prefix = self.workdir / f"nginx-{channel}"
        config, nginx_process = self.start_nginx(variant, prefix)
        rtmp_url = f"rtmp://127.0.0.1:{self.ports['rtmp']}/ingest/{self.stream_keys[channel]}"
        http = f"http://127.0.0.1:{self.ports['http']}"
        camera = Camera(rtmp_url, bitrate=options.bitrate, stderr_path=str(prefix / "ffmpeg.log"))
        keep_dir = prefix if options.keep else None
        watcher = PlaylistWatcher(http, self.hls_path, channel, keep_dir=keep_dir)
        context = None
        try:
            watcher.start()
            camera.start()
            playable_at = watcher.wait_playable(timeout=30)
            if playable_at is None:
                raise RuntimeError(f"no playlist 30 s after publishing\n{self.logs(prefix)}")
            publish_to_playable = playable_at - camera.started_at
            on_publish_to_playable = playable_at - self.broadcast_started(channel)
            print(f"  {variant.name}: playable {publish_to_playable:.2f} s after ffmpeg started")
            warm_until = camera.started_at + options.warmup
            while time.time() < warm_until and camera.running():
                time.sleep(min(0.5, max(0.0, warm_until - time.time())))
            if not camera.running():
                raise RuntimeError(f"ffmpeg exited\n{self.logs(prefix)}")

            warm_up(f"{http}/{channel}")
            first_frames = []
            for _ in range(options.ttff_viewers):
                context, page = self.open_viewer(browser, variant, f"{http}/{channel}")
                first_frames.append(page.evaluate(TTFF_FIELDS))
                context.close()
                context = None
            context, page = self.open_viewer(browser, variant, f"{http}/{channel}")
            deadline = time.monotonic() + options.duration
            for _ in range(int(options.duration * 2) + 2):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not camera.running() or nginx_process.poll() is not None:
                    break
                page.wait_for_timeout(min(500, remaining * 1000))
            played = options.duration - max(0.0, deadline - time.monotonic())
            probe_data = page.evaluate("window.__bench")
        finally:
            if context is not None:
                context.close()
            watcher.stop()
            camera.stop()
            self.stop_nginx(nginx_process)
        return {
            "variant": variant.name,
            "nginx": {
                "hls_fragment": config.hls_fragment,
                "hls_playlist_length": config.hls_playlist_length,
                "extra": variant.nginx_extra,
            },  # fmt: skip
            "hls_config": variant.hls_config if variant.hls_config is not None else "player.js",
            "publish_to_playable_s": publish_to_playable,
            "on_publish_to_playable_s": on_publish_to_playable,
            "played_s": played,
            "camera": {"frames": camera.frames, "dropped": camera.dropped},
            "playlist": watcher.summary(camera.keyframe_times),
            "probe": probe_data,
            "first_frames": first_frames,
        }


def run(options: argparse.Namespace) -> dict:
    chosen = variants(options)
    channels = [(run, v, f"{v.name}{run}") for run in range(1, options.runs + 1) for v in chosen]
    workdir = Path(tempfile.mkdtemp(prefix="echo-bench-"))
    bench = LatencyBench(options, workdir)
    results = []
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.setup_django([name for _, _, name in channels])
        bench.start_gunicorn()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                for number, variant, channel in channels:
                    print(f"run {number}/{options.runs}, {variant.name}:")
                    raw = bench.measure(browser, variant, channel)
                    raw["run"] = number
                    raw["metrics"] = summarize(raw, options.duration)
                    results.append(raw)
            finally:
                browser.close()
    finally:
        bench.stop_gunicorn()
        signal.signal(signal.SIGTERM, previous)
        if options.keep:
            print(f"logs and files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"results": results, "workdir": str(workdir)}


def versions() -> dict[str, str]:
    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else "?"

    hls_package = json.loads((ROOT / "node_modules" / "hls.js" / "package.json").read_text())
    return {
        "hls.js": hls_package["version"],
        "nginx": first_line(["nginx", "-v"]),
        "ffmpeg": first_line(["ffmpeg", "-version"]),
        "chromium": first_line([CHROMIUM, "--version"]),
        "python": platform.python_version(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat every variant this often")
    parser.add_argument("--duration", type=float, default=60, help="seconds of playback measured")
    parser.add_argument(
        "--warmup", type=float, default=35,
        help="seconds live before the viewer arrives (≥ 30: defaults' playlist is full)",
    )  # fmt: skip
    parser.add_argument("--variants", default="echo,defaults", help="comma-separated")
    parser.add_argument(
        "--ttff-viewers", type=int, default=5,
        help="first-time viewers who only open the page, for the time to first frame",
    )  # fmt: skip
    parser.add_argument("--bitrate", default="1000k", help="video bitrate of the encoder")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, playlists)")
    parser.add_argument("--output", help="JSON results file (default: bench/results/<time>.json)")
    experiments = parser.add_argument_group("experiments (echo variant only)")
    experiments.add_argument("--nginx", action="append", default=[], metavar="FIELD=VALUE",
                             help="an NginxConfig field, e.g. hls_fragment=900ms")  # fmt: skip
    experiments.add_argument("--nginx-extra", action="append", default=[], metavar="DIRECTIVE",
                             help="APP:DIRECTIVE added to an rtmp application, e.g. 'live:hls_sync 100ms'")  # fmt: skip
    experiments.add_argument("--hls-config", metavar="FILE",
                             help="JS expression replacing player.js's hls.js config")  # fmt: skip
    experiments.add_argument("--console", metavar="FILE", help="append the pages' console here")
    experiments.add_argument("--route", action="append", default=[], metavar="GLOB=FILE",
                             help="serve FILE for URLs matching GLOB, e.g. '**/player.js=/tmp/p.js'")  # fmt: skip
    options = parser.parse_args(argv)
    if options.runs < 1 or options.duration <= 0 or options.warmup < 0:
        parser.error("--runs ≥ 1, --duration > 0 and --warmup ≥ 0")
    unknown = set(options.variants.split(",")) - {"echo", "defaults"}
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    for item in options.nginx:
        if not re.fullmatch(r"hls_fragment|hls_playlist_length", item.partition("=")[0]):
            parser.error(f"--nginx: only hls_fragment and hls_playlist_length, got {item!r}")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_before = os.getloadavg()
    outcome = run(options)
    report = {
        "started": started,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },  # fmt: skip
        "versions": versions(),
        "options": {key: value for key, value in vars(options).items()},
        "runs": outcome["results"],
    }
    report["summary"] = print_table(outcome["results"])
    output = Path(options.output) if options.output else (
        BENCH / "results" / f"latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1) + "\n")
    print(f"results: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
