"""What static/js/playlist-loader.js and player.js rely on in hls.js, pinned.

The loader leans on hls.js internals (its default loader class, the callbacks' argument
order, the `stats` fields, blocking playlist reload). An hls.js upgrade that changes one
of them breaks the player quietly (a slower start, a higher latency, a loader that
never answers); these tests make it fail loudly instead. They load hls.js and the
loader from the channel page's own static files into Debian's Chromium. The playlists
are fixed texts in nginx-rtmp's format, served through Playwright: what is under test is
hls.js's side of the contract, with no timing involved.
"""

import threading

import pytest

pytestmark = [pytest.mark.browser]

# Every option player.js's hlsConfig() sets: hls.js ignores an option it does not know.
PLAYER_CONFIG_KEYS = [
    "lowLatencyMode",
    "liveSyncDuration",
    "liveMaxLatencyDuration",
    "maxLiveSyncPlaybackRate",
    "liveSyncOnStallIncrease",
    "backBufferLength",
    "autoStartLoad",
    "startFragPrefetch",
    "enableInterstitialPlayback",
    "enableWorker",
    "pLoader",
    "manifestLoadPolicy",
]


def nginx_playlist(first: int, last: int) -> str:
    """A live playlist as nginx-rtmp writes it (no server control, no parts)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    lines += ["#EXT-X-TARGETDURATION:1", ""]
    for sequence in range(first, last + 1):
        lines += ["#EXTINF:1.000,", f"alice-{sequence}.ts"]
    return "\n".join(lines) + "\n"


class PlaylistServer:
    """Answers the page's playlist requests with segments 5 to newest[n] for the n-th
    request, then 5 to `then`. Remembers every URL asked for."""

    def __init__(self, page, base: str, *, newest: tuple[int, ...] = (), then: int = 7) -> None:
        self.url = f"{base}/hls/pinned.m3u8"
        self.requests: list[str] = []
        self.newest = newest
        self.then = then
        self._lock = threading.Lock()
        page.route("**/hls/pinned.m3u8*", self._answer)
        page.route("**/hls/missing.m3u8*", lambda route: route.fulfill(status=404, body=""))
        # Never answered: the loader's timeout has to fire.
        page.route("**/hls/silent.m3u8*", lambda route: None)

    def _answer(self, route) -> None:
        with self._lock:
            self.requests.append(route.request.url)
            count = len(self.requests)
        last = self.newest[count - 1] if count <= len(self.newest) else self.then
        route.fulfill(
            status=200,
            content_type="application/vnd.apple.mpegurl",
            headers={"Cache-Control": "no-cache"},
            body=nginx_playlist(5, last),
        )


@pytest.fixture
def hls_page(live_server, transactional_db, page, alice):
    """alice's channel page (offline: the player leaves hls.js alone), with hls.js loaded
    from the URL the page itself gives the player."""
    page.goto(f"{live_server.url}/alice")
    hls_src = page.get_attribute("#player", "data-hls-src")
    assert hls_src and hls_src.endswith(".js"), hls_src
    page.add_script_tag(url=live_server.url + hls_src)
    page.wait_for_function("() => window.Hls && window.echoPlaylistLoader")
    return page


def test_the_loader_class_config_options_and_player_hooks_exist(hls_page):
    found = hls_page.evaluate(
        """(keys) => {
        const Loader = Hls.DefaultConfig.loader;
        const loader = new Loader(Hls.DefaultConfig);
        const stats = loader.stats;
        const getter = (name) => typeof (Object.getOwnPropertyDescriptor(Hls.prototype, name) || {}).get;
        return {
            supported: Hls.isSupported(),
            loaderIsClass: typeof Loader === "function",
            loaderMethods: ["load", "abort", "destroy"].map((name) => typeof loader[name]),
            statsLoading: stats && Object.keys(stats.loading).sort(),
            statsFresh: stats && [stats.loading.start, stats.loading.first, stats.loading.end],
            statsNumbers: stats && [typeof stats.loaded, typeof stats.total],
            statsParsing: stats && typeof stats.parsing,
            unknownOptions: keys.filter((key) => !(key in Hls.DefaultConfig)),
            pLoaderDefault: Hls.DefaultConfig.pLoader,
            events: ["LEVEL_LOADED", "MANIFEST_PARSED", "ERROR"].map((name) => typeof Hls.Events[name]),
            mediaError: Hls.ErrorTypes.MEDIA_ERROR,
            methods: ["startLoad", "recoverMediaError", "attachMedia", "loadSource", "destroy", "once"]
                .map((name) => typeof Hls.prototype[name]),
            getters: ["latency", "targetLatency"].map(getter),
        };
    }""",
        PLAYER_CONFIG_KEYS,
    )

    assert found["supported"] is True
    assert found["loaderIsClass"] is True
    assert found["loaderMethods"] == ["function"] * 3
    # The prefetch path writes these on a fresh loader's stats and hands them to hls.js.
    assert found["statsLoading"] == ["end", "first", "start"]
    assert found["statsFresh"] == [0, 0, 0]
    assert found["statsNumbers"] == ["number", "number"]
    assert found["statsParsing"] == "object"
    assert found["unknownOptions"] == []
    assert found["pLoaderDefault"] is None  # ours replaces nothing hls.js needs
    assert found["events"] == ["string"] * 3
    assert found["mediaError"] == "mediaError"
    assert found["methods"] == ["function"] * 6
    assert found["getters"] == ["function"] * 2


# Runs hls.js with the loader (as player.js configures it, bar the start position) and
# records, for every callback the default loader makes, what each argument is.
RUN_HLS = """async ({ url, policy }) => {
    const Real = Hls.DefaultConfig.loader;
    const inner = [];
    const describe = (value, context) => {
        if (value === context) return "context";
        if (value instanceof XMLHttpRequest) return "xhr";
        if (value && value.loading && value.parsing) return "stats";
        if (value && typeof value.data === "string" && typeof value.url === "string") return "response";
        if (value && typeof value.code === "number") return "error";
        return value === null ? "null" : typeof value;
    };
    class RecordingLoader extends Real {
        load(context, loaderConfig, callbacks) {
            const record = (name) => (...args) => {
                inner.push([name, args.map((arg) => describe(arg, context))]);
                return callbacks[name](...args);
            };
            super.load(context, loaderConfig, {
                onSuccess: record("onSuccess"), onError: record("onError"),
                onTimeout: record("onTimeout"), onAbort: callbacks.onAbort,
            });
        }
    }
    Hls.DefaultConfig.loader = RecordingLoader;
    const EdgeLoader = window.echoPlaylistLoader(Hls);
    Hls.DefaultConfig.loader = Real;

    const asked = [];  // what hls.js asks our loader for
    class AskedLoader extends EdgeLoader {
        load(context, loaderConfig, callbacks) {
            asked.push({ url: context.url, type: context.type });
            super.load(context, loaderConfig, callbacks);
        }
    }
    const hls = new Hls({
        lowLatencyMode: true, autoStartLoad: false, enableWorker: false, pLoader: AskedLoader,
        manifestLoadPolicy: policy,
    });
    const levels = [];
    const errors = [];
    const finished = new Promise((resolve) => {
        hls.on(Hls.Events.LEVEL_LOADED, (event, { details, stats }) => {
            levels.push({
                live: details.live, canBlockReload: details.canBlockReload,
                startSN: details.startSN, endSN: details.endSN,
                newestStart: details.fragments[details.fragments.length - 1].start,
                loading: [stats.loading.start, stats.loading.first, stats.loading.end],
                parsed: stats.parsing.start > 0,
                targetLatency: hls.targetLatency,
            });
            // Playlist reloads need loading started (player.js: at the newest fragment).
            if (levels.length === 1) hls.startLoad(levels[0].newestStart);
            if (details.endSN === 9 || levels.length === 5) resolve();
        });
        hls.on(Hls.Events.ERROR, (event, data) => {
            errors.push({
                details: data.details, fatal: data.fatal,
                code: data.response ? data.response.code : null,
                contextUrl: data.context ? data.context.url : null,
                statsStarted: !!(data.stats && data.stats.loading.start > 0),
            });
            if (data.fatal) resolve();
        });
    });
    hls.loadSource(url);
    const timedOut = await Promise.race([
        finished.then(() => false),
        new Promise((resolve) => setTimeout(() => resolve(true), 10000)),
    ]);
    hls.destroy();
    return { timedOut, asked, inner, levels, errors };
}"""

# player.js's manifestLoadPolicy, with a short timeout for the silent playlist.
POLICY = {
    "default": {
        "maxTimeToFirstByteMs": 1000,
        "maxLoadTimeMs": 1000,
        "timeoutRetry": {"maxNumRetry": 0, "retryDelayMs": 0, "maxRetryDelayMs": 0},
        "errorRetry": {"maxNumRetry": 0, "retryDelayMs": 0, "maxRetryDelayMs": 0},
    }
}


def test_hls_asks_for_the_next_fragment_and_the_loader_holds_the_request(hls_page, live_server):
    # The playlist advances once (7 to 8), then nginx takes two more asks to list 9.
    server = PlaylistServer(hls_page, live_server.url, newest=(7, 8, 8, 8), then=9)

    run = hls_page.evaluate(RUN_HLS, {"url": server.url, "policy": POLICY})

    assert not run["timedOut"], run
    assert run["errors"] == []
    first = run["levels"][0]
    # hls.js takes the tag the loader adds: the playlist "can block".
    assert first["live"] and first["canBlockReload"], first
    assert (first["startSN"], first["endSN"]) == (5, 7)
    # The loader's stats reach hls.js, which times the load and the parsing with them.
    assert 0 < first["loading"][0] <= first["loading"][1] <= first["loading"][2]
    assert first["parsed"]
    # The manifest, the level reloaded by startLoad(); once the playlist has advanced,
    # at once the next media sequence number (no parts in the playlist: _HLS_msn only).
    asked = [(entry["type"], entry["url"]) for entry in run["asked"]]
    assert asked[:3] == [
        ("manifest", server.url),
        ("level", server.url),
        ("level", server.url + "?_HLS_msn=9"),
    ], asked
    # The loader holds that request, asking nginx again (without the query) until 9 is
    # listed: hls.js never sees a playlist without it in answer.
    assert [level["endSN"] for level in run["levels"]] == [7, 8, 9]
    assert len(server.requests) >= 5, server.requests
    assert all(url == server.url for url in server.requests)
    # player.js's keepUp() steers by this: liveSyncDurationCount x target duration.
    assert first["targetLatency"] == 3  # hls.js's default count, 1 s target duration
    # The default loader calls back in the order the loader's wrappers forward.
    assert len(run["inner"]) >= 5
    assert all(
        call == ["onSuccess", ["response", "stats", "context", "xhr"]] for call in run["inner"]
    )


def test_a_missing_playlist_reaches_hls_as_a_load_error_with_its_code(hls_page, live_server):
    PlaylistServer(hls_page, live_server.url)
    url = f"{live_server.url}/hls/missing.m3u8"

    run = hls_page.evaluate(RUN_HLS, {"url": url, "policy": POLICY})

    assert run["inner"] == [["onError", ["error", "context", "xhr", "stats"]]]
    assert run["errors"] == [
        {
            "details": "manifestLoadError",
            "fatal": True,
            "code": 404,
            "contextUrl": url,
            "statsStarted": True,
        }
    ]


def test_a_silent_playlist_reaches_hls_as_a_load_timeout(hls_page, live_server):
    PlaylistServer(hls_page, live_server.url)
    url = f"{live_server.url}/hls/silent.m3u8"

    run = hls_page.evaluate(RUN_HLS, {"url": url, "policy": POLICY})

    assert run["inner"] == [["onTimeout", ["stats", "context", "xhr"]]]
    assert [(error["details"], error["fatal"], error["contextUrl"]) for error in run["errors"]] == [
        ("manifestLoadTimeOut", True, url)
    ]
    assert run["errors"][0]["statsStarted"]


def test_the_prefetched_playlist_is_handed_to_hls_with_its_own_timing(hls_page, live_server):
    server = PlaylistServer(hls_page, live_server.url)
    playlist = nginx_playlist(5, 7)

    found = hls_page.evaluate(
        """async ({ url, playlist }) => {
        const requested = performance.now() - 50;
        const received = performance.now() - 10;
        window.echoPrefetch = Promise.resolve({ url, playlist, requested, received });
        const hls = new Hls({
            lowLatencyMode: true, autoStartLoad: false, enableWorker: false,
            pLoader: window.echoPlaylistLoader(Hls),
        });
        const loaded = new Promise((resolve) =>
            hls.once(Hls.Events.LEVEL_LOADED, (event, { details, stats }) => resolve({
                endSN: details.endSN, canBlockReload: details.canBlockReload,
                loading: [stats.loading.start, stats.loading.first, stats.loading.end],
                size: [stats.loaded, stats.total], parsed: stats.parsing.start > 0,
                // hls.js dates the playlist from the stats: how old it is now, in s.
                age: details.age,
            })));
        hls.loadSource(url);
        const level = await loaded;
        hls.destroy();
        return { level, requested, received, prefetchTaken: window.echoPrefetch === null };
    }""",
        {"url": server.url, "playlist": playlist},
    )

    level = found["level"]
    assert found["prefetchTaken"]
    assert server.requests == []  # hls.js got the page's playlist, not a second copy
    assert level["endSN"] == 7 and level["canBlockReload"]
    assert level["loading"] == [found["requested"], found["received"], found["received"]]
    assert level["size"] == [len(playlist), len(playlist)]
    assert level["parsed"]
    assert 0 < level["age"] < 5
