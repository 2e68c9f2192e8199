#!/usr/bin/env python3
"""What renditions cost this machine, and what they do for a viewer on a slow link.

    .venv/bin/python bench/renditions.py [--seconds 30] [--parts cost,capacity,throttle,behind]

The source: 1080p30 H.264 (x264 veryfast, --source-bitrate, 1 s keyframes) with AAC,
encoded once to a file before measuring and published in a loop with `-c copy` (so no
encoder runs on this machine while it measures), into a private stack (bench/stack.py:
Django on gunicorn, nginx from deploy/nginx.conf.template with renditions on, the
transcoder supervisor nginx starts).

  cost      per ladder (each rung alone, then the whole ladder): the CPU of the broadcast's
            transcoding ffmpeg (/proc/<pid>/stat over --seconds, after 8 s of warm-up), in
            cores, and its speed as the supervisor reports it (media s per s, last 10 s)
  capacity  1, 2, 3 ... --max-broadcasts such broadcasts at once, whole ladder: each
            transcoder's lowest reported speed over --seconds (≥ 1.0 keeps up)
  throttle  Chromium plays the channel in Auto (1920x1080 window); once it plays, the link
            is throttled (CDP Network.emulateNetworkConditions, --throttle-mbps) for
            --throttle-seconds, then lifted: when the player settled on the level it then
            kept, its stalls after that, and when it was back on its first level
  behind    --behind-broadcasts such broadcasts transcoded at once (more than the machine
            keeps up with; ECHO_TRANSCODE_BEHIND_SECONDS as by default) while Chromium plays
            the first in Auto: its stalls while its transcoder is behind, when the
            transcoder gave up (the master gone), when the player played again (on the
            source's own playlist), and its stalls after that

Writes bench/results/renditions-<time>.json. Not a test: run it on a quiet machine.
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Bench, Variant  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

LADDER = "720p30,480p30,360p30"
TICKS = os.sysconf("SC_CLK_TCK")
LEVEL = "() => (document.querySelector('[data-quality-menu]') || {dataset: {}}).dataset.playing"
# Before the page's scripts: reach the player's hls.js (to read its state, nothing else),
# and time every stall (a "waiting" to the next "playing").
WATCH = """(() => {
  window.__stalls = [];
  Object.defineProperty(window, "Hls", {
    configurable: true,
    get: () => window.__Hls,
    set: (Real) => {
      window.__Hls = class extends Real {
        constructor(config) { super(config); window.__hls = this; }
      };
    },
  });
  document.addEventListener("DOMContentLoaded", () => {
    const video = document.querySelector("video");
    video.addEventListener("waiting", () => window.__stalls.push([performance.now(), null]));
    video.addEventListener("playing", () => {
      const last = window.__stalls[window.__stalls.length - 1];
      if (last && last[1] === null) last[1] = performance.now() - last[0];
    });
  });
})()"""
# The player's state as the bench samples it.
STATE = """() => {
  const hls = window.__hls, video = document.querySelector("video");
  let ahead = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= video.currentTime + 0.1 && video.currentTime < video.buffered.end(i))
      ahead = video.buffered.end(i) - video.currentTime;
  }
  const r = (x) => (typeof x === "number" ? Math.round(x * 100) / 100 : null);
  return {
    now: Math.round(performance.now()),
    level: (document.querySelector("[data-quality-menu]") || {dataset: {}}).dataset.playing,
    stalls: window.__stalls.length,
    ahead: r(ahead),
    latency: hls ? r(hls.latency) : null,
    target: hls ? r(hls.targetLatency) : null,
    estimate_kbps: hls ? Math.round(hls.bandwidthEstimate / 1000) : null,
    rate: video.playbackRate,
  };
}"""


def make_source(path: Path, seconds: int, bitrate: str, size: str = "1920x1080") -> None:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    command += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30"]
    command += ["-keyint_min", "30", "-sc_threshold", "0", "-b:v", bitrate, "-maxrate", bitrate]
    command += ["-bufsize", bitrate, "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)]
    subprocess.run(command, check=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def transcoder_pid(channel: str) -> int | None:
    found = subprocess.run(
        ["pgrep", "-f", f"renditions/{channel}.src"], capture_output=True, text=True
    ).stdout.split()
    return int(found[0]) if found else None


class RenditionsBench(Bench):
    def __init__(self, options, workdir: Path) -> None:
        super().__init__(options, workdir)
        self.source = workdir / "source.flv"
        self.throttle_source = workdir / "throttle-source.flv"
        self.publishers: list[subprocess.Popen] = []

    def restart_django(self, ladder: str, slots: int, *, give_up: bool = True) -> None:
        self.stop_gunicorn()
        self.extra_environment = {"ECHO_RENDITIONS": ladder, "ECHO_TRANSCODE_MAX": str(slots)}
        if not give_up:  # cost and capacity measure a slow transcoder's speed: it goes on
            self.extra_environment["ECHO_TRANSCODE_BEHIND_SECONDS"] = "86400"
        self.start_gunicorn()

    def publish(self, channel: str, source: Path | None = None) -> None:
        url = f"rtmp://127.0.0.1:{self.ports['rtmp']}/ingest/{self.stream_keys[channel]}"
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
        command += ["-stream_loop", "-1", "-i", str(source or self.source)]
        command += ["-c", "copy", "-f", "flv", url]
        self.publishers.append(subprocess.Popen(command, stdin=subprocess.DEVNULL))

    def stop_publishers(self) -> None:
        for publisher in self.publishers:
            publisher.terminate()
            publisher.wait()
        self.publishers = []

    def speeds(self, channel: str) -> float | None:
        from streams.models import Broadcast

        broadcast = Broadcast.objects.filter(channel__user__username=channel).latest("started_at")
        return broadcast.transcode_speed

    def running(self, channels: list[str], timeout: float = 40) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = {channel: transcoder_pid(channel) for channel in channels}
            if all(pids.values()) and all(
                (self.hls_path / "renditions" / f"{channel}.master.m3u8").exists()
                for channel in channels
            ):
                return pids
            time.sleep(0.5)
        raise RuntimeError(f"transcoders of {channels} not running after {timeout} s")

    def measure(self, channels: list[str], ladder: str) -> dict:
        """Publish to every channel at once; each transcoder's CPU and speeds."""
        seconds = self.options.seconds
        prefix = self.workdir / f"nginx-{channels[0]}"
        self.restart_django(ladder, slots=len(channels), give_up=False)
        variant = Variant("renditions", nginx={"renditions": True}, hls_config=None)
        _, nginx = self.start_nginx(variant, prefix)
        try:
            for channel in channels:
                self.publish(channel)
            pids = self.running(channels)
            time.sleep(8)  # the supervisor's speed window, ffmpeg's start-up
            load = os.getloadavg()[0]
            before = {channel: cpu_seconds(pid) for channel, pid in pids.items()}
            started = time.monotonic()
            speeds: dict[str, list[float]] = {channel: [] for channel in channels}
            while time.monotonic() - started < seconds:
                time.sleep(5)
                for channel in channels:
                    speed = self.speeds(channel)
                    if speed is not None:
                        speeds[channel].append(speed)
            elapsed = time.monotonic() - started
            cores = {c: (cpu_seconds(pid) - before[c]) / elapsed for c, pid in pids.items()}
        finally:
            self.stop_publishers()
            self.stop_nginx(nginx)
        return {
            "ladder": ladder,
            "broadcasts": len(channels),
            "load_before": load,
            "cores": cores,
            "speeds": speeds,
            "min_speed": min(min(v) for v in speeds.values() if v)
            if any(speeds.values())
            else None,
            # The slowest transcoder's median report: below 1.0 it falls behind for good.
            "median_speed": min(statistics.median(v) for v in speeds.values() if v)
            if any(speeds.values())
            else None,
        }

    def watch(self, playwright, channel: str, *, played: float, timeout: float):
        """Chromium (1920x1080: Auto may pick the source) on the channel's page, watched
        (WATCH), once the video has played `played` seconds."""
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.add_init_script(script=WATCH)
        page.goto(f"http://127.0.0.1:{self.ports['http']}/{channel}")
        page.wait_for_function(
            f"() => document.querySelector('video').currentTime > {played}",
            timeout=timeout * 1000,
        )
        return browser, page

    def throttle(self, channel: str) -> dict:
        from playwright.sync_api import sync_playwright

        options = self.options
        prefix = self.workdir / f"nginx-{channel}"
        self.restart_django(LADDER, slots=1)
        variant = Variant("renditions", nginx={"renditions": True}, hls_config=None)
        _, nginx = self.start_nginx(variant, prefix)
        timeline, states, stalls = [], [], []
        try:
            self.publish(channel, self.throttle_source)
            self.running([channel])
            time.sleep(4)
            with sync_playwright() as playwright:
                browser, page = self.watch(playwright, channel, played=1, timeout=20)
                page.evaluate("() => { window.__stalls = []; }")
                time.sleep(5)
                first_level = page.evaluate(LEVEL)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                rate = options.throttle_mbps * 1e6 / 8
                phases = [("throttled", rate, options.throttle_seconds), ("lifted", -1, 30)]
                for phase, rate, seconds in phases:
                    cdp.send(
                        "Network.emulateNetworkConditions",
                        {
                            "offline": False,
                            "latency": 0,
                            "downloadThroughput": rate,
                            "uploadThroughput": rate,
                        },
                    )
                    start = time.monotonic()
                    while time.monotonic() - start < seconds:
                        state = page.evaluate(STATE)
                        at = round(time.monotonic() - start, 2)
                        timeline.append((phase, at, state.pop("level"), state.pop("stalls")))
                        states.append({"phase": phase, "at": at, **state})
                        if len(states) % 8 == 1:
                            states[-1]["transcoder_speed"] = self.speeds(channel)
                        time.sleep(0.25)
                stalls = page.evaluate("window.__stalls")
                browser.close()
        finally:
            self.stop_publishers()
            self.stop_nginx(nginx)
        result = summarize_throttle(first_level, timeline)
        # Each stall: [ms since the page opened, how long it lasted, ms].
        result["stalls"] = [[round(at), duration and round(duration)] for at, duration in stalls]
        result["states"] = states
        return result

    def behind(self, channels: list[str]) -> dict:
        """Chromium on channels[0] while every channel is transcoded: from the page's
        first frame until 20 s after the master went (or --behind-seconds)."""
        from playwright.sync_api import sync_playwright

        prefix = self.workdir / f"nginx-behind-{len(channels)}"
        self.restart_django(LADDER, slots=len(channels))
        variant = Variant("renditions", nginx={"renditions": True}, hls_config=None)
        _, nginx = self.start_nginx(variant, prefix)
        master = self.hls_path / "renditions" / f"{channels[0]}.master.m3u8"
        states, gone_at, stalls = [], None, []
        try:
            for channel in channels:
                self.publish(channel)
            self.running(channels[:1], timeout=60)
            with sync_playwright() as playwright:
                browser, page = self.watch(playwright, channels[0], played=0, timeout=30)
                opened = page.evaluate("performance.now()")
                start = time.monotonic()
                while time.monotonic() - start < self.options.behind_seconds:
                    at = round(time.monotonic() - start, 2)
                    if gone_at is None and not master.exists():
                        gone_at = at
                    state = page.evaluate(STATE)
                    state["time"] = page.evaluate("document.querySelector('video').currentTime")
                    states.append({"at": at, "master": gone_at is None, **state})
                    if gone_at is not None and at > gone_at + 20:
                        break
                    time.sleep(0.25)
                stalls = [
                    [round((begin - opened) / 1000, 2), duration and round(duration / 1000, 2)]
                    for begin, duration in page.evaluate("window.__stalls")
                ]
                browser.close()
            speed = self.speeds(channels[0])
        finally:
            self.stop_publishers()
            self.stop_nginx(nginx)
        result = {"broadcasts": len(channels), "gave_up_at_s": gone_at, "speed": speed}
        result["stalls"] = stalls  # [s after the first frame, how long it lasted, s]
        if gone_at is not None:
            # Playing again: the first sample after the master went with the picture moving
            # on a single-level stream (the quality menu names no level).
            moving = [
                s
                for earlier, s in itertools.pairwise(states)
                if s["at"] > gone_at and not s["level"] and s["time"] > earlier["time"]
            ]
            result["playing_again_after_s"] = (
                round(moving[0]["at"] - gone_at, 2) if moving else None
            )
            result["stalls_before"] = sum(1 for at, _ in stalls if at < gone_at)
            settled = gone_at + (result["playing_again_after_s"] or 0)
            result["stalls_after_playing_again"] = sum(1 for at, _ in stalls if at > settled)
        result["states"] = states
        return result


def summarize_throttle(first_level: str, timeline: list[tuple]) -> dict:
    throttled = [t for t in timeline if t[0] == "throttled"]
    lifted = [t for t in timeline if t[0] == "lifted"]
    settled_level = throttled[-1][2]
    # The moment from which the level stayed what it was at the end of the throttle.
    settled_at = throttled[-1][1]
    for _, at, level, _ in reversed(throttled):
        if level != settled_level:
            break
        settled_at = at
    stalls_at_settle = next(s for _, at, _, s in throttled if at >= settled_at)
    back = next((at for _, at, level, _ in lifted if level == first_level), None)
    return {
        "first_level": first_level,
        "settled_level": settled_level,
        "settled_after_s": settled_at,
        "stalls_while_throttled": throttled[-1][3] - throttled[0][3],
        "stalls_after_settling": throttled[-1][3] - stalls_at_settle,
        "back_to_first_level_after_s": back,
        "timeline": timeline,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="measured, per measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", default="cost,capacity,throttle,behind")
    parser.add_argument("--max-broadcasts", type=int, default=3)
    parser.add_argument("--source-bitrate", default="6000k")
    parser.add_argument("--throttle-mbps", type=float, default=1.5)
    parser.add_argument("--throttle-seconds", type=float, default=30)
    # The viewer's Chromium runs on this machine too: with the 1080p source's whole ladder
    # (about 1.2 cores) it pushes the transcoder below real time on 2 cores, and every
    # level stalls (bench/results/renditions-20261208-013548.json). The demo's source.
    parser.add_argument("--throttle-source", default="1280x720:2500k",
                        help="the throttled viewer's source, SIZE:BITRATE")  # fmt: skip
    parser.add_argument("--behind-broadcasts", type=int, default=3,
                        help="transcoded at once in the behind part (3 run at 0.56x here)")  # fmt: skip
    parser.add_argument("--behind-seconds", type=float, default=120,
                        help="the longest the behind part waits for a transcoder to give up")  # fmt: skip
    options = parser.parse_args(argv)
    parts = options.parts.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="echo-renditions-"))
    bench = RenditionsBench(options, workdir)
    channels = [f"ch{i}" for i in range(1, options.max_broadcasts + 1)] + ["viewer"]
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "options": vars(options),
        "cost": [],
        "capacity": [],
        "throttle": [],
        "behind": [],
    }
    try:
        print("encoding the 1080p30 source once…")
        make_source(bench.source, 20, options.source_bitrate)
        if "throttle" in parts:
            size, _, bitrate = options.throttle_source.partition(":")
            make_source(bench.throttle_source, 20, bitrate, size)
        bench.setup_django(channels)
        bench.start_gunicorn()
        for run in range(1, options.runs + 1):
            if "cost" in parts:
                for ladder in LADDER.split(",") + [LADDER]:
                    result = bench.measure(["ch1"], ladder)
                    result["run"] = run
                    report["cost"].append(result)
                    print(f"run {run} cost {ladder}: {result['cores']['ch1']:.2f} cores, "
                          f"speed ≥ {result['min_speed']}, load {result['load_before']:.2f}")  # fmt: skip
            if "capacity" in parts:
                for count in range(1, options.max_broadcasts + 1):
                    result = bench.measure(channels[:count], LADDER)
                    result["run"] = run
                    report["capacity"].append(result)
                    print(f"run {run} capacity {count}: speed min {result['min_speed']} "
                          f"median {result['median_speed']}, "
                          f"cores {sorted(round(c, 2) for c in result['cores'].values())}")  # fmt: skip
            if "throttle" in parts:
                result = bench.throttle("viewer")
                result["run"] = run
                report["throttle"].append(result)
                shown = {k: v for k, v in result.items() if k != "timeline"}
                print(f"run {run} throttle: {shown}")
            if "behind" in parts:
                result = bench.behind(channels[: options.behind_broadcasts])
                result["run"] = run
                report["behind"].append(result)
                shown = {k: v for k, v in result.items() if k != "states"}
                print(f"run {run} behind: {shown}")
    finally:
        bench.stop_gunicorn()
    report["loadavg_after"] = os.getloadavg()
    report["summary"] = summary(report)
    print(json.dumps(report["summary"], indent=1))
    output = ROOT / "bench" / "results" / f"renditions-{time.strftime('%Y%m%d-%H%M%S')}.json"
    output.write_text(json.dumps(report, indent=1) + "\n")
    print(f"results: {output.relative_to(ROOT)}")
    return 0


def summary(report: dict) -> dict:
    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    result = {"cost_cores": {}, "capacity_min_speed": {}, "capacity_median_speed": {}}
    result["throttle"] = {}
    for ladder in dict.fromkeys(r["ladder"] for r in report["cost"]):
        result["cost_cores"][ladder] = median(
            [r["cores"]["ch1"] for r in report["cost"] if r["ladder"] == ladder]
        )
    for count in dict.fromkeys(r["broadcasts"] for r in report["capacity"]):
        for key in ("min_speed", "median_speed"):
            result[f"capacity_{key}"][count] = median(
                [r[key] for r in report["capacity"] if r["broadcasts"] == count]
            )
    for key in ("settled_after_s", "stalls_after_settling", "back_to_first_level_after_s"):
        result["throttle"][key] = median([r[key] for r in report["throttle"]])
    result["throttle"]["levels"] = [
        (r["first_level"], r["settled_level"]) for r in report["throttle"]
    ]
    result["behind"] = {
        key: median([r.get(key) for r in report["behind"]])
        for key in (
            "gave_up_at_s",
            "stalls_before",
            "playing_again_after_s",
            "stalls_after_playing_again",
        )
    }
    return result


if __name__ == "__main__":
    sys.exit(main())
