"""Fragments follow the encoder's keyframes, whatever its interval: real nginx-rtmp from
deploy/, ffmpeg publishing with 0.5 s, 2 s and 5 s keyframe intervals at once."""

import json
import subprocess

import pytest

from streams.media.hls import parse_playlist
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming, pytest.mark.django_db(transaction=True)]


def first_video_packet_is_a_keyframe(path) -> bool:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags"]
        + ["-of", "json", str(path)],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, (path, probe.stderr)
    packets = json.loads(probe.stdout)["packets"]
    return bool(packets) and packets[0]["flags"].startswith("K")


def closed_fragments(rtmp, name: str, count: int) -> list[tuple[str, float]] | None:
    """The playlist's fragments once it lists `count` after the broadcast's first."""
    playlist = rtmp.hls_dir / f"{name}.m3u8"
    try:
        fragments = parse_playlist(playlist.read_text())
    except OSError:
        return None
    return fragments if len(fragments) > count else None


def test_every_fragment_is_one_gop_and_starts_on_a_keyframe(rtmp, alice, bob, charlie, tmp_path):
    # 0.5 s: the "lowest latency" mode; 2 s: a common encoder default; 5 s: a long GOP
    # (OBS's "auto" is about 8 s). Without hls_max_fragment nginx-rtmp would cut any GOP
    # longer than 4 s (10 x hls_fragment) into fragments that start without a keyframe.
    gops = {"alice": 0.5, "bob": 2, "charlie": 5}
    for user in (alice, bob, charlie):
        rtmp.publish(user.channel.stream_key, keyframe_seconds=gops[user.username], size="320x180")

    # Shortest GOP first, each checked as soon as it has enough fragments. hls_cleanup
    # deletes a fragment 2 x hls_playlist_length (8 s) after nginx wrote it, and the
    # playlist keeps a number of fragments (hls_playlist_length / hls_fragment), not a
    # duration: with long GOPs its oldest entries are gone already. Players start at
    # the live edge; the newest fragments are the ones that matter.
    for name, gop in gops.items():
        fragments = wait_for(
            lambda name=name, gop=gop: closed_fragments(rtmp, name, 4 if gop < 5 else 1),
            timeout=45,
            interval=0.2,
            message=f"{name}'s fragments",
        )
        # The broadcast's first fragment also holds the encoder's start-up.
        assert [duration for _, duration in fragments[1:]] == pytest.approx(
            [gop] * (len(fragments) - 1), abs=0.1
        ), (name, fragments)
        # hls_cleanup may already have taken the older of the two (a long fragment is
        # deleted soon after it leaves the playlist): check what is left, at least the newest.
        copies = []
        for uri, _ in fragments[-2:]:
            try:
                data = (rtmp.hls_dir / uri).read_bytes()
            except FileNotFoundError:
                continue
            copies.append(tmp_path / uri)
            copies[-1].write_bytes(data)
        assert copies and copies[-1].name == fragments[-1][0], (name, fragments[-2:])
        assert all(first_video_packet_is_a_keyframe(path) for path in copies)
