#!/usr/bin/env python3
"""Glass-to-glass over time, one line per variant, from a bench/latency.py results file.

    .venv/bin/python bench/plot.py bench/results/latency-<time>.json [--output FILE.png]

Each line is the per-second median of the run whose p50 is the median of that variant's
runs (so the picture shows a typical run, not a blend). matplotlib is a development
dependency (requirements-dev.txt); the bench itself does not need it.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def typical_runs(report: dict) -> dict[str, dict]:
    by_variant: dict[str, list[dict]] = {}
    for run in report["runs"]:
        by_variant.setdefault(run["variant"], []).append(run)
    typical = {}
    for name, runs in by_variant.items():
        runs = sorted(runs, key=lambda run: run["metrics"]["g2g_p50_s"] or 0)
        typical[name] = runs[(len(runs) - 1) // 2]
    return typical


def plot(report: dict, output: Path) -> None:
    typical = typical_runs(report)
    baseline = [name for name in typical if name.startswith("defaults")]
    rows = 2 if baseline else 1
    figure, axes = plt.subplots(
        rows, 1, figsize=(8, 5.2 if baseline else 4), dpi=80, sharex=True, squeeze=False,
        gridspec_kw={"height_ratios": [3, 1][:rows]},
    )  # fmt: skip
    near, far = axes[0][0], axes[-1][0]
    for name, run in typical.items():
        series = [ms / 1000 for ms in run["probe"].get("per_second_median_ms", [])]
        p50 = run["metrics"]["g2g_p50_s"]
        axis = far if name in baseline else near
        axis.plot(range(len(series)), series, label=f"{name} (p50 {p50:.2f} s)", linewidth=1.4)
    near.set_ylabel("glass-to-glass, s")
    near.set_ylim(bottom=0)
    near.grid(alpha=0.3)
    near.legend(fontsize=8, ncol=2, loc="upper right")
    near.set_title("echo.tv glass-to-glass latency (per-second median)", fontsize=10)
    if baseline:
        far.set_ylim(bottom=0)
        far.ticklabel_format(axis="y", useOffset=False)
        far.set_ylabel("s")
        far.grid(alpha=0.3)
        far.legend(fontsize=8, loc="lower right")
    far.set_xlabel("seconds since the first frame")
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="a bench/latency.py JSON file")
    parser.add_argument("--output", help="PNG file (default: next to the JSON)")
    options = parser.parse_args(argv)
    results = Path(options.results)
    report = json.loads(results.read_text())
    output = Path(options.output) if options.output else results.with_suffix(".png")
    plot(report, output)
    medians = {
        name: statistics.median(
            r["metrics"]["g2g_p50_s"] for r in report["runs"] if r["variant"] == name
        )
        for name in typical_runs(report)
    }
    print(f"{output}: {', '.join(f'{name} {p50:.2f} s' for name, p50 in medians.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
