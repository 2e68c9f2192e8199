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
import dataclasses
import functools
import getpass
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

from bench.network import DelayingProxy  # noqa: E402
from bench.pattern import Camera  # noqa: E402
from bench.report import print_table, summarize  # noqa: E402
from bench.stack import Bench, Variant, free_port  # noqa: E402
from bench.watch import PlaylistWatcher  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 (the same browser as the tests)

# What a first-time viewer's page load is made of (ms since navigation start).
TTFF_FIELDS = """() => ({
    first_frame: __bench.firstFrameMs, navigation: __bench.navigation,
    hls_defined: __bench.hlsDefinedMs, hls_events: __bench.hlsEvents.slice(0, 8),
    media_events: __bench.mediaEvents, resources: __bench.resources,
})"""


# nginx-rtmp's own defaults for what echo's template sets (hls_max_fragment: 10 x
# hls_fragment), with hls.js's defaults: the baseline.
DEFAULTS_NGINX = {
    "hls_fragment": "5s",
    "hls_playlist_length": "30s",
    "hls_max_fragment": "50s",
    "hls_max_audio_delay": "300ms",
}


def variant_name(keyframes: str, network: tuple[float, float] | str | None) -> str:
    name = "defaults" if keyframes == "defaults" else f"{keyframes}s"
    if network == "edge":
        return f"{name}@edge"
    return name if network is None else f"{name}@{network[0]:g}ms"


def variants(options: argparse.Namespace) -> list[Variant]:
    """One per keyframe interval (echo's configuration) and "defaults", on loopback; then
    the --network-variants again behind each --networks round trip and jitter, and the
    --edge-variants through an edge (deploy/edge.conf.template) in front of the origin."""
    networks = [None]
    for item in filter(None, options.networks.split(",")):
        rtt, _, jitter = item.partition(":")
        networks.append((float(rtt), float(jitter or 0)))
    networks.append("edge")
    chosen = []
    for network in networks:
        names = {None: options.variants, "edge": options.edge_variants}.get(
            network, options.network_variants
        )
        for keyframes in filter(None, names.split(",")):
            if keyframes == "defaults":
                variant = Variant("defaults", nginx=dict(DEFAULTS_NGINX), hls_config="{}")
            else:
                variant = Variant(variant_name(keyframes, None), nginx={}, hls_config=None)
                variant.keyframe_seconds = float(keyframes)
                for item in options.nginx:
                    key, _, value = item.partition("=")
                    variant.nginx[key] = value
                variant.nginx_extra = options.nginx_extra
                if options.hls_config:
                    variant.hls_config = Path(options.hls_config).read_text()
                for item in options.route:
                    pattern, _, path = item.partition("=")
                    variant.routes.append((pattern, Path(path).resolve()))
            variant.name = variant_name(keyframes, network)
            variant.edge = network == "edge"
            variant.network = None if variant.edge else network
            chosen.append(variant)
            if network is None and keyframes != "defaults":
                chosen += level_variants(variant, options.levels)
    return chosen


def level_variants(variant: Variant, levels: str) -> list[Variant]:
    """The same configuration with renditions on (--ladder), the viewer's quality menu set
    to each of --levels ("source", or a height): the transcoding hop against the source."""
    chosen = []
    for level in filter(None, levels.split(",")):
        copy = dataclasses.replace(variant, nginx={**variant.nginx, "renditions": True})
        copy.name = f"{variant.name}:{level}"
        copy.quality = level
        chosen.append(copy)
    return chosen


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


# The edge variants' page is fulfilled by Playwright (LatencyBench.through_edge): Chromium
# then takes it for a public page, and a public page may not fetch from loopback.
EDGE_ARGS = ["--disable-features=LocalNetworkAccessChecks"]

FIRST_FRAME = "() => window.__bench && window.__bench.firstFrameMs !== null"


class LatencyBench(Bench):
    """The stack, a camera publishing to it and Chromium viewers on the channel page."""

    def open_viewer(self, browser, variant: Variant, url: str):
        """A new browser context (empty cache: a first-time viewer) on the channel page,
        returned once the first frame is shown."""
        context, page = self.open_page(browser, variant, url)
        try:
            page.wait_for_function(FIRST_FRAME, timeout=15_000)
        except BaseException:
            context.close()
            raise
        return context, page

    def open_page(self, browser, variant: Variant, url: str):
        """A new browser context (empty cache) on the channel page, the probe injected."""
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            override = variant.hls_config.strip() if variant.hls_config is not None else "null"
            probe = (BENCH / "probe.js").read_text().replace("__BENCH_OVERRIDE__", f"({override})")
            context.add_init_script(script=probe)
            if variant.quality:
                # The viewer's choice in the quality menu (static/js/quality-menu.js).
                choice = json.dumps(variant.quality)
                context.add_init_script(script=f"localStorage.setItem('echo.quality', {choice})")
            for pattern, path in variant.routes:
                context.route(pattern, functools.partial(fulfill_with, path))
            if self.edge_url:
                # The page and status.json name the edge as the one place to fetch HLS,
                # as ECHO_HLS_EDGE_URLS would (one gunicorn serves every variant).
                channel_path = url.rsplit("/", 1)[1]
                for glob in (f"**/{channel_path}", f"**/{channel_path}/status.json"):
                    context.route(glob, self.through_edge)
            page = context.new_page()
            if self.options.console:
                log = open(self.options.console, "a")  # noqa: SIM115 (closed with the page)
                page.on("console", lambda message: log.write(f"{time.time():.3f} {message.text}\n"))
                page.on("close", lambda _: log.close())
            page.goto(url, wait_until="commit", timeout=15_000)
        except BaseException:
            context.close()
            raise
        return context, page

    edge_url = ""

    def through_edge(self, route, request=None) -> None:
        response = route.fetch()
        body = response.text().replace('"/hls/', f'"{self.edge_url}/hls/')
        route.fulfill(response=response, body=body)

    # --- one measurement ---------------------------------------------------

    def measure(self, browser, variant: Variant, channel: str) -> dict:
        options = self.options
        prefix = self.workdir / f"nginx-{channel}"
        config, nginx_process = self.start_nginx(variant, prefix)
        rtmp_url = f"rtmp://127.0.0.1:{self.ports['rtmp']}/ingest/{self.stream_keys[channel]}"
        http = f"http://127.0.0.1:{self.ports['http']}"
        camera = Camera(
            rtmp_url,
            bitrate=options.bitrate,
            stderr_path=str(prefix / "ffmpeg.log"),
            keyframe_seconds=variant.keyframe_seconds,
        )
        keep_dir = prefix if options.keep else None
        watcher = PlaylistWatcher(http, self.hls_path, channel, keep_dir=keep_dir)
        proxy = edge = None
        viewer_http = http
        if variant.edge:
            from streams.media.edge import EdgeConfig, start_private_edge

            edge_config = EdgeConfig(
                prefix=str(prefix / "edge"),
                listen=f"127.0.0.1:{free_port()}",
                origin=config.http_listen,
                user=getpass.getuser() if os.geteuid() == 0 else "",
            )
            edge = start_private_edge(edge_config)
            self.edge_url = f"http://{edge_config.listen}"
        if variant.network is not None:
            rtt, jitter = variant.network
            proxy = DelayingProxy(self.ports["http"], rtt_ms=rtt, jitter_ms=jitter)
            viewer_http = f"http://127.0.0.1:{proxy.start()}"
        context = None
        connect_to_first_frame = None
        try:
            watcher.start()
            waiting_viewer = None
            if variant.name in options.connect_viewer.split(","):
                # A viewer on the channel page before the encoder connects.
                waiting_viewer = self.open_page(browser, variant, f"{viewer_http}/{channel}")
            camera.start()
            playable_at = watcher.wait_playable(timeout=30)
            if playable_at is None:
                raise RuntimeError(f"no playlist 30 s after publishing\n{self.logs(prefix)}")
            publish_to_playable = playable_at - camera.started_at
            on_publish_to_playable = playable_at - self.broadcast_started(channel)
            print(f"  {variant.name}: playable {publish_to_playable:.2f} s after ffmpeg started")
            if waiting_viewer is not None:
                context, page = waiting_viewer
                page.wait_for_function(FIRST_FRAME, timeout=30_000)
                shown_at = page.evaluate("(performance.timeOrigin + __bench.firstFrameMs) / 1000")
                connect_to_first_frame = shown_at - self.broadcast_started(channel)
                print(f"  {variant.name}: first frame {connect_to_first_frame:.2f} s after connect")
                context.close()
                context = None
            warmup = options.warmup if variant.name.startswith("defaults") else options.echo_warmup
            warm_until = camera.started_at + warmup
            while time.time() < warm_until and camera.running():
                time.sleep(min(0.5, max(0.0, warm_until - time.time())))
            if not camera.running():
                raise RuntimeError(f"ffmpeg exited\n{self.logs(prefix)}")

            warm_up(f"{http}/{channel}")
            first_frames = []
            for _ in range(options.ttff_viewers):
                context, page = self.open_viewer(browser, variant, f"{viewer_http}/{channel}")
                first_frames.append(page.evaluate(TTFF_FIELDS))
                context.close()
                context = None
            context, page = self.open_viewer(browser, variant, f"{viewer_http}/{channel}")
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
            if proxy is not None:
                proxy.stop()
            if edge is not None:
                from streams.media.edge import stop_private_edge

                stop_private_edge(edge)
                self.edge_url = ""
        return {
            "variant": variant.name,
            "nginx": {
                "hls_fragment": config.hls_fragment,
                "hls_playlist_length": config.hls_playlist_length,
                "extra": variant.nginx_extra,
            },  # fmt: skip
            "hls_config": variant.hls_config if variant.hls_config is not None else "player.js",
            "keyframe_seconds": variant.keyframe_seconds,
            "network": variant.network
            and {"rtt_ms": variant.network[0], "jitter_ms": variant.network[1]},
            "edge": variant.edge,
            "connect_to_first_frame_s": connect_to_first_frame,
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
    # Channel names as nginx serves them ([a-z0-9_-]): "0.5s@50ms", run 2: "0-5s-50ms-2".
    channels = [
        (run, v, re.sub(r"[^a-z0-9]+", "-", f"{v.name}-{run}"))
        for run in range(1, options.runs + 1)
        for v in chosen
    ]
    workdir = Path(tempfile.mkdtemp(prefix="echo-bench-"))
    bench = LatencyBench(options, workdir)
    if options.levels:
        bench.extra_environment = {
            "ECHO_RENDITIONS": options.ladder,
            "ECHO_TRANSCODE_MAX": "4",
        }  # fmt: skip
    results = []
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.setup_django([name for _, _, name in channels])
        bench.start_gunicorn()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS + EDGE_ARGS, headless=True
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
    parser.add_argument(
        "--echo-warmup", type=float, default=12,
        help="seconds live before the viewer arrives, echo's variants",
    )  # fmt: skip
    parser.add_argument("--variants", default="0.5,1,2,defaults",
                        help="keyframe intervals (s) with echo's configuration, and/or defaults")  # fmt: skip
    parser.add_argument("--networks", default="50:20,150:40",
                        help="viewer networks RTT:JITTER ms (bench/network.py), comma-separated; '' for none")  # fmt: skip
    parser.add_argument("--network-variants", default="0.5,1", help="variants run on each network")
    parser.add_argument("--edge-variants", default="0.5",
                        help="variants run through an edge cache (deploy/edge.conf.template); '' for none")  # fmt: skip
    parser.add_argument("--connect-viewer", default="0.5s",
                        help="variants with a viewer waiting before the encoder connects")  # fmt: skip
    parser.add_argument(
        "--ttff-viewers", type=int, default=5,
        help="first-time viewers who only open the page, for the time to first frame",
    )  # fmt: skip
    parser.add_argument("--bitrate", default="1000k", help="video bitrate of the encoder")
    parser.add_argument("--levels", default="",
                        help="with renditions on (--ladder), each of these levels too, e.g. "
                             "'source,240,180' (the camera is 640x360)")  # fmt: skip
    parser.add_argument("--ladder", default="240p30:500k,180p30:250k",
                        help="ECHO_RENDITIONS for --levels")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, playlists)")
    parser.add_argument("--output", help="JSON results file (default: bench/results/<time>.json)")
    experiments = parser.add_argument_group("experiments (echo's variants only)")
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
    for level in filter(None, options.levels.split(",")):
        if level != "source" and not level.isdigit():
            parser.error(f"--levels: 'source' or a height, got {level!r}")
    for names in (options.variants, options.network_variants, options.edge_variants):
        for name in filter(None, names.split(",")):
            if name != "defaults" and not re.fullmatch(r"\d+(\.\d+)?", name):
                parser.error(f"a variant is a keyframe interval in seconds or defaults: {name!r}")
    fields = "hls_fragment|hls_playlist_length|hls_max_fragment|hls_max_audio_delay"
    for item in options.nginx:
        if not re.fullmatch(fields, item.partition("=")[0]):
            parser.error(f"--nginx: only {fields.replace('|', ', ')}, got {item!r}")
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
