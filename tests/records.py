"""Fault timings saved with the other figures: with ECHO_RECORD_FAULTS=1, each call
appends one measurement to bench/results/faults-<date>.json, so the README's "What
survives what" table can quote files instead of terminal scroll-back. Without the
variable nothing is written (normal runs keep the tree clean)."""

import datetime
import fcntl
import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"


def recording() -> bool:
    return os.environ.get("ECHO_RECORD_FAULTS", "") not in ("", "0", "false")


def record_fault(test: str, measurement: str, seconds: float, **details) -> None:
    """Append {test, measurement, seconds, ...} to today's faults file (if recording)."""
    print(f"{test}: {measurement} {seconds:.2f} s")
    if not recording():
        return
    now = datetime.datetime.now(datetime.UTC)
    entry = {
        "test": test,
        "measurement": measurement,
        "seconds": round(seconds, 3),
        "at": now.isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        **details,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"faults-{now:%Y%m%d}.json"
    # Several pytest processes may record at once: one writer at a time.
    with open(path, "a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        text = file.read()
        entries = json.loads(text) if text.strip() else []
        entries.append(entry)
        file.seek(0)
        file.truncate()
        json.dump(entries, file, indent=2)
        file.write("\n")
