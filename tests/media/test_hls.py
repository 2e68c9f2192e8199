from streams.media import hls

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-TARGETDURATION:8
#EXTINF:1.930,
alice-1.ts
#EXTINF:8.000,
alice-2.ts
#EXTINF:7.967,
alice-3.ts
#EXTINF:bogus,
alice-4.ts
"""


def test_it_reads_segment_durations(settings, tmp_path):
    settings.ECHO_HLS_PATH = tmp_path
    (tmp_path / "alice.m3u8").write_text(PLAYLIST)
    assert hls.segment_durations("alice") == [1.93, 8.0, 7.967]
    assert hls.last_segment_seconds("alice") == 7.967


def test_a_missing_playlist_has_no_measurement(settings, tmp_path):
    settings.ECHO_HLS_PATH = tmp_path
    assert hls.segment_durations("nobody") == []
    assert hls.last_segment_seconds("nobody") is None
