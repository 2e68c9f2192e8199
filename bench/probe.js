/* Injected by bench/latency.py into the channel page before any of its scripts run.
 *
 * For every frame the <video> presents (requestVideoFrameCallback), draws the code
 * area to a canvas, reads the capture time the camera (bench/pattern.py) wrote into
 * the pixels and records Date.now() - capture time. Also records the time to the
 * first frame, stalls and freezes. Results live in window.__bench.
 *
 * __BENCH_OVERRIDE__ is replaced by the bench: `null` to leave the page's hls.js
 * config alone, or a config object that replaces it.
 */
(() => {
  "use strict";

  // Must match bench/pattern.py.
  const COLUMNS = 16, ROWS = 4, BLOCK = 32, X = 64, Y = 16, CHECK_SALT = 0x5a5a;
  const WIDTH = COLUMNS * BLOCK, HEIGHT = ROWS * BLOCK;
  const FREEZE_MS = 250;

  const bench = (window.__bench = {
    firstFrameMs: null, // performance.now() (ms since navigation start) at the first frame
    samples: [], // [Date.now(), glass-to-glass ms]
    unreadable: 0,
    frames: 0,
    waiting: [], // [ms since navigation, stall duration ms or null while stalled]
    seeks: [],
    freezes: [], // gaps between presented frames longer than FREEZE_MS: [at ms, gap ms]
    player: [], // once a second: [ms, hls latency, target, buffer ahead, playbackRate]
    overridden: false,
  });

  const override = __BENCH_OVERRIDE__;
  // Wrap Hls as the page defines it: to swap in the override, to reach the player's
  // hls.js instance, and to time hls.js's first steps (what the time to first frame is
  // made of). Nothing in the page's own scripts exists for the bench.
  const TIMED = ["MANIFEST_LOADING", "MANIFEST_LOADED", "LEVEL_LOADED", "FRAG_LOADING",
                 "FRAG_LOADED", "FRAG_BUFFERED"];
  bench.hlsEvents = []; // [ms since navigation, event] for the first few of each
  let wrapped, targetLatencyOf, playerHls; // (not on __bench: latency.py reads __bench as JSON)
  Object.defineProperty(window, "Hls", {
    configurable: true,
    get: () => wrapped,
    set: (Real) => {
      bench.hlsDefinedMs = performance.now();
      const target = Object.getOwnPropertyDescriptor(Real.prototype, "targetLatency");
      targetLatencyOf = (hls) => target.get.call(hls);
      wrapped = class extends Real {
        constructor(config) {
          super(override !== null ? override : config);
          bench.overridden = override !== null;
          bench.hlsCreatedMs = performance.now();
          playerHls = this;
          for (const name of TIMED) {
            this.on(Real.Events[name], () => {
              if (bench.hlsEvents.length < 40) bench.hlsEvents.push([performance.now(), name]);
            });
          }
        }

        // With the override, stock hls.js runs alone. player.js adds two things of its
        // own on top of its config: it starts loading at the newest fragment (a second
        // startLoad() after hls.js's autoStartLoad one), and its keepUp() plays faster
        // while behind hls.targetLatency. Keep only hls.js's own start, and show
        // player.js no target (keepUp() then does nothing).
        startLoad(...args) {
          if (override !== null && this.benchStarted) return;
          this.benchStarted = true;
          super.startLoad(...args);
        }

        get targetLatency() {
          return override !== null ? null : super.targetLatency;
        }

        set targetLatency(latency) {
          super.targetLatency = latency;
        }
      };
    },
  });

  // Every playlist request: [Date.now() sent, Date.now() answered, last segment listed].
  bench.playlistRequests = [];
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    if (String(url).includes(".m3u8") && bench.playlistRequests.length < 400) {
      const entry = [Date.now(), null, null, String(url).split("/").pop()];
      bench.playlistRequests.push(entry);
      this.addEventListener("loadend", () => {
        entry[1] = Date.now();
        const lines = String(this.responseText || "").trim().split("\n");
        entry[2] = lines[lines.length - 1];
      });
    }
    return open.call(this, method, url, ...rest);
  };

  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const context = canvas.getContext("2d", { willReadFrequently: true });

  const readCaptureMs = (video) => {
    // The camera's frame is 640 wide; a rendition (bench/latency.py --levels) is smaller.
    const scale = video.videoWidth ? video.videoWidth / 640 : 1;
    context.drawImage(video, X * scale, Y * scale, WIDTH * scale, HEIGHT * scale, 0, 0, WIDTH, HEIGHT);
    const pixels = context.getImageData(0, 0, WIDTH, HEIGHT).data;
    const bits = [];
    for (let i = 0; i < COLUMNS * ROWS; i++) {
      const x0 = (i % COLUMNS) * BLOCK + 10, y0 = Math.floor(i / COLUMNS) * BLOCK + 10;
      let sum = 0;
      for (let y = y0; y < y0 + 12; y += 2) {
        for (let x = x0; x < x0 + 12; x += 2) sum += pixels[(y * WIDTH + x) * 4];
      }
      const mean = sum / 36;
      if (mean > 70 && mean < 185) return null; // neither black nor white: not our frame
      bits.push(mean >= 128 ? 1 : 0);
    }
    const word = (from, count) => bits.slice(from, from + count).reduce((v, b) => v * 2 + b, 0);
    const high = word(0, 16), middle = word(16, 16), low = word(32, 16);
    if ((high ^ middle ^ low ^ CHECK_SALT) !== word(48, 16)) return null;
    return (high * 65536 + middle) * 65536 + low;
  };

  let lastFrameAt = null;
  let stallStart = null;

  const endStall = (now) => {
    if (stallStart === null) return;
    bench.waiting[bench.waiting.length - 1][1] = now - stallStart;
    stallStart = null;
  };

  const onFrame = (video) => (now, metadata) => {
    const at = performance.now();
    if (bench.firstFrameMs === null) {
      bench.firstFrameMs = at;
      const navigation = performance.getEntriesByType("navigation")[0];
      bench.navigation = navigation && {
        fetchStart: navigation.fetchStart,
        requestStart: navigation.requestStart,
        responseStart: navigation.responseStart,
        responseEnd: navigation.responseEnd,
        domInteractive: navigation.domInteractive,
        domContentLoaded: navigation.domContentLoadedEventEnd,
      };
      bench.resources = performance.getEntriesByType("resource").slice(0, 20).map((entry) => [
        entry.name.replace(location.origin, ""), Math.round(entry.startTime),
        Math.round(entry.responseEnd)]);
    }
    if (lastFrameAt !== null && at - lastFrameAt > FREEZE_MS && !video.paused) {
      bench.freezes.push([at, at - lastFrameAt]);
    }
    lastFrameAt = at;
    bench.frames = metadata.presentedFrames;
    const captureMs = readCaptureMs(video);
    if (captureMs === null) bench.unreadable++;
    else bench.samples.push([Date.now(), Date.now() - captureMs]);
    endStall(at);
    video.requestVideoFrameCallback(onFrame(video));
  };

  const watch = (video) => {
    video.requestVideoFrameCallback(onFrame(video));
    video.addEventListener("waiting", () => {
      // Only after the first frame: waiting for the first fragment is not a stall.
      if (bench.firstFrameMs === null || stallStart !== null) return;
      stallStart = performance.now();
      bench.waiting.push([stallStart, null]);
    });
    video.addEventListener("playing", () => endStall(performance.now()));
    bench.mediaEvents = {};
    for (const name of ["loadedmetadata", "loadeddata", "canplay", "playing", "seeked"]) {
      video.addEventListener(name, () => {
        if (!(name in bench.mediaEvents)) bench.mediaEvents[name] = performance.now();
      });
    }
    video.addEventListener("seeking", () => bench.seeks.push([performance.now(), video.currentTime]));
    setInterval(() => {
      const hls = playerHls;
      if (!hls || bench.firstFrameMs === null) return;
      const buffered = video.buffered;
      const ahead = buffered.length ? buffered.end(buffered.length - 1) - video.currentTime : 0;
      bench.player.push([performance.now(), hls.latency, targetLatencyOf(hls), ahead, video.playbackRate]);
    }, 1000);
  };

  document.addEventListener("DOMContentLoaded", () => {
    const video = document.querySelector("#player video");
    if (video) watch(video);
  });
})();
