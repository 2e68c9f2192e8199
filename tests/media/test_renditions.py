"""Renditions: real nginx-rtmp from deploy/, its transcoder supervisor and ffmpeg
transcoding a test pattern, the master playlist fetched over HTTP, the processes seen
with pgrep, the logs read from disk; the cap on transcodes; renditions off."""

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from echo.settings import renditions_ladder
from streams.media import renditions
from streams.media.hls import parse_playlist
from streams.media.nginx import NginxConfig, render_config
from streams.models import Broadcast, TranscodeState
from tests.streaming import kill_nginx, live_server_nginx_config, running_rtmp, wait_for

# Small on purpose (the suite's time): a 640x360 source and two rungs below it.
LADDER = [(240, 30, 500), (180, 30, 250)]


@pytest.fixture
def transcoding(live_server, settings, tmp_path, transactional_db):
    settings.ECHO_RENDITIONS = LADDER
    settings.ECHO_TRANSCODE_MAX = 1
    config = live_server_nginx_config(live_server, settings, tmp_path, renditions=True)
    with running_rtmp(config) as server:
        yield server


def master(server, name: str) -> dict[str, dict[str, str]]:
    """{level URI: its EXT-X-STREAM-INF attributes} of the channel's playlist URL; {} when
    it is a media playlist (or missing)."""
    status, body = server.get(f"/hls/{name}.m3u8")
    text = body.decode()
    if status != 200 or "#EXT-X-STREAM-INF" not in text:
        return {}
    levels, attributes = {}, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line[18:]))
        elif line and not line.startswith("#") and attributes is not None:
            levels[line] = {key: value.strip('"') for key, value in attributes.items()}
            attributes = None
    return levels


def media_sequence(text: str) -> dict[int, float]:
    """{media sequence number: EXTINF} of a media playlist."""
    first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])
    return {first + i: duration for i, (_, duration) in enumerate(parse_playlist(text))}


def aligned_levels(server, uris: list[str]) -> dict[str, dict[int, float]] | None:
    """Every level's playlist over HTTP, once they list at least 4 fragments in common."""
    playlists = {}
    for uri in uris:
        status, body = server.get(f"/hls/{uri}")
        if status != 200:
            return None
        playlists[uri] = media_sequence(body.decode())
    common = set.intersection(*(set(sequence) for sequence in playlists.values()))
    return playlists if len(common) >= 4 else None


def fragments_listed(server, uri: str) -> set[str]:
    status, body = server.get(f"/hls/{uri}")
    return {name for name, _ in parse_playlist(body.decode())} if status == 200 else set()


def assert_same_fragments(playlists: dict[str, dict[int, float]]) -> None:
    common = sorted(set.intersection(*(set(sequence) for sequence in playlists.values())))
    for uri, sequence in playlists.items():
        # The newest fragment of one level may be listed a moment before another's.
        assert max(sequence) - common[-1] <= 1, (uri, playlists)
        assert [sequence[sn] for sn in common] == pytest.approx(
            [playlists[next(iter(playlists))][sn] for sn in common], abs=0.002
        ), playlists


def in_state(user, state: TranscodeState, *, timeout: float) -> Broadcast:
    """The user's broadcast, once its transcoder reports `state`."""
    return wait_for(
        lambda: Broadcast.objects.filter(channel=user.channel, transcode_state=state).first(),
        timeout=timeout,
        message=f"{user.username}'s broadcast {state.label}",
    )


def processes(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split() if int(pid) != os.getpid()]


def test_a_transcoded_broadcast_has_a_master_of_aligned_levels_that_survives_ffmpeg_dying(
    transcoding, alice
):
    key = alice.channel.stream_key
    # 0.5 s keyframes: the lowest-latency mode, with renditions on.
    transcoding.publish(key, keyframe_seconds=0.5, size="640x360", bitrate="800k")

    levels = wait_for(
        lambda: len(master(transcoding, "alice")) == 3 and master(transcoding, "alice"),
        timeout=40,
        interval=0.3,
        message="a master playlist with three levels",
    )
    assert list(levels) == ["alice.src.m3u8", "alice.240p30.m3u8", "alice.180p30.m3u8"]
    source, high, low = levels.values()
    assert [source["RESOLUTION"], high["RESOLUTION"], low["RESOLUTION"]] == [
        "640x360",
        "426x240",
        "320x180",
    ]
    # The encoder's x264 profile for the source (High), Main for the renditions; AAC-LC.
    assert re.fullmatch(r"avc1\.64[0-9a-f]{4},mp4a\.40\.2", source["CODECS"]), source
    assert re.fullmatch(r"avc1\.4d[0-9a-f]{4},mp4a\.40\.2", high["CODECS"]), high
    bandwidths = [int(level["BANDWIDTH"]) for level in levels.values()]
    assert bandwidths == sorted(bandwidths, reverse=True), levels
    assert 150_000 < int(low["AVERAGE-BANDWIDTH"]) < 600_000, low

    playlists = wait_for(
        lambda: aligned_levels(transcoding, list(levels)),
        timeout=15,
        message="four fragments in every level",
    )
    assert_same_fragments(playlists)
    durations = list(playlists["alice.180p30.m3u8"].values())[1:]
    assert durations == pytest.approx([0.5] * len(durations), abs=0.05)
    # The source's own playlist is still written: the dashboard's keyframe coaching.
    native = parse_playlist((transcoding.hls_dir / "alice.m3u8").read_text())
    assert native[-1][1] == pytest.approx(0.5, abs=0.05)

    broadcast = wait_for(
        lambda: (
            Broadcast.objects.filter(channel=alice.channel, transcode_state=TranscodeState.RUNNING)
            .exclude(transcode_speed=None)
            .first()
        ),
        timeout=15,
        message="the transcoder's report",
    )
    assert broadcast.transcode_levels == "src,240p30,180p30"
    assert broadcast.transcode_speed > 0.5

    log = Path(transcoding.config.prefix) / "transcoders" / "alice.log"
    assert "starting: " in log.read_text()
    assert key not in transcoding.logs() + log.read_text()

    # ffmpeg killed: the master goes, ffmpeg is started again, every level comes back.
    [ffmpeg] = processes("renditions/alice.src")
    before = {uri: fragments_listed(transcoding, uri) for uri in levels}
    os.kill(ffmpeg, signal.SIGKILL)
    wait_for(lambda: not master(transcoding, "alice"), timeout=5, message="the master gone")
    assert transcoding.playlist_ready("alice")  # the source's own playlist in its place
    levels = wait_for(
        lambda: len(master(transcoding, "alice")) == 3 and master(transcoding, "alice"),
        timeout=30,
        interval=0.3,
        message="the master back",
    )
    playlists = wait_for(lambda: aligned_levels(transcoding, list(levels)), timeout=15)
    assert_same_fragments(playlists)
    for uri in levels:  # the new ffmpeg's fragments, none of the old one's
        assert not fragments_listed(transcoding, uri) & before[uri], uri
    assert f"ffmpeg exited with code {-signal.SIGKILL}" in log.read_text()
    assert processes("renditions/alice.src") != [ffmpeg]
    wait_for(
        lambda: Broadcast.objects.filter(channel=alice.channel, transcode_restarts=1).exists(),
        timeout=10,
        message="the restart reported",
    )

    # nginx killed outright: the supervisor and its ffmpeg die with it.
    assert processes("transcoder.py --name alice")
    kill_nginx(transcoding.process)
    wait_for(
        lambda: not processes("transcoder.py --name alice") and not processes("/alice.src"),
        timeout=10,
        message="no transcoder left behind",
    )


def test_broadcasts_beyond_the_cap_are_played_as_sent_until_a_slot_frees(
    transcoding, alice, bob, client, admin_client
):
    alice_publisher = transcoding.publish(alice.channel.stream_key, size="640x360")
    wait_for(lambda: len(master(transcoding, "alice")) == 3, timeout=40, message="alice's master")
    transcoding.publish(bob.channel.stream_key, size="640x360")
    capped = in_state(bob, TranscodeState.CAPPED, timeout=20)
    wait_for(lambda: transcoding.playlist_ready("bob"), timeout=15, message="bob's playlist")
    assert master(transcoding, "bob") == {}  # the source's media playlist, nothing else
    assert len(processes("renditions/alice.src")) == 1 and not processes("renditions/bob")

    client.force_login(bob)
    assert "as you send it only" in client.get("/dashboard/").content.decode()
    changelist = admin_client.get("/admin/streams/broadcast/").content.decode()
    assert "Source only: transcoding limit reached" in changelist
    assert "Running: Source, 240p30, 180p30" in changelist

    alice_publisher.terminate()
    wait_for(lambda: len(master(transcoding, "bob")) == 3, timeout=40, message="bob transcoded")
    capped.refresh_from_db()
    assert capped.transcode_state == TranscodeState.RUNNING


def test_a_transcoder_behind_real_time_gives_up_for_a_while_and_the_channel_plays_as_sent(
    live_server,
    settings,
    tmp_path,
    transactional_db,
    alice,
    bob,
    go_live,
    client,
    admin_client,
    caplog,
):
    # A machine short of CPU, on purpose: ffmpeg held to 0.7x real time (-readrate).
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "ffmpeg").write_text('#!/bin/sh\nexec /usr/bin/ffmpeg -readrate 0.7 "$@"\n')
    (slow / "ffmpeg").chmod(0o755)
    (slow / "ffprobe").symlink_to("/usr/bin/ffprobe")
    settings.ECHO_RENDITIONS = LADDER
    settings.ECHO_TRANSCODE_MAX = 1
    settings.ECHO_TRANSCODE_BEHIND_SECONDS = 1
    config = live_server_nginx_config(
        live_server, settings, tmp_path, renditions=True, ffmpeg=str(slow / "ffmpeg")
    )
    with running_rtmp(config) as server:
        server.publish(alice.channel.stream_key, size="640x360")
        broadcast = in_state(alice, TranscodeState.BEHIND, timeout=40)
        assert broadcast.transcode_speed < renditions.BEHIND_SPEED
        assert broadcast.transcode_levels == ""
        # The channel's URL is the source's own playlist again, and the levels' playlists
        # are gone: a player on one of them loads the channel's URL again.
        wait_for(
            lambda: server.playlist_ready("alice") and not master(server, "alice"),
            timeout=10,
            message="the source's own playlist",
        )
        for uri in ("alice.src.m3u8", "alice.240p30.m3u8", "alice.180p30.m3u8"):
            assert server.get(f"/hls/{uri}")[0] == 404, uri
        assert not processes("renditions/alice.src")
        log = Path(config.prefix) / "transcoders" / "alice.log"
        assert re.search(r"behind real time: speed 0\.[0-8]\dx", log.read_text())
        assert "the channel is played as sent; trying again in 10 s" in log.read_text()

        client.force_login(alice)
        dashboard = client.get("/dashboard/").content.decode()
        assert "as you send it only" in dashboard and "as fast as you stream" in dashboard
        changelist = admin_client.get("/admin/streams/broadcast/").content.decode()
        assert re.search(
            r"Source only: the transcoder fell behind real time · 0\.[0-8]\dx", changelist
        )
        assert "transcoder of alice gave up, behind real time for 1 s" in caplog.text

        # Its slot is free meanwhile (bob may take it), and it asks again 10 s later.
        go_live(bob)
        assert renditions.transcode_claim(name="bob")["granted"] is True
        renditions.transcode_release(name="bob")
        wait_for(
            lambda: log.read_text().count("starting: ") == 2,
            timeout=20,
            message="the transcoder trying again",
        )
        assert alice.channel.stream_key not in log.read_text()


def test_with_renditions_off_nginx_runs_no_transcoder_and_django_grants_none(
    settings, tmp_path, alice, go_live
):
    settings.ECHO_RENDITIONS = []
    off = render_config(NginxConfig.from_settings(prefix=str(tmp_path), thumbs_path="/t"))
    settings.ECHO_RENDITIONS = LADDER
    settings.ECHO_TRANSCODE_MAX = 0
    no_slots = render_config(NginxConfig.from_settings(prefix=str(tmp_path), thumbs_path="/t"))
    settings.ECHO_TRANSCODE_MAX = 1
    on = render_config(NginxConfig.from_settings(prefix=str(tmp_path), thumbs_path="/t"))

    for text in (off, no_slots):
        assert "application transcode" not in text and "/transcode;" not in text
    assert "application transcode" in on and "exec_kill_signal term" in on

    go_live(alice)
    settings.ECHO_TRANSCODE_MAX = 0
    assert renditions.transcode_claim(name="alice")["granted"] is False
    settings.ECHO_TRANSCODE_MAX = 1
    assert renditions.transcode_claim(name="alice")["granted"] is True


def test_slots_are_counted_across_broadcasts_and_a_silent_one_expires(
    settings, client, alice, bob, go_live, callbacks_from_nginx
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.callbacks import callback

    settings.ECHO_RENDITIONS = LADDER
    settings.ECHO_TRANSCODE_MAX = 1
    go_live(alice)
    go_live(bob)

    def transcode(name, secret=None, **fields):
        extra = {} if secret is None else {"secret": secret}
        return callback(client, "on-transcode", app=None, name=name, **extra, **fields)

    assert transcode("alice", secret="wrong", event="claim").status_code == 403
    granted = transcode("alice", event="claim").json()
    assert granted["granted"] and granted["ladder"][0] == {"height": 240, "fps": 30, "kbps": 500}
    refused = transcode("bob", event="claim").json()
    assert refused == {"granted": False, "reason": "transcoding limit reached", "retry": 5}
    assert Broadcast.objects.get(channel=bob.channel).transcode_state == TranscodeState.CAPPED
    assert transcode("alice", event="status", state="running", levels="src,240p30", speed="0.8")
    alice_broadcast = Broadcast.objects.get(channel=alice.channel)
    assert alice_broadcast.transcode_speed == 0.8 and renditions.is_behind(alice_broadcast)

    # alice's transcoder went silent (nginx killed, say): its slot goes to bob, and alice's
    # next report is told to stop.
    Broadcast.objects.filter(channel=alice.channel).update(
        transcode_seen_at=timezone.now() - renditions.SLOT_EXPIRES - timedelta(seconds=1)
    )
    assert transcode("bob", event="claim").json()["granted"] is True
    stop = transcode("alice", event="status", state="running", levels="src,240p30").json()
    assert stop["granted"] is False
    assert transcode("alice", event="status", state="bogus").status_code == 400


@pytest.mark.parametrize(
    "value, message",
    [
        ("720p", "is not a rendition"),
        ("720p30,720p25", "each height once"),
        ("550p30", "needs a bitrate"),
        ("721p30:900k", "even height"),
    ],
)
def test_a_bad_ladder_is_refused_with_the_variable_named(monkeypatch, value, message):
    monkeypatch.setenv("ECHO_RENDITIONS", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        renditions_ladder("ECHO_RENDITIONS", "off")


def test_a_ladder_is_read_highest_first_with_default_bitrates(monkeypatch):
    monkeypatch.setenv("ECHO_RENDITIONS", "360p30, 720p30:3000k,480p30")
    assert renditions_ladder("ECHO_RENDITIONS", "off") == [
        (720, 30, 3000),
        (480, 30, 1000),
        (360, 30, 600),
    ]
    monkeypatch.setenv("ECHO_RENDITIONS", "off")
    assert renditions_ladder("ECHO_RENDITIONS", "720p30") == []


# --- the viewer -------------------------------------------------------------------------

PLAYING = "() => { const v = document.querySelector('video'); return v && v.currentTime > 1; }"
LEVEL = "() => document.querySelector('[data-quality-menu]').dataset.playing"
COUNT_STALLS = """() => {
    window.__stalls = 0;
    document.querySelector('video').addEventListener('waiting', () => window.__stalls++);
}"""


def throttle(cdp, bits_per_second: float | None) -> None:
    # Chromium's network emulation, bytes per second; -1 lifts it.
    rate = bits_per_second / 8 if bits_per_second else -1
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": rate, "uploadThroughput": rate},
    )


@pytest.mark.browser
def test_the_player_plays_the_master_switches_by_hand_and_follows_the_bandwidth(
    transcoding, alice, page
):
    from tests.browser import serious_findings

    # A source above the throttle below: only a rendition plays through it.
    transcoding.publish(alice.channel.stream_key, size="640x360", bitrate="2500k")
    wait_for(lambda: len(master(transcoding, "alice")) == 3, timeout=40, message="the master")
    page.goto(f"{transcoding.http_url}/alice")
    page.wait_for_function(PLAYING, timeout=20_000)
    menu = page.locator("#player-quality-select")
    assert menu.is_visible()
    labels = menu.locator("option").all_inner_texts()
    assert labels[0].startswith("Auto") and labels[1:] == ["Source (360p)", "240p", "180p"]
    assert serious_findings(page) == []

    # By hand, from the keyboard: the next fragments come at 180p, without a stall.
    page.evaluate(COUNT_STALLS)
    menu.focus()
    menu.select_option("180")
    page.wait_for_function(
        "() => document.querySelector('video').videoHeight === 180", timeout=10_000
    )
    assert page.evaluate("window.__stalls") == 0
    assert page.evaluate("localStorage.getItem('echo.quality')") == "180"

    # Remembered: the next page starts at 180p.
    page.reload()
    page.wait_for_function(PLAYING, timeout=20_000)
    assert page.evaluate("document.querySelector('video').videoHeight") == 180
    assert menu.input_value() == "180"

    # Auto through a 1.5 Mbit/s link: a rendition, played without stalls; then the source.
    # First Auto on the source: throttled while still climbing from 180p, the player would
    # show 180p (the level check below passes at once) with source fragments on their way.
    menu.select_option("auto")
    page.wait_for_function(f"() => ({LEVEL})() === 'source'", timeout=20_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle(cdp, 1_500_000)
    page.wait_for_function(f"() => ['240', '180'].includes(({LEVEL})())", timeout=20_000)
    page.wait_for_timeout(3_000)  # what was buffered at the source's rate plays out
    page.evaluate(COUNT_STALLS)
    page.wait_for_timeout(8_000)
    assert page.evaluate(LEVEL) in ("240", "180")
    assert page.evaluate("window.__stalls") == 0
    throttle(cdp, None)
    page.wait_for_function(f"() => ({LEVEL})() === 'source'", timeout=30_000)
