"""Watches a channel's playlist while the bench runs.

Until the stream is playable it asks nginx over HTTP (that is what a viewer sees: the
playlist answers 200 and lists a segment); afterwards it reads the file nginx-rtmp
writes, to time every new fragment against the keyframe that closed it.
"""

import bisect
import http.client
import statistics
import threading
import time
from pathlib import Path

POLL_SECONDS = 0.02


def parse_playlist(text: str) -> tuple[int | None, list[tuple[str, float]]]:
    target, segments, duration = None, [], None
    for line in text.splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    return target, segments


class PlaylistWatcher:
    def __init__(
        self, http_url: str, hls_path: Path, channel: str, *, keep_dir: Path | None = None
    ) -> None:
        self.hls_path = hls_path
        self.keep_dir = keep_dir  # copies of the first fragments, for ffprobe
        self.host = http_url.removeprefix("http://")
        self.path = f"/hls/{channel}.m3u8"
        self.file = hls_path / f"{channel}.m3u8"
        self.playable_at: float | None = None
        self.first_playlist = ""
        self.updates: list[tuple[float, str, float]] = []  # (seen at, new segment, its duration)
        self.targets: set[int] = set()
        self._stop = threading.Event()
        self._playable = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def wait_playable(self, timeout: float) -> float | None:
        self._playable.wait(timeout)
        return self.playable_at

    def _run(self) -> None:
        connection = None
        while not self._stop.is_set() and self.playable_at is None:
            try:
                connection = connection or http.client.HTTPConnection(self.host, timeout=2)
                connection.request("GET", self.path)
                response = connection.getresponse()
                body = response.read().decode(errors="replace")
                if response.status == 200 and ".ts" in body:
                    self.playable_at = time.time()
                    self.first_playlist = body
                    self._record(body, self.playable_at)
                    self._playable.set()
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
            time.sleep(POLL_SECONDS)
        if connection is not None:
            connection.close()
        while not self._stop.is_set():
            try:
                self._record(self.file.read_text(), time.time())
            except OSError:
                pass
            time.sleep(POLL_SECONDS)

    def _record(self, text: str, seen_at: float) -> None:
        target, segments = parse_playlist(text)
        if target is not None:
            self.targets.add(target)
        if segments and (not self.updates or self.updates[-1][1] != segments[-1][0]):
            self.updates.append((seen_at, segments[-1][0], segments[-1][1]))
            if self.keep_dir is not None and len(self.updates) <= 3:
                try:
                    data = (self.hls_path / segments[-1][0]).read_bytes()
                    (self.keep_dir / segments[-1][0]).write_bytes(data)
                except OSError:
                    pass

    def summary(self, keyframe_times: list[float]) -> dict:
        durations = [duration for _, _, duration in self.updates]
        # How long after the keyframe that closes a fragment the playlist lists it:
        # encoder, RTMP, push relay and nginx-rtmp's HLS writer, without the fragment itself.
        delays = []
        for seen_at, _, _ in self.updates[1:]:
            index = bisect.bisect_right(keyframe_times, seen_at) - 1
            if index >= 0 and seen_at - keyframe_times[index] < 1.0:
                delays.append(seen_at - keyframe_times[index])
        return {
            "updates": [[round(at * 1000), name] for at, name, _ in self.updates[:200]],
            "first_playlist": self.first_playlist,
            "first_segment_s": durations[0] if durations else None,
            "segment_s": {
                "median": statistics.median(durations[1:]) if len(durations) > 1 else None,
                "min": min(durations[1:], default=None),
                "max": max(durations[1:], default=None),
            },
            "target_durations": sorted(self.targets),
            "fragment_listed_after_keyframe_s": {
                "median": statistics.median(delays) if delays else None,
                "max": max(delays, default=None),
            },
        }
