"""One live broadcast's transcoder: a supervisor that nginx-rtmp starts (``exec_push`` in
the ``transcode`` application of deploy/nginx.conf.template) with the public name.

It asks Django for a slot and the ladder (``on-transcode``, through nginx's control
server, which adds the callback secret), probes the source, runs one ffmpeg that decodes
it once and pushes a copy of it (``<name>.src``) and each rendition (``<name>.720p30``…)
to the ``renditions`` application, writes the master playlist once every level's playlist
lists fragments, and keeps it fresh; it restarts ffmpeg with a backoff when it dies, logs
ffmpeg's output to ``<log dir>/<name>.log`` (nginx-rtmp's exec discards it),
reports ffmpeg's speed to Django every few seconds, and stops ffmpeg when nginx stops it
(SIGTERM: ``exec_kill_signal term``) or dies (PR_SET_PDEATHSIG, on both processes).
An ffmpeg that stays behind real time (the machine is short of CPU) is stopped for a
while: every level, the source's copy too, would fall further and further behind.

Every level comes from the same ffmpeg, started at the same keyframe, and the renditions
are keyframed where the source is (``-force_key_frames source``, no scene cuts): nginx-rtmp
cuts every level's fragments at the same instants, so their playlists have the same media
sequence numbers and EXTINF, and a player can switch at any fragment boundary.

Standard library only (and streams/media/playlists.py, the master playlist): nginx starts
it for every broadcast by its path, without Django's start-up.
"""

import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path (nginx's exec_push): import the room's modules from the project.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from streams.media.playlists import (  # noqa: E402 (after the path above)
    MASTER_REFRESH_SECONDS,
    SOURCE_SUFFIX,
    Level,
    Master,
    level_name,
)

# Each rendition keyframes where the source does; x264 adds none of its own in between
# (a GOP this long is never reached: the source's keyframes come first).
MAX_GOP_SECONDS = 20
REPORT_SECONDS = 5.0
RETRY_CLAIM_SECONDS = 10.0
BACKOFF_SECONDS = (1, 2, 4, 8, 15, 30)
# ffmpeg that ran this long had started fine: the next failure starts the backoff again.
HEALTHY_SECONDS = 30.0
SPEED_WINDOW_SECONDS = 20.0
# A transcoder that stayed behind real time for the time Django gives (the claim's
# behind_seconds) stops and waits this many times that before it tries again, twice as
# long after each try, up to an hour: meanwhile the channel is played as sent.
BEHIND_RETRY_FACTOR = 10
BEHIND_RETRY_MAX_SECONDS = 3600
GAVE_UP = "behind"
LOG_MAX_BYTES = 5 * 1024 * 1024
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Rung:
    height: int
    fps: int
    kbps: int

    @property
    def suffix(self) -> str:
        return f"{self.height}p{self.fps}"


@dataclass(frozen=True)
class Source:
    width: int
    height: int
    fps: float
    has_audio: bool


def scaled_width(source: Source, height: int) -> int:
    # What ffmpeg's scale=-2:H gives: the source's aspect, rounded to an even width.
    return max(2, round(height * source.width / source.height / 2) * 2)


def levels_for(source: Source, ladder: list[Rung]) -> tuple[list[Level], list[Rung]]:
    """The master's levels (the source first) and the rungs to encode: those below the
    source's height (nothing is scaled up)."""
    rungs = [rung for rung in ladder if rung.height < source.height]
    levels = [Level(SOURCE_SUFFIX, source.width, source.height, source.fps)]
    for rung in rungs:
        fps = min(float(rung.fps), source.fps)
        levels.append(Level(rung.suffix, scaled_width(source, rung.height), rung.height, fps))
    return levels, rungs


def ffmpeg_command(
    ffmpeg: str, input_url: str, output_url: str, name: str, source: Source, rungs: list[Rung]
) -> list[str]:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning"]
    # Progress as key=value lines on stdout (speed, out_time): read by the supervisor.
    command += ["-nostats", "-progress", "pipe:1", "-stats_period", "1"]
    # Latency: no input buffering, and a decoder without frame threads (each thread holds
    # a frame back); every packet is sent as soon as it is muxed.
    command += ["-fflags", "nobuffer", "-flags", "low_delay", "-i", f"{input_url}/{name}"]
    audio = ["-map", "0:a:0", "-c:a", "copy"] if source.has_audio else []
    filters = [f"[0:v:0]split={len(rungs)}" + "".join(f"[in{i}]" for i in range(len(rungs)))]
    for i, rung in enumerate(rungs):
        chain = f"[in{i}]scale=-2:{rung.height}"
        if source.fps > rung.fps + 0.5:
            chain += f",fps={rung.fps}"
        filters.append(f"{chain}[out{i}]")
    command += ["-filter_complex", ";".join(filters)]
    # The source as sent, through the same process: the same start, the same timestamps.
    command += ["-map", "0:v:0", "-c:v", "copy", *audio, "-flush_packets", "1", "-f", "flv"]
    command.append(f"{output_url}/{level_name(name, SOURCE_SUFFIX)}")
    for i, rung in enumerate(rungs):
        rate = f"{rung.kbps}k"
        command += ["-map", f"[out{i}]", "-c:v", "libx264", "-preset", "veryfast"]
        command += ["-tune", "zerolatency", "-profile:v", "main", "-pix_fmt", "yuv420p"]
        command += ["-b:v", rate, "-maxrate", rate, "-bufsize", rate]
        gop = str(MAX_GOP_SECONDS * rung.fps)
        command += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
        command += ["-force_key_frames", "source", *audio, "-flush_packets", "1", "-f", "flv"]
        command.append(f"{output_url}/{level_name(name, rung.suffix)}")
    return command


# --- the supervisor -----------------------------------------------------------------


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Be sent `sig` when the process that started this one dies (nginx's worker killed)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def with_pdeathsig(command: list[str]) -> list[str]:
    # util-linux's setpriv sets PR_SET_PDEATHSIG and execs: the child dies with this
    # process, even on SIGKILL (preexec_fn is unsafe with the reader threads running).
    return ["/usr/bin/setpriv", "--pdeathsig", "KILL", *command]


class Supervisor:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.name = options.name
        self.stopping = threading.Event()
        self.parent = os.getppid()
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self.progress: list[tuple[float, float]] = []  # (monotonic, out_time s)
        self.log_lock = threading.Lock()
        log_path = Path(options.log_dir) / f"{self.name}.log"
        try:
            if log_path.exists() and log_path.stat().st_size > LOG_MAX_BYTES:
                log_path.replace(log_path.with_suffix(".log.1"))
            self.log_file = open(log_path, "a", buffering=1)  # noqa: SIM115 (the process's life)
        except OSError as exc:
            # Transcode anyway: a missing log is no reason to play the source only.
            self.log_file = sys.stderr
            self.log(f"cannot write {log_path}: {exc}")

    def log(self, message: str) -> None:
        with self.log_lock:
            self.log_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")

    # --- Django --------------------------------------------------------------------

    def call(self, event: str, **fields) -> dict | None:
        body = urllib.parse.urlencode({"name": self.name, "event": event, **fields}).encode()
        request = urllib.request.Request(self.options.callback, data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read() or b"{}")
        except (OSError, ValueError) as exc:
            self.log(f"{event} not reported to Django: {exc}")
            return None

    def report(self, state: str, levels: list[str] = ()) -> dict | None:
        speed = self.speed()
        return self.call(
            "status",
            state=state,
            levels=",".join(levels),
            restarts=str(self.restarts),
            speed="" if speed is None else f"{speed:.3f}",
        )

    # --- ffmpeg --------------------------------------------------------------------

    def probe(self) -> Source | None:
        command = [self.options.ffprobe, "-v", "error", "-rw_timeout", "5000000"]
        command += ["-analyzeduration", "2000000", "-show_entries"]
        command += ["stream=codec_type,width,height,avg_frame_rate", "-of", "json"]
        command.append(f"{self.options.input}/{self.name}")
        try:
            done = subprocess.run(
                with_pdeathsig(command), capture_output=True, text=True, timeout=15
            )
            streams = json.loads(done.stdout or "{}").get("streams", [])
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            self.log(f"probe failed: {exc}")
            return None
        video = next((s for s in streams if s.get("codec_type") == "video"), None)
        if not video or not video.get("height"):
            self.log(f"probe found no video: {done.stderr.strip()[-300:]}")
            return None
        numerator, _, denominator = video.get("avg_frame_rate", "30/1").partition("/")
        try:
            fps = float(numerator) / float(denominator or 1)
        except (ValueError, ZeroDivisionError):
            fps = 30.0
        has_audio = any(s.get("codec_type") == "audio" for s in streams)
        return Source(int(video["width"]), int(video["height"]), fps or 30.0, has_audio)

    def read_progress(self, stream) -> None:
        out_time = None
        for line in stream:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                out_time = int(value) / 1e6
            elif key == "progress" and out_time is not None:
                now = time.monotonic()
                self.progress.append((now, out_time))
                while self.progress and self.progress[0][0] < now - SPEED_WINDOW_SECONDS:
                    self.progress.pop(0)

    def read_errors(self, stream) -> None:
        for line in stream:
            self.log("ffmpeg: " + line.rstrip())

    def speed(self) -> float | None:
        """Media seconds transcoded per second over the last SPEED_WINDOW_SECONDS
        (ffmpeg's own figure averages over its whole run)."""
        if len(self.progress) < 2:
            return None
        (start, first), (end, last) = self.progress[0], self.progress[-1]
        return (last - first) / (end - start) if end - start >= 2 else None

    def start_ffmpeg(self, source: Source, rungs: list[Rung]) -> None:
        command = ffmpeg_command(
            self.options.ffmpeg, self.options.input, self.options.output, self.name, source, rungs
        )
        self.log("starting: " + " ".join(command))
        self.progress = []
        # From the main thread: PR_SET_PDEATHSIG follows the thread that forked.
        self.process = subprocess.Popen(
            with_pdeathsig(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        for target, stream in ((self.read_progress, self.process.stdout),
                               (self.read_errors, self.process.stderr)):  # fmt: skip
            threading.Thread(target=target, args=(stream,), daemon=True).start()

    def stop_ffmpeg(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # ffmpeg ends its outputs cleanly on SIGTERM
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # --- the loop ------------------------------------------------------------------

    def orphaned(self) -> bool:
        return os.getppid() != self.parent

    def wait(self, seconds: float) -> bool:
        """Sleep; True if it is time to stop."""
        return self.stopping.wait(seconds) or self.orphaned()

    def claim(self) -> dict | None:
        """Django's grant for this broadcast (the ladder, when to give up), None if it
        stops before one."""
        while not self.stopping.is_set() and not self.orphaned():
            answer = self.call("claim")
            if answer and answer.get("granted"):
                return answer
            if answer:
                self.log(f"not transcoding: {answer.get('reason', 'refused')}")
            if self.wait(float((answer or {}).get("retry", RETRY_CLAIM_SECONDS))):
                break
        return None

    def hold(self, state: str, seconds: float = float("inf")) -> bool:
        """Report `state` (a source-only one) every half minute for `seconds`; True if it
        is time to stop."""
        until = time.monotonic() + seconds
        self.report(state)
        while (left := until - time.monotonic()) > 0:
            if self.wait(min(left, REPORT_SECONDS * 6)):
                return True
            self.report(state)
        return False

    def run(self) -> None:
        master = None
        try:
            grant = self.claim()
            source = self.probe() if grant is not None else None
            while grant is not None and source is None and not self.wait(2):
                source = self.probe()
            if source is None:
                return
            ladder = [Rung(r["height"], r["fps"], r["kbps"]) for r in grant["ladder"]]
            levels, rungs = levels_for(source, ladder)
            self.log(f"source {source.width}x{source.height} at {source.fps:g} fps: "
                     f"{', '.join(level.suffix for level in levels)}")  # fmt: skip
            if not rungs:
                self.hold("source")  # nothing below the source's height
                return
            master = Master(Path(self.options.hls_path), self.name, levels)
            tries, started = 0, time.monotonic()
            while self.supervise(master, source, rungs, grant) == GAVE_UP:
                if time.monotonic() - started > BEHIND_RETRY_MAX_SECONDS:
                    tries = 0  # it kept up for a long while: a new spell, a short wait
                # The master and the levels go: their viewers' players find the level
                # playlists gone and load the channel's URL again, the source's own.
                # (After nginx has seen ffmpeg go: it writes each playlist once more.)
                master.remove()
                self.stop_ffmpeg()
                if self.wait(1):
                    return
                master.forget_levels()
                delay = BEHIND_RETRY_FACTOR * grant["behind_seconds"] * 2**tries
                delay = min(delay, BEHIND_RETRY_MAX_SECONDS)
                tries += 1
                self.log(f"behind real time for {grant['behind_seconds']} s: "
                         f"the channel is played as sent; trying again in {delay} s")  # fmt: skip
                if self.hold(GAVE_UP, delay):
                    return
                grant = self.claim()
                if grant is None:
                    return
                started = time.monotonic()
        finally:
            if master is not None:
                master.remove()
            self.stop_ffmpeg()
            self.call("release")
            self.log("stopped")

    def supervise(
        self, master: Master, source: Source, rungs: list[Rung], grant: dict
    ) -> str | None:
        """Run ffmpeg, restarting it when it dies, until told to stop (None) or until it
        stays behind real time for grant["behind_seconds"] (GAVE_UP)."""
        failures = 0
        while not self.stopping.is_set() and not self.orphaned():
            master.forget_levels()
            self.start_ffmpeg(source, rungs)
            started = time.monotonic()
            reported = 0.0
            behind_since = None
            running: list[str] = []
            while self.process.poll() is None:
                running = master.refresh()
                if time.monotonic() - reported >= REPORT_SECONDS:
                    reported = time.monotonic()
                    speed = self.speed()
                    if speed is not None and speed < grant["behind_speed"]:
                        self.log(f"behind real time: speed {speed:.2f}x")
                        behind_since = reported if behind_since is None else behind_since
                        if reported - behind_since >= grant["behind_seconds"]:
                            return GAVE_UP
                    elif speed is not None:
                        behind_since = None
                    state = "running" if len(running) > 1 else "starting"
                    answer = self.report(state, running)
                    if answer is not None and not answer.get("granted", True):
                        self.log(f"slot withdrawn: {answer.get('reason')}")
                        self.stopping.set()
                if self.wait(MASTER_REFRESH_SECONDS / 2):
                    return None
            master.remove()
            if self.stopping.is_set() or self.orphaned():
                return None
            code = self.process.returncode
            failures = 0 if time.monotonic() - started >= HEALTHY_SECONDS else failures + 1
            delay = BACKOFF_SECONDS[min(max(failures - 1, 0), len(BACKOFF_SECONDS) - 1)]
            self.restarts += 1
            self.log(f"ffmpeg exited with code {code}; restarting in {delay} s")
            self.report("restarting")
            if self.wait(delay):
                return None
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="echo.tv's transcoder for one broadcast")
    parser.add_argument("--name", required=True, help="the channel's public name")
    parser.add_argument("--callback", required=True, help="on-transcode URL (control server)")
    parser.add_argument("--input", required=True, help="rtmp://…/transcode (no name)")
    parser.add_argument("--output", required=True, help="rtmp://…/renditions (no name)")
    parser.add_argument("--hls-path", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--ffmpeg", default="/usr/bin/ffmpeg")
    parser.add_argument("--ffprobe", default="/usr/bin/ffprobe")
    options = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9_-]{3,25}", options.name):
        parser.error(f"--name must be a public channel name, got {options.name!r}")
    die_with_parent(signal.SIGTERM)
    supervisor = Supervisor(options)
    if supervisor.orphaned() or os.getppid() == 1:
        return 0  # nginx died before PR_SET_PDEATHSIG was in place

    def stop(signum, frame) -> None:
        supervisor.stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
