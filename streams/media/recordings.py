"""ffmpeg's side of replays and clips: remux nginx-rtmp's FLV recordings to MP4, read a
file's duration, take a thumbnail, cut a clip. Never a re-encode of the video.

Every output is written to a temporary name next to its destination and renamed into
place once complete, so a job killed halfway leaves no half file under the final name,
and running it again just starts over. ffmpeg dies with the process that started it
(PR_SET_PDEATHSIG): a worker killed with SIGKILL leaves no ffmpeg writing behind it.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

PR_SET_PDEATHSIG = 1
# ffmpeg's stderr kept for an error message: the end is what explains a failure.
ERROR_TAIL = 2000


class MediaError(Exception):
    """ffmpeg or ffprobe failed; the message is safe to show staff (paths, no secrets)."""


def die_with_parent() -> None:
    """In a child process: be killed (SIGKILL) when the parent dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(command: list[str], *, timeout: float) -> str:
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired:
        raise MediaError(f"{command[0]} took longer than {timeout:.0f} s") from None
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace")[-ERROR_TAIL:].strip()
        raise MediaError(f"{Path(command[0]).name} exited with {result.returncode}: {tail}")
    return result.stdout.decode(errors="replace")


def _ffmpeg() -> str:
    return shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


def _ffprobe() -> str:
    return shutil.which("ffprobe") or "/usr/bin/ffprobe"


def _temporary(destination: Path) -> Path:
    # Same directory: the final rename is atomic. A leftover from a killed run has its
    # own name (the pid), and remove_leftovers() clears it.
    return destination.with_name(f".{destination.name}.{os.getpid()}.part")


def remove_leftovers(destination: Path) -> None:
    for leftover in destination.parent.glob(f".{destination.name}.*.part"):
        leftover.unlink(missing_ok=True)


def _into_place(command_for, destination: Path, *, timeout: float) -> None:
    remove_leftovers(destination)
    temporary = _temporary(destination)
    try:
        _run(command_for(temporary), timeout=timeout)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def remux(sources: list[Path], destination: Path, *, timeout: float = 3600) -> None:
    """FLV recording(s), in order, into one MP4 with its index at the front (+faststart),
    so a browser can seek before it has the whole file. Streams are copied."""
    if not sources:
        raise MediaError("no recording to remux")
    # Scratch space beside the replays, not in /tmp: it holds a copy of the recordings.
    with tempfile.TemporaryDirectory(prefix=".remux-", dir=destination.parent) as scratch:
        if len(sources) == 1:
            inputs = ["-i", str(sources[0])]
        else:
            # nginx-rtmp writes a file's streams in the order their first packets came:
            # video first in one file, audio first in the next. The concat demuxer joins
            # streams by index, so each part is first rewritten video-then-audio.
            parts = []
            for index, source in enumerate(sources):
                part = Path(scratch) / f"part-{index}.ts"
                _run(
                    [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
                    + ["-i", str(source), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"]
                    + ["-f", "mpegts", str(part)],
                    timeout=timeout,
                )
                parts.append(part)
            listing = Path(scratch) / "parts.txt"
            listing.write_text("".join(f"file '{part}'\n" for part in parts))
            inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]

        def command(output: Path) -> list[str]:
            return [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]\
                + inputs + ["-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-dn", "-sn"]\
                + ["-movflags", "+faststart", "-f", "mp4", str(output)]  # fmt: skip

        _into_place(command, destination, timeout=timeout)


def cut(
    source: Path, destination: Path, *, start: float, length: float, timeout: float = 120
) -> None:
    """`length` seconds from `start` (from the keyframe at or before it), copied."""

    def command(output: Path) -> list[str]:
        return [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]\
            + ["-ss", f"{max(0.0, start):.3f}", "-i", str(source), "-t", f"{length:.3f}"]\
            + ["-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-dn", "-sn"]\
            + ["-avoid_negative_ts", "make_zero", "-movflags", "+faststart"]\
            + ["-f", "mp4", str(output)]  # fmt: skip

    _into_place(command, destination, timeout=timeout)


def thumbnail(source: Path, destination: Path, *, at: float, timeout: float = 60) -> None:
    """A 320-pixel-wide JPEG of the frame at `at` seconds (the keyframe before it)."""

    def command(output: Path) -> list[str]:
        return [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]\
            + ["-ss", f"{max(0.0, at):.3f}", "-i", str(source), "-frames:v", "1"]\
            + ["-vf", "scale=320:-2", "-q:v", "5", "-f", "image2", str(output)]  # fmt: skip

    _into_place(command, destination, timeout=timeout)


def duration(path: Path, *, timeout: float = 60) -> float:
    """Seconds of media in the file, from its streams' timestamps."""
    output = _run(
        [_ffprobe(), "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        timeout=timeout,
    )
    try:
        return float(json.loads(output)["format"]["duration"])
    except (KeyError, ValueError, TypeError):
        raise MediaError(f"ffprobe found no duration in {path.name}") from None


def has_media(path: Path) -> bool:
    """Whether an FLV holds anything beyond its header (a recording cut at once holds none)."""
    try:
        return path.stat().st_size > 1024
    except OSError:
        return False
