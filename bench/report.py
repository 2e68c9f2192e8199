"""Numbers from one measurement, and the table comparing variants (medians over runs)."""

import statistics


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(raw: dict, duration: float) -> dict:
    """Metrics of one measurement; replaces the per-frame samples by a per-second series."""
    probe = raw["probe"]
    samples = probe.pop("samples")
    latencies = [latency / 1000 for _, latency in samples]
    played = raw["played_s"]
    first_frame_ms = probe["firstFrameMs"]
    end_ms = first_frame_ms + played * 1000
    stall_seconds = sum(
        (length if length is not None else end_ms - start) / 1000
        for start, length in probe["waiting"]
    )
    if samples:
        start = samples[0][0]
        seconds: dict[int, list[float]] = {}
        for at, latency in samples:
            seconds.setdefault(int((at - start) / 1000), []).append(latency)
        probe["per_second_median_ms"] = [
            round(statistics.median(values)) for _, values in sorted(seconds.items())
        ]
    # Time to first frame: every first-time viewer of this measurement.
    first_frames = [first_frame_ms] + [viewer["first_frame"] for viewer in raw["first_frames"]]
    steps = {"html": [], "hls.js": [], "playlist": [], "fragment": [], "buffered": []}
    for viewer in raw["first_frames"]:
        events = {name: at for at, name in reversed(viewer["hls_events"])}
        steps["html"].append((viewer["navigation"] or {}).get("responseEnd"))
        steps["hls.js"].append(viewer["hls_defined"])
        steps["playlist"].append(events.get("MANIFEST_LOADED"))
        steps["fragment"].append(events.get("FRAG_LOADED"))
        steps["buffered"].append(events.get("FRAG_BUFFERED"))
    # How long after nginx listed a fragment the player had a playlist listing it.
    requests = probe.pop("playlistRequests", [])
    listed = {name: at for at, name in raw["playlist"].pop("updates", [])}
    answered: dict[str, float] = {}
    for _, at, last, _ in requests:
        if at is not None and last in listed and last not in answered:
            answered[last] = at
    discovery = [(answered[name] - listed[name]) / 1000 for name in answered]
    player = probe.pop("player")
    hls_latencies = [row[1] for row in player if row[1]]
    playlist = raw["playlist"]
    return {
        "g2g_p50_s": percentile(latencies, 0.50),
        "g2g_p95_s": percentile(latencies, 0.95),
        "g2g_max_s": max(latencies, default=None),
        "g2g_min_s": min(latencies, default=None),
        "stalls": len(probe["waiting"]),
        # The figure: stalls once the first 5 s of playing are over.
        "stalls_after_5s_per_min": (
            sum(start >= first_frame_ms + 5000 for start, _ in probe["waiting"])
            / ((played - 5) / 60)
            if played > 5
            else None
        ),
        "connect_to_first_frame_s": raw.get("connect_to_first_frame_s"),
        "stalls_per_min": len(probe["waiting"]) / (played / 60) if played else None,
        "stall_s": stall_seconds,
        "freezes": len(probe["freezes"]),
        "seeks": len(probe["seeks"]),
        "ttff_s": statistics.median(first_frames) / 1000,
        "ttff_max_s": max(first_frames) / 1000,
        "ttff_viewers": len(first_frames),
        "ttff_steps_ms": {name: _median(values) for name, values in steps.items()},
        "publish_to_playable_s": raw["publish_to_playable_s"],
        "on_publish_to_playable_s": raw["on_publish_to_playable_s"],
        "first_segment_s": playlist["first_segment_s"],
        "segment_s": playlist["segment_s"]["median"],
        "listed_after_keyframe_s": playlist["fragment_listed_after_keyframe_s"]["median"],
        "hls_latency_s": statistics.median(hls_latencies) if hls_latencies else None,
        "discovery_p50_s": percentile(discovery, 0.5),
        "discovery_p95_s": percentile(discovery, 0.95),
        "playlist_requests_per_fragment": len(requests) / len(answered) if answered else None,
        "frames_read": len(latencies),
        "unreadable": probe["unreadable"],
        "camera_dropped": raw["camera"]["dropped"],
        "played_s": played,
        "hls_config_overridden": probe["overridden"],
    }


ROWS = [
    ("glass-to-glass p50", "g2g_p50_s", "{:.2f} s"),
    ("glass-to-glass p95", "g2g_p95_s", "{:.2f} s"),
    ("glass-to-glass max", "g2g_max_s", "{:.2f} s"),
    ("stalls/min", "stalls_per_min", "{:.1f}"),
    ("stalls/min after 5 s", "stalls_after_5s_per_min", "{:.1f}"),
    ("stalled", "stall_s", "{:.2f} s"),
    ("time to first frame", "ttff_s", "{:.2f} s"),
    ("- worst first frame", "ttff_max_s", "{:.2f} s"),
    ("publish-to-playable", "publish_to_playable_s", "{:.2f} s"),
    ("- on_publish to playable", "on_publish_to_playable_s", "{:.2f} s"),
    ("connect to first frame", "connect_to_first_frame_s", "{:.2f} s"),
    ("- freezes > 250 ms", "freezes", "{:.0f}"),
    ("- seeks", "seeks", "{:.0f}"),
    ("- first segment", "first_segment_s", "{:.2f} s"),
    ("- segment (median)", "segment_s", "{:.2f} s"),
    ("- listed after keyframe", "listed_after_keyframe_s", "{:.2f} s"),
    ("- player has it after", "discovery_p50_s", "{:.2f} s"),
    ("- (p95)", "discovery_p95_s", "{:.2f} s"),
    ("- playlist requests/fragment", "playlist_requests_per_fragment", "{:.1f}"),
    ("- hls.js latency", "hls_latency_s", "{:.2f} s"),
    ("- frames read", "frames_read", "{:.0f}"),
    ("- unreadable frames", "unreadable", "{:.0f}"),
    ("- camera dropped", "camera_dropped", "{:.0f}"),
]


def _median(values: list) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def print_table(results: list[dict]) -> dict:
    variants = list(dict.fromkeys(result["variant"] for result in results))
    runs = {name: [r["metrics"] for r in results if r["variant"] == name] for name in variants}
    summary = {
        name: {key: _median([m[key] for m in metrics]) for _, key, _ in ROWS}
        for name, metrics in runs.items()
    }
    counts = {name: len(metrics) for name, metrics in runs.items()}
    print()
    header = f"{'':26}" + "".join(f"{f'{name} (n={counts[name]})':>16}" for name in variants)
    print(header + ("" if len(counts) < 2 or max(counts.values()) < 2 else "   medians over runs"))
    for label, key, form in ROWS:
        cells = []
        for name in variants:
            value = summary[name][key]
            cells.append(f"{form.format(value) if value is not None else '-':>16}")
        print(f"{label:26}" + "".join(cells))
    for name, metrics in runs.items():
        steps = {
            step: _median([m["ttff_steps_ms"][step] for m in metrics])
            for step in metrics[0]["ttff_steps_ms"]
        }
        summary[name]["ttff_steps_ms"] = steps
        parts = ", ".join(f"{step} {value:.0f}" for step, value in steps.items() if value)
        print(f"{name}: first frame, ms after navigating (median): {parts}")
    # Against the baseline of the same run (the machine's speed varies from minute to
    # minute), then the median over runs.
    baselines = {r["run"]: r["metrics"]["g2g_p50_s"] for r in results if r["variant"] == "defaults"}
    for name in variants:
        ratios = [
            baselines[r["run"]] / r["metrics"]["g2g_p50_s"]
            for r in results
            if r["variant"] == name and name != "defaults" and baselines.get(r.get("run"))
            and r["metrics"]["g2g_p50_s"]
        ]  # fmt: skip
        if ratios:
            summary[name]["p50_ratio_defaults_over_this"] = statistics.median(ratios)
            print(f"p50 defaults/{name}, same run, median: {statistics.median(ratios):.1f}x")
    print()
    return summary
