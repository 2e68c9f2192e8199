"""An ffmpeg test pattern published over RTMP: the OBS stand-in for the demo and tests."""

import subprocess


def pattern_command(
    rtmp_url: str,
    *,
    size: str = "640x360",
    fps: int = 30,
    keyframe_seconds: float = 1.0,
    bitrate: str = "800k",
    duration: float | None = None,
) -> list[str]:
    """H.264 + AAC, constant bitrate, keyframe every keyframe_seconds: what OBS sends
    with the low-latency settings the dashboard recommends."""
    gop = max(1, round(fps * keyframe_seconds))
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
    command += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    if duration is not None:
        command += ["-t", str(duration)]
    command += [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-b:v",
        bitrate,
        "-maxrate",
        bitrate,
        "-bufsize",
        bitrate,
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ar",
        "44100",
        "-f",
        "flv",
        rtmp_url,
    ]
    return command


def publish_test_pattern(rtmp_url: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        pattern_command(rtmp_url, **options),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
