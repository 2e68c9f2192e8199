"""Playlists, standard library only (the transcoder supervisor imports this without
Django): reading nginx-rtmp's media playlists, and the master playlist of a transcoded
broadcast, written from what nginx has written for each level (streams/media/transcoder.py).
"""

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

# The transcoder's copy of the source, the master's first level.
SOURCE_SUFFIX = "src"
MASTER_REFRESH_SECONDS = 1.0
# A level whose playlist nginx has not rewritten for this long is not running.
STALE_PLAYLIST_SECONDS = 4.0


def parse_playlist(text: str) -> list[tuple[str, float]]:
    """(URI, EXTINF duration) of each fragment of a media playlist, oldest first."""
    fragments, duration = [], None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
            except ValueError:
                duration = None
        elif line and not line.startswith("#") and duration is not None:
            fragments.append((line, duration))
            duration = None
    return fragments


def master_path(hls_path: Path, name: str) -> Path:
    """Where the master playlist is written; nginx serves it as /hls/<name>.m3u8."""
    return Path(hls_path) / f"{name}.master.m3u8"


def level_name(name: str, suffix: str) -> str:
    # A dot: public names never have one, so no channel's own name is another's level.
    return f"{name}.{suffix}"


@dataclass(frozen=True)
class Level:
    suffix: str
    width: int
    height: int
    fps: float


def _pes_payloads(data: bytes):
    """(stream id, first bytes of the payload) of each PES packet starting in an MPEG-TS
    chunk (188-byte packets)."""
    for offset in range(0, len(data) - 187, 188):
        packet = data[offset : offset + 188]
        if packet[0] != 0x47 or not packet[1] & 0x40:  # sync byte, payload unit start
            continue
        start = 4
        if packet[3] & 0x20:  # adaptation field
            start += 1 + packet[4]
        pes = packet[start:]
        if len(pes) < 9 or pes[:3] != b"\x00\x00\x01":
            continue
        yield pes[3], pes[9 + pes[8] :]


def codecs_of_fragment(data: bytes) -> str | None:
    """RFC 6381 codecs of an MPEG-TS fragment: avc1.PPCCLL from its SPS, mp4a.40.N from
    the first ADTS header of its audio."""
    video = audio = None
    for stream_id, payload in _pes_payloads(data):
        if 0xE0 <= stream_id <= 0xEF and video is None:
            for match in re.finditer(rb"\x00\x00\x01([\x07\x27\x47\x67])", payload):
                sps = payload[match.end() : match.end() + 3]
                if len(sps) == 3:
                    video = "avc1." + sps.hex()
                    break
        elif 0xC0 <= stream_id <= 0xDF and audio is None and len(payload) > 2:
            if payload[0] == 0xFF and payload[1] & 0xF6 == 0xF0:
                audio = f"mp4a.40.{(payload[2] >> 6) + 1}"
    if video is None:
        return None
    return f"{video},{audio}" if audio else video


class Master:
    """The master playlist of one broadcast, from what nginx has written."""

    def __init__(self, hls_path: Path, name: str, levels: list[Level]) -> None:
        self.hls_path = Path(hls_path)
        self.name = name
        self.levels = levels
        self.codecs: dict[str, str] = {}
        self.path = master_path(hls_path, name)
        self.written = ""
        self.written_at = 0.0

    def level_info(self, level: Level) -> dict | None:
        """Bitrates and codecs of a level whose playlist lists two fragments or more and
        is fresh; None otherwise."""
        playlist_path = self.playlist(level)
        try:
            age = time.time() - playlist_path.stat().st_mtime
            fragments = parse_playlist(playlist_path.read_text())
        except OSError:
            return None
        # nginx rewrites a playlist at every fragment: one not rewritten for two of them
        # (or STALE_PLAYLIST_SECONDS) is not being written.
        longest = max((duration for _, duration in fragments), default=0)
        if age > max(STALE_PLAYLIST_SECONDS, 2 * longest):
            return None
        rates, bits, seconds = [], 0, 0.0
        for uri, duration in fragments:
            try:
                size = (self.hls_path / uri).stat().st_size
            except OSError:
                continue
            if duration > 0:
                rates.append(size * 8 / duration)
                bits += size * 8
                seconds += duration
            if level.suffix not in self.codecs:
                try:
                    with open(self.hls_path / uri, "rb") as fragment:
                        codecs = codecs_of_fragment(fragment.read(65536))
                except OSError:
                    codecs = None
                if codecs:
                    self.codecs[level.suffix] = codecs
        if len(rates) < 2 or level.suffix not in self.codecs:
            return None
        return {"peak": max(rates), "average": bits / seconds, "codecs": self.codecs[level.suffix]}

    def playlist(self, level: Level) -> Path:
        return self.hls_path / f"{level_name(self.name, level.suffix)}.m3u8"

    def forget_levels(self) -> None:
        """Remove the master and the levels' playlists a previous ffmpeg left (nginx
        leaves them in place): only what the next one writes may enter the master."""
        self.remove()
        self.codecs = {}
        for level in self.levels:
            try:
                self.playlist(level).unlink()
            except FileNotFoundError:
                pass

    def render(self) -> tuple[str, list[str]]:
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
        running = []
        for level in self.levels:
            info = self.level_info(level)
            if info is None:
                continue
            running.append(level.suffix)
            attributes = [
                f"BANDWIDTH={round(info['peak'])}",
                f"AVERAGE-BANDWIDTH={round(info['average'])}",
                f"RESOLUTION={level.width}x{level.height}",
                f"FRAME-RATE={level.fps:.3f}",
                f'CODECS="{info["codecs"]}"',
            ]
            lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
            lines.append(f"{level_name(self.name, level.suffix)}.m3u8")
        return "\n".join(lines) + "\n", running

    def refresh(self) -> list[str]:
        """Rewrite the master (atomically) with the levels running now; remove it unless
        the source and one rendition run. The running levels' suffixes."""
        text, running = self.render()
        if len(running) < 2 or SOURCE_SUFFIX not in running:
            self.remove()
            return running
        # Rewritten even when unchanged: nginx-rtmp's hls_cleanup deletes playlists it
        # has not written for a playlist length, and would take an idle master.
        if text != self.written or time.time() - self.written_at >= MASTER_REFRESH_SECONDS:
            # nginx's cleanup removes this directory whenever it is empty.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_text(text)
            os.replace(temporary, self.path)
            self.written, self.written_at = text, time.time()
        return running

    def remove(self) -> None:
        self.written = ""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
