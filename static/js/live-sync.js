/* echo.tv's live-sync target: how far behind the live edge player.js keeps hls.js.
 *
 * hls.js counts its target in target durations (liveSyncDurationCount x
 * #EXT-X-TARGETDURATION), and nginx-rtmp rounds the target duration up to whole
 * seconds: with 0.5 s keyframes it would hold 1.25 s back. So the target is set in
 * seconds, from what the playlist actually lists, per broadcast (a new Hls each), and
 * again whenever that changes:
 *
 *   target = the larger of
 *            - the newest fragment's length (EXTINF, the longest of the last few) + 0.15 s
 *              + the longest a recent fragment took to load
 *            - how far the live edge was from the end of what could be played when a
 *              fragment arrived (its length, the audio nginx-rtmp carries over into the
 *              next fragment, the time the fragment took to load, and how late its
 *              playlist came), the worst over the last 10 s, + 0.1 s
 *
 * nginx-rtmp lists a fragment only when the next keyframe closes it, so the newest
 * frame a viewer can have is one fragment old; on top of that, the buffer must not run
 * dry before the next one arrives, which is what the second term measures: on loopback
 * it is about 0.1 s more than a fragment, on a real network (50-150 ms round trips,
 * jitter) more.
 *
 * It sets hls.config.liveSyncDuration/liveMaxLatencyDuration, which hls.js's latency
 * controller reads on every use (pinned in tests/web/test_hls_internals.py), rather than
 * the targetLatency setter, which would forget hls.js's own after-stall increase.
 *
 * Defines window.echoLiveSync.attach(Hls, hls, video) and .initialConfig(); loaded by
 * the channel page before player.js.
 */
(() => {
  "use strict";

  // Before the first playlist: as for 1 s fragments (hls.js needs a value to start).
  const INITIAL_TARGET_S = 1.2;
  // The longest of this many newest fragments (an odd long one must not stall us).
  const RECENT_FRAGMENTS = 3;
  const MIN_MARGIN_S = 0.15;
  const LOAD_SAMPLES = 8;
  // The worst need of this long a window (a hiccup of the encoder, the network or the
  // machine comes again), and what is left in the buffer then: decoding and rendering.
  const NEED_WINDOW_MS = 10000;
  const SAFETY_S = 0.1;
  // The first seconds of playing need more (decoders starting, the page still loading):
  // not what the stream needs.
  const STARTUP_MS = 2500;
  // Further behind than the target by this (2 fragments, at least 2 s): hls.js jumps.
  const MAX_LATENCY_FRAGMENTS = 2;
  const MIN_MAX_LATENCY_EXTRA_S = 2;
  // Changes smaller than this are not worth a catch-up.
  const STEP_S = 0.02;

  const round = (seconds) => Math.round(seconds * 100) / 100;

  const initialConfig = () => ({
    liveSyncDuration: INITIAL_TARGET_S,
    liveMaxLatencyDuration: INITIAL_TARGET_S + MIN_MAX_LATENCY_EXTRA_S,
  });

  // Where what can be played now ends (the buffered range the playhead is in).
  const playableEnd = (video) => {
    const ranges = video.buffered;
    for (let i = 0; i < ranges.length; i++) {
      if (ranges.start(i) <= video.currentTime + 0.1 && video.currentTime < ranges.end(i)) {
        return ranges.end(i);
      }
    }
    return video.currentTime;
  };

  class LiveSync {
    constructor(Hls, hls, video) {
      this.hls = hls;
      this.video = video;
      this.fragment = null; // seconds, from EXTINF
      this.target = INITIAL_TARGET_S;
      this.newestSn = -1;
      this.extinf = new Map(); // sn -> EXTINF duration, s
      this.late = new Map(); // sn -> how late its playlist came, s
      this.previousListing = null; // [performance.now(), EXTINF] of the newest fragment
      this.needs = [];
      this.loadTimes = [];
      this.loaded = 0;
      this.startedAt = 0;
      hls.on(Hls.Events.LEVEL_LOADED, (event, data) => this.onPlaylist(data.details));
      hls.on(Hls.Events.FRAG_LOADED, (event, data) => this.onLoaded(data.frag, data.frag.stats));
    }

    onPlaylist(details) {
      const fragments = details.fragments;
      if (!details.live || !fragments.length) return;
      // EXTINF as first listed: hls.js replaces a loaded fragment's duration by that of
      // its media (audio included), which nginx-rtmp spreads over two fragments.
      for (const fragment of fragments) {
        if (!this.extinf.has(fragment.sn)) this.extinf.set(fragment.sn, fragment.duration);
      }
      for (const sn of this.extinf.keys()) if (sn < fragments[0].sn) this.extinf.delete(sn);
      const newest = fragments[fragments.length - 1];
      if (newest.sn > this.newestSn) {
        // Later than one fragment after the previous one: the encoder's, nginx's and the
        // network's jitter, which comes out of the buffer.
        const now = performance.now();
        if (this.previousListing && newest.sn === this.newestSn + 1) {
          const [at, duration] = this.previousListing;
          this.late.set(newest.sn, Math.max(0, (now - at) / 1000 - duration));
        }
        this.previousListing = [now, this.extinf.get(newest.sn)];
        this.newestSn = newest.sn;
        for (const sn of this.late.keys()) if (sn < fragments[0].sn) this.late.delete(sn);
      }
      const recent = fragments.slice(-RECENT_FRAGMENTS).map((f) => this.extinf.get(f.sn));
      this.fragment = Math.max(...recent);
      this.update();
    }

    onLoaded(frag, stats) {
      if (frag.type !== "main") return;
      this.loaded++;
      // How long a fragment takes to load (a round trip and the transfer): known from
      // the first one on, before the buffer says anything.
      if (stats && stats.loading.end > stats.loading.start) {
        this.loadTimes.push((stats.loading.end - stats.loading.start) / 1000);
        if (this.loadTimes.length > LOAD_SAMPLES) this.loadTimes.shift();
      }
      const details = this.hls.latestLevelDetails;
      // The first fragment is where playing starts: nothing was buffered before it. And
      // only a fragment the player was waiting for says what the network needs (not one
      // of a backlog, after a start or a stall: newer ones are listed already).
      const now = performance.now();
      if (this.loaded === 1) this.startedAt = now;
      if (now - this.startedAt < STARTUP_MS || !details || !details.live) return;
      if (frag.sn !== details.endSN) return;
      // The live edge (as hls.js reckons it, like its latency) minus where the buffer
      // ends, just before this fragment is appended: the latency below which it would
      // have arrived too late.
      const need =
        details.edge + details.age - playableEnd(this.video) + (this.late.get(frag.sn) || 0);
      this.needs.push([now, need]);
      while (this.needs[0][0] < now - NEED_WINDOW_MS) this.needs.shift();
      this.update();
    }

    update() {
      if (this.fragment === null) return;
      const need = this.needs.length ? this.worstNeed() + SAFETY_S : 0;
      const loading = this.loadTimes.length ? Math.max(...this.loadTimes) : 0;
      const target = round(Math.max(this.fragment + MIN_MARGIN_S + loading, need));
      if (Math.abs(target - this.target) < STEP_S) return;
      this.target = target;
      const extra = Math.max(MIN_MAX_LATENCY_EXTRA_S, MAX_LATENCY_FRAGMENTS * this.fragment);
      this.hls.config.liveSyncDuration = target;
      this.hls.config.liveMaxLatencyDuration = round(target + extra);
    }

    worstNeed() {
      return Math.max(...this.needs.map(([, need]) => need));
    }

    // What the stream stats overlay shows.
    snapshot() {
      const need = this.needs.length ? this.worstNeed() : null;
      return { fragment: this.fragment, target: this.target, need };
    }
  }

  window.echoLiveSync = {
    initialConfig,
    attach: (Hls, hls, video) => new LiveSync(Hls, hls, video),
  };
})();
