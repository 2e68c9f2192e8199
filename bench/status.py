#!/usr/bin/env python3
"""What players' status.json polls cost: Django alone, and behind the origin's nginx cache.

Every player on a channel page asks for `/<channel>/status.json` every 3 s. The origin's
nginx (deploy/nginx.conf.template) answers them from a cache renewed every second. This
bench starts Django (gunicorn, as bench/stack.py does) and the origin's nginx, puts one
channel live, and has wrk (bench/wrk/status.lua) ask as fast as --connections
allow for --seconds: straight to gunicorn, then through nginx. Per run: requests/s, how
many reached Django, latency, and the CPU seconds per second of nginx, gunicorn and wrk.

    apt-get install wrk
    .venv/bin/python bench/status.py [--runs 3]

Results go to bench/results/status-*.json. Not a test: run it by hand on a quiet machine.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROOT, Bench, Variant  # noqa: E402
from bench.viewers import tree_cpu_seconds  # noqa: E402

CHANNEL = "bench01"
SCRIPT = ROOT / "bench" / "wrk" / "status.lua"


def measure(url: str, pids: dict[str, int], options) -> dict:
    cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    command = ["wrk", "-t", "1", "-c", str(options.connections), "-d", f"{options.seconds}s"]
    load = subprocess.Popen([*command, "-s", str(SCRIPT), url], stdout=subprocess.PIPE, text=True)
    usage = os.wait4(load.pid, 0)[2]
    elapsed = time.monotonic() - started
    result = json.loads(load.stdout.read().strip().splitlines()[-1])
    seconds = result["duration_us"] / 1e6
    return {
        "requests_per_s": round(result["requests"] / seconds, 1),
        "django_requests_per_s": round(result["django_requests"] / seconds, 1),
        "errors": result["errors"],
        "latency_p50_ms": result["latency_p50_ms"],
        "latency_p99_ms": result["latency_p99_ms"],
        **{
            f"cpu_{name}_per_s": round((tree_cpu_seconds(pid) - cpu_before[name]) / elapsed, 3)
            for name, pid in pids.items()
        },
        "cpu_wrk_per_s": round((usage.ru_utime + usage.ru_stime) / elapsed, 3),
        "load_average": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    options = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench/status.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="echo-status-"))
    bench = Bench(options, workdir)
    bench.setup_django([CHANNEL])
    from streams import services

    services.broadcast_start(key=bench.stream_keys[CHANNEL], client_id="1")
    bench.start_gunicorn()
    variant = Variant("echo", nginx={"limit_conn_per_address": 10_000}, hls_config=None)
    config, origin = bench.start_nginx(variant, workdir / "origin")
    pids = {"nginx": origin.pid, "gunicorn": bench.gunicorn.pid}
    targets = {
        "django": f"http://127.0.0.1:{bench.ports['django']}/{CHANNEL}/status.json",
        "nginx": f"http://{config.http_listen}/{CHANNEL}/status.json",
    }
    runs = {name: [] for name in targets}
    try:
        for number in range(1, options.runs + 1):
            for name, url in targets.items():  # interleaved: the machine drifts
                result = measure(url, pids, options)
                runs[name].append(result)
                print(f"run {number}, {name}: {json.dumps(result)}", file=sys.stderr)
    finally:
        bench.stop_nginx(origin)
        bench.stop_gunicorn()
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }
    output = {"options": vars(options), "medians": medians, "runs": runs}
    out = ROOT / "bench" / "results" / f"status-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(output, indent=1) + "\n")
    print(json.dumps(medians, indent=1))
    print(f"results in {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
