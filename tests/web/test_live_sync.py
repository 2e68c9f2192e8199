"""static/js/live-sync.js with Debian's Chromium and the page's own hls.js: the live-sync
target follows the EXTINF of the playlist, not nginx-rtmp's whole-second target duration.

Fixed playlists in nginx-rtmp's format, served through Playwright; no media is loaded,
so only the fragment lengths count (the buffer's part is played for real in
tests/web/test_low_latency_browser.py)."""

import pytest

pytestmark = [pytest.mark.browser]


@pytest.fixture
def hls_page(live_server, transactional_db, page, alice):
    """alice's channel page, offline: live-sync.js and hls.js loaded, no player running."""
    page.goto(f"{live_server.url}/alice")
    page.add_script_tag(url=live_server.url + page.get_attribute("#player", "data-hls-src"))
    page.wait_for_function("() => window.Hls && window.echoLiveSync")
    return page


def playlist(first: int, durations: list[float]) -> str:
    target = max(1, round(max(durations) + 0.499))  # nginx-rtmp: whole seconds, rounded up
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    lines += [f"#EXT-X-TARGETDURATION:{target}", ""]
    for offset, duration in enumerate(durations):
        lines += [f"#EXTINF:{duration:.3f},", f"alice-{first + offset}.ts"]
    return "\n".join(lines) + "\n"


# A new Hls as player.js makes it, live-sync attached; loads the playlists in turn and
# reports what hls.js would steer by after each.
TARGETS = """async (urls) => {
    const hls = new Hls({ ...window.echoLiveSync.initialConfig(), autoStartLoad: false });
    const video = document.createElement("video");
    const sync = window.echoLiveSync.attach(Hls, hls, video);
    const seen = [];
    hls.attachMedia(video);
    for (const url of urls) {
        const loaded = new Promise((resolve) => hls.once(Hls.Events.LEVEL_LOADED, resolve));
        hls.loadSource(url);
        await loaded;
        seen.push({
            target: hls.targetLatency,
            max: hls.config.liveMaxLatencyDuration,
            fragment: sync.snapshot().fragment,
            targetDuration: hls.latestLevelDetails.targetduration,
        });
    }
    hls.destroy();
    return seen;
}"""


def answer_with(text: str):
    def answer(route) -> None:
        route.fulfill(status=200, content_type="application/vnd.apple.mpegurl", body=text)

    return answer


@pytest.fixture
def playlists(hls_page, live_server):
    served = {
        "half": playlist(10, [0.5] * 6),
        "one": playlist(30, [1.0] * 4),
        "two": playlist(50, [2.0] * 3),
        "changed": playlist(14, [0.5, 0.5, 1.0, 1.0, 1.0]),
    }
    for name, text in served.items():
        hls_page.route(f"**/hls/{name}.m3u8*", answer_with(text))
    return lambda *names: [f"{live_server.url}/hls/{name}.m3u8" for name in names]


def test_half_second_fragments_get_a_target_under_a_second(hls_page, playlists):
    (half,) = hls_page.evaluate(TARGETS, playlists("half"))

    assert half["targetDuration"] == 1  # what hls.js would count in: 1.25 s behind
    assert half["fragment"] == 0.5
    assert half["target"] == pytest.approx(0.65)
    assert half["max"] == pytest.approx(2.65)


@pytest.mark.parametrize(
    ("name", "target", "max_latency"), [("one", 1.15, 3.15), ("two", 2.15, 6.15)]
)
def test_longer_fragments_get_one_fragment_and_the_margin(
    hls_page, playlists, name, target, max_latency
):
    (seen,) = hls_page.evaluate(TARGETS, playlists(name))

    assert seen["target"] == pytest.approx(target)
    assert seen["max"] == pytest.approx(max_latency)


def test_the_target_follows_the_fragments_when_they_change(hls_page, playlists):
    # The streamer changed OBS's keyframe interval: longer fragments follow shorter ones.
    before, after = hls_page.evaluate(TARGETS, playlists("half", "changed"))

    assert before["target"] == pytest.approx(0.65)
    assert after["fragment"] == 1.0
    assert after["target"] == pytest.approx(1.15)


def test_hls_reads_the_live_sync_duration_from_its_config_on_every_use(hls_page):
    # live-sync.js relies on this: hls.config is the object hls.js's latency controller
    # reads, so changing it later moves the target (and keeps hls.js's after-stall
    # increase, which the targetLatency setter would reset).
    found = hls_page.evaluate(
        """() => {
        const hls = new Hls({ liveSyncDuration: 1.2, liveMaxLatencyDuration: 3.2 });
        hls.config.liveSyncDuration = 0.65;
        hls.config.liveMaxLatencyDuration = 2.65;
        const controller = hls.latencyController;
        const result = {
            sameConfig: controller.config === hls.config,
            max: controller.maxLatency,
        };
        hls.destroy();
        return result;
    }"""
    )

    assert found == {"sameConfig": True, "max": 2.65}
