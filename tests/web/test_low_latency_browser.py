"""Sub-second streams in Debian's Chromium: real nginx-rtmp, ffmpeg and hls.js.

A 0.5 s-keyframe stream plays on the channel page without stalls, with a live-sync
target set from the fragments' real length (nginx-rtmp's target duration says 1 s);
the stream stats overlay shows real numbers and works from the keyboard; the
streamer's dashboard coaches from the fragment length nginx measured.
"""

import re

import pytest
from django.test import Client

from streams import services
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming, pytest.mark.browser]

# Counts the <video>'s stalls ("waiting" after it first played), from before the page's
# own scripts run.
COUNT_STALLS = """(() => {
    window.__stalls = [];
    document.addEventListener("DOMContentLoaded", () => {
        const video = document.querySelector("#player video");
        let played = false;
        video.addEventListener("playing", () => (played = true));
        video.addEventListener("waiting", () => {
            if (played) window.__stalls.push([performance.now(), video.currentTime]);
        });
    });
})();"""


def wait_playing(page, seconds: float = 1) -> None:
    page.wait_for_function(
        "(seconds) => document.querySelector('#player').dataset.state === 'playing'"
        " && document.querySelector('#player video').currentTime > seconds",
        arg=seconds,
        timeout=30_000,
    )


def stat(page, name: str) -> str:
    return page.text_content(f'[data-stat="{name}"]').strip()


def seconds_of(text: str) -> float:
    match = re.fullmatch(r"≈? ?(\d+\.\d\d) s", text)
    assert match, text
    return float(match.group(1))


def open_stats_from_the_keyboard(page) -> None:
    toggle = page.get_by_role("button", name="Stream stats")
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("region", name="Stream stats").is_visible()


def test_a_half_second_keyframe_stream_plays_without_stalls_half_a_second_behind(
    rtmp, alice, browser_context
):
    rtmp.publish(alice.channel.stream_key, keyframe_seconds=0.5)
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=15, message="the playlist")
    status, playlist = rtmp.get("/hls/alice.m3u8")
    # What nginx-rtmp tells players: whole seconds only.
    assert b"#EXT-X-TARGETDURATION:1" in playlist
    browser_context.add_init_script(script=COUNT_STALLS)
    page = browser_context.new_page()
    page.goto(f"{rtmp.http_url}/alice")
    # Stalls after the first 5 s count, as in the bench (bench/latency.py): the start
    # catches up from wherever the first fragment left it.
    wait_playing(page, seconds=5)
    played_from = page.evaluate("document.querySelector('#player video').currentTime")
    stalls_from = page.evaluate("window.__stalls.length")
    page.wait_for_timeout(12_000)

    played = page.evaluate("document.querySelector('#player video').currentTime") - played_from
    assert page.evaluate("window.__stalls.length") == stalls_from, page.evaluate("window.__stalls")
    assert played > 10, played  # it kept playing (catching up makes it more, never less)
    open_stats_from_the_keyboard(page)
    # The target follows EXTINF: one 0.5 s fragment and a margin, not 1.25 target
    # durations (1.25 s) as hls.js would count it.
    assert seconds_of(stat(page, "fragment")) == pytest.approx(0.5, abs=0.02)
    target = seconds_of(stat(page, "target"))
    assert 0.55 <= target < 1.0, target


def test_the_stream_stats_show_real_numbers_and_close_from_the_keyboard(rtmp, alice, page):
    rtmp.publish(alice.channel.stream_key, bitrate="800k")
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=15, message="the playlist")
    page.goto(f"{rtmp.http_url}/alice")
    wait_playing(page, seconds=2)

    open_stats_from_the_keyboard(page)
    page.wait_for_function(
        "() => !document.querySelector('[data-stat=bitrate]').textContent.includes('–')"
    )
    assert stat(page, "resolution") == "640 × 360"
    assert seconds_of(stat(page, "fragment")) == pytest.approx(1.0, abs=0.05)
    assert 1.05 <= seconds_of(stat(page, "target")) < 2
    assert 0 < seconds_of(stat(page, "delay")) < 10
    assert 0 <= seconds_of(stat(page, "buffer")) < 5
    kbits = int(re.fullmatch(r"(\d+) kbit/s", stat(page, "bitrate")).group(1))
    assert 300 < kbits < 2500, kbits  # 800k video + 96k audio, give or take a fragment
    dropped, decoded = map(int, re.fullmatch(r"(\d+) of (\d+)", stat(page, "dropped")).groups())
    assert decoded > 30 and dropped <= decoded
    # The numbers move while it is open.
    first = stat(page, "dropped")
    page.wait_for_function(
        "(first) => document.querySelector('[data-stat=dropped]').textContent !== first", arg=first
    )

    page.keyboard.press("Escape")
    assert page.get_by_role("region", name="Stream stats").is_hidden()
    toggle = page.get_by_role("button", name="Stream stats")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.dataset.statsToggle !== undefined")


def test_the_dashboard_coaches_from_the_measured_fragment_length_without_a_reload(
    rtmp, alice, browser_context
):
    services.channel_settings_update(channel=alice.channel, latency_mode="lowest")
    client = Client()
    client.force_login(alice)
    browser_context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": rtmp.http_url}]
    )
    page = browser_context.new_page()
    page.goto(f"{rtmp.http_url}/dashboard/")
    assert page.locator('[data-fit="unmeasured"]').is_visible()

    # The streamer chose lowest latency, but OBS still sends a keyframe every second.
    rtmp.publish(alice.channel.stream_key, keyframe_seconds=1)
    # nginx's first heartbeat measures it (10 s), the dashboard polls every 5 s.
    other = page.locator('[data-fit="other"]')
    other.wait_for(state="visible", timeout=30_000)
    assert re.search(r"\b(0\.9\d|1\.0\d) s fragments", other.text_content())
    assert "Keyframe Interval to 0.5 s" in other.text_content()
    assert page.locator('[data-fit="chosen"]').is_hidden()
