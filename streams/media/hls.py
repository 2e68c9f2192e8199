"""Reading the HLS playlists nginx-rtmp writes (same machine, settings.ECHO_HLS_PATH)."""

from django.conf import settings

from streams.media.playlists import parse_playlist


def segment_durations(name: str) -> list[float]:
    """EXTINF durations of the channel's live playlist, oldest first; [] if there is none."""
    try:
        text = (settings.ECHO_HLS_PATH / f"{name}.m3u8").read_text()
    except OSError:
        return []
    return [duration for _, duration in parse_playlist(text)]


def last_segment_seconds(name: str) -> float | None:
    """The newest segment's length: in practice, the encoder's keyframe interval now.
    (The first segment of a broadcast also holds the encoder's start-up, so not the max.)"""
    durations = segment_durations(name)
    return durations[-1] if durations else None
