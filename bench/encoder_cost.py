#!/usr/bin/env python3
"""What 0.5 s keyframes cost the streamer's encoder: x264 veryfast/zerolatency (the
dashboard's OBS settings) with a keyframe every 0.5 s against every 1 s.

    .venv/bin/python bench/encoder_cost.py [--seconds 20] [--runs 3]

Two measurements per source, each with both keyframe intervals:
  - equal quality: constant rate factor (CRF 23), so x264 aims at the same quality;
    the bitrate it needs is the cost;
  - equal bitrate: CBR at 2500 kbit/s, as OBS streams; x264's SSIM (dB) is the cost.
Sources are ffmpeg's own test pictures at 1280x720, 30 fps: testsrc2 (synthetic,
moving) and the same with temporal noise (a camera's sensor noise: harder to encode,
and much of it in every keyframe). Not a real game or a face cam: a short measurement.
Writes bench/results/encoder-<time>.json.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FPS = 30
SOURCES = {
    "testsrc2": "testsrc2=size=1280x720:rate=30",
    "testsrc2+noise": "testsrc2=size=1280x720:rate=30,noise=alls=14:allf=t",
}


def encode(source: str, seconds: float, gop: int, rate: list[str], output: Path) -> dict:
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info", "-y"]
    command += ["-f", "lavfi", "-i", source, "-t", str(seconds), "-an"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
    command += ["-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop)]
    command += ["-sc_threshold", "0", "-x264-params", "ssim=1", *rate, "-f", "mpegts", str(output)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    ssim = re.search(r"SSIM Mean Y:[\d.]+ \(\s*([\d.]+)db\)", done.stderr)
    return {
        "kbit_s": output.stat().st_size * 8 / seconds / 1000,
        "ssim_db": float(ssim.group(1)) if ssim else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--crf", default="23")
    parser.add_argument("--cbr", default="2500k")
    options = parser.parse_args(argv)
    modes = {
        "crf": ["-crf", options.crf],
        "cbr": ["-b:v", options.cbr, "-maxrate", options.cbr, "-bufsize", options.cbr],
    }
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, source in SOURCES.items():
            for mode, rate in modes.items():
                for keyframes in (0.5, 1.0):
                    runs = [
                        encode(source, options.seconds, round(FPS * keyframes), rate,
                               Path(workdir) / "out.ts")
                        for _ in range(options.runs)
                    ]  # fmt: skip
                    results[f"{name} {mode} {keyframes:g}s"] = {
                        "runs": runs,
                        "kbit_s": statistics.median(r["kbit_s"] for r in runs),
                        "ssim_db": statistics.median(r["ssim_db"] for r in runs),
                    }
    print(f"{'':32}{'kbit/s':>10}{'SSIM dB':>10}")
    for key, value in results.items():
        print(f"{key:32}{value['kbit_s']:>10.0f}{value['ssim_db']:>10.2f}")
    for name in SOURCES:
        half, one = results[f"{name} crf 0.5s"], results[f"{name} crf 1s"]
        ratio = half["kbit_s"] / one["kbit_s"]
        print(f"{name}: 0.5 s keyframes need {ratio:.2f}x the bitrate at CRF {options.crf}")
        results[f"{name} crf ratio"] = ratio
        loss = results[f"{name} cbr 1s"]["ssim_db"] - results[f"{name} cbr 0.5s"]["ssim_db"]
        print(f"{name}: at {options.cbr} CBR, 0.5 s keyframes lose {loss:.2f} dB SSIM")
        results[f"{name} cbr ssim loss db"] = loss
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    output = ROOT / "bench" / "results" / f"encoder-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = {"options": vars(options), "ffmpeg": version.splitlines()[0], "results": results}
    output.write_text(json.dumps(report, indent=1) + "\n")
    print(f"results: {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
