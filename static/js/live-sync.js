/* echo.tv's live-sync target: how far behind the live edge player.js keeps hls.js.
 *
 * hls.js counts its target in target durations (liveSyncDurationCount x
 * #EXT-X-TARGETDURATION), and nginx-rtmp rounds the target duration up to whole
 * seconds: with 0.5 s keyframes it would hold 1.25 s back. So the target is set in
 * seconds, from what the playlist actually lists, per broadcast (a new Hls each), and
 * again whenever that changes:
 *
 *   target = newest fragment length (EXTINF, the longest of the last few)
 *          + margin
 *   margin = the larger of a fifth of a fragment (0.1 to 0.25 s) and the network's
 *            delivery time (playlist received to fragment buffered, plus how late
 *            that playlist came) at its worst over the last fragments, plus 0.05 s
 *
 * nginx-rtmp lists a fragment only when the next keyframe closes it, so the newest
 * frame a viewer can have is one fragment old; the margin is what the next fragment
 * needs to arrive before the buffer runs dry. On loopback delivery takes about 0.02 s
 * and the first term wins; on a real network (50-150 ms round trips) the second.
 *
 * It sets hls.config.liveSyncDuration/liveMaxLatencyDuration, which hls.js's latency
 * controller reads on every use (pinned in tests/web/test_hls_internals.py), rather than
 * the targetLatency setter, which would forget hls.js's own after-stall increase.
 *
 * Defines window.echoLiveSync(Hls, hls, video); loaded by the channel page before
 * player.js.
 */
(() => {
  "use strict";

  // Before the first playlist: as for 1 s fragments (hls.js needs a value to start).
  const INITIAL_TARGET_S = 1.2;
  // The longest of this many newest fragments (an odd long one must not stall us).
  const RECENT_FRAGMENTS = 3;
  const MARGIN_FRACTION = 0.2;
  const MIN_MARGIN_S = 0.1;
  const MAX_FRACTION_MARGIN_S = 0.25;
  // Delivery time: the worst of this many fragments, plus a little.
  const DELIVERY_SAMPLES = 8;
  const DELIVERY_SAFETY_S = 0.05;
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

  class LiveSync {
    constructor(Hls, hls) {
      this.hls = hls;
      this.fragment = null; // seconds, from EXTINF
      this.margin = null;
      this.target = INITIAL_TARGET_S;
      this.newestSn = -1;
      this.listed = new Map(); // sn -> [performance.now() when first listed, lateness s]
      this.previousListing = null; // [at, duration] of the newest fragment's listing
      this.deliveries = [];
      this.buffered = 0;
      hls.on(Hls.Events.LEVEL_LOADED, (event, data) => this.onPlaylist(data.details));
      hls.on(Hls.Events.FRAG_BUFFERED, (event, data) => this.onBuffered(data.frag));
    }

    onPlaylist(details) {
      const fragments = details.fragments;
      if (!details.live || !fragments.length) return;
      const now = performance.now();
      const newest = fragments[fragments.length - 1];
      if (newest.sn > this.newestSn) {
        // How much later than one fragment after the previous one it was listed: the
        // encoder's, nginx's and the network's jitter, which the margin has to cover.
        const late =
          this.previousListing && newest.sn === this.newestSn + 1
            ? Math.max(0, (now - this.previousListing[0]) / 1000 - this.previousListing[1])
            : 0;
        this.listed.set(newest.sn, [now, late]);
        this.previousListing = [now, newest.duration];
        this.newestSn = newest.sn;
        for (const sn of this.listed.keys()) if (sn < newest.sn - 20) this.listed.delete(sn);
      }
      const recent = fragments.slice(-RECENT_FRAGMENTS).map((fragment) => fragment.duration);
      this.fragment = Math.max(...recent);
      this.update();
    }

    onBuffered(frag) {
      if (frag.type !== "main") return;
      this.buffered++;
      const listing = this.listed.get(frag.sn);
      // The first fragment also carries the player's start (MediaSource, decoder).
      if (!listing || this.buffered === 1) return;
      const [listedAt, late] = listing;
      this.deliveries.push((performance.now() - listedAt) / 1000 + late);
      if (this.deliveries.length > DELIVERY_SAMPLES) this.deliveries.shift();
      this.update();
    }

    update() {
      if (this.fragment === null) return;
      const fraction = Math.min(
        MAX_FRACTION_MARGIN_S,
        Math.max(MIN_MARGIN_S, this.fragment * MARGIN_FRACTION),
      );
      const delivery = this.deliveries.length ? Math.max(...this.deliveries) : 0;
      this.margin = round(Math.max(fraction, delivery + DELIVERY_SAFETY_S));
      const target = round(this.fragment + this.margin);
      if (Math.abs(target - this.target) < STEP_S && this.hls.config.liveSyncDuration) return;
      this.target = target;
      const extra = Math.max(MIN_MAX_LATENCY_EXTRA_S, MAX_LATENCY_FRAGMENTS * this.fragment);
      this.hls.config.liveSyncDuration = target;
      this.hls.config.liveMaxLatencyDuration = round(target + extra);
    }

    // What the stream stats overlay shows.
    snapshot() {
      const delivery = this.deliveries.length ? Math.max(...this.deliveries) : null;
      return { fragment: this.fragment, margin: this.margin, target: this.target, delivery };
    }
  }

  window.echoLiveSync = { initialConfig, attach: (Hls, hls) => new LiveSync(Hls, hls) };
})();
