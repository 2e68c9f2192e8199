/* echo.tv's "stream stats" overlay: what any viewer can check about the stream they watch.
 *
 * A button in the player's corner opens a small panel (Escape or the button closes it),
 * refreshed every half second while open:
 *
 *   Delay         behind the broadcaster: hls.js's distance to the live edge, plus half
 *                 the last playlist's round trip and the ingest hop (INGEST_S), both of
 *                 which hls.js cannot see. An estimate: nginx-rtmp's playlists carry no
 *                 wall-clock times (bench/latency.py measures the real thing)
 *   Buffer        seconds of video loaded ahead of what is shown
 *   Resolution    of the decoded video
 *   Quality       the level playing (transcoded channels): its height, and whether Auto
 *                 chose it or the viewer did
 *   Bitrate       bytes of the last fragments over their EXTINF duration
 *   Dropped       frames the browser dropped, of those it decoded
 *   Fragments     their length (EXTINF) and the live-sync target (static/js/live-sync.js)
 *
 * Defines window.echoPlayerStats(root, player); player.js calls it, then attach(Hls, hls)
 * for every hls.js it starts.
 */
(() => {
  "use strict";

  const REFRESH_MS = 500;
  // Encoder output to nginx's playlist on this server (bench/latency.py: "listed after
  // keyframe", about 0.03 s), plus the relay between echo's two RTMP applications.
  const INGEST_S = 0.05;
  const BITRATE_FRAGMENTS = 6;

  const seconds = (value) => (value === null || value === undefined ? "–" : `${value.toFixed(2)} s`);

  const bufferedAhead = (video) => {
    const ranges = video.buffered;
    for (let i = 0; i < ranges.length; i++) {
      if (ranges.start(i) <= video.currentTime + 0.1 && video.currentTime < ranges.end(i)) {
        return ranges.end(i) - video.currentTime;
      }
    }
    return 0;
  };

  class PlayerStats {
    constructor(root, player) {
      this.player = player;
      this.video = root.querySelector("video");
      this.button = root.querySelector("[data-stats-toggle]");
      this.panel = root.querySelector("[data-stats-panel]");
      this.fields = {};
      for (const field of this.panel.querySelectorAll("[data-stat]")) {
        this.fields[field.dataset.stat] = field;
      }
      this.fragments = []; // [bytes, seconds] of the newest fragments loaded
      this.playlistRoundTrip = null; // s, the last playlist request without a hold
      this.timer = null;
      this.button.hidden = false;
      this.button.addEventListener("click", () => this.toggle());
      root.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && !this.panel.hidden) {
          this.toggle(false);
          this.button.focus();
        }
      });
    }

    attach(Hls, hls) {
      this.fragments = [];
      this.playlistRoundTrip = null;
      hls.on(Hls.Events.FRAG_LOADED, (event, { frag, payload }) => {
        if (frag.type !== "main" || !payload || !frag.duration) return;
        this.fragments.push([payload.byteLength, frag.duration]);
        if (this.fragments.length > BITRATE_FRAGMENTS) this.fragments.shift();
      });
      hls.on(Hls.Events.LEVEL_LOADED, (event, { stats }) => {
        // The loader's last request to nginx (a held request is several of them).
        const { first, start } = stats.loading;
        if (first > start && start > 0) this.playlistRoundTrip = (first - start) / 1000;
      });
    }

    toggle(open = this.panel.hidden) {
      this.panel.hidden = !open;
      this.button.setAttribute("aria-expanded", String(open));
      clearInterval(this.timer);
      this.timer = null;
      if (open) {
        this.refresh();
        this.timer = setInterval(() => this.refresh(), REFRESH_MS);
      }
    }

    refresh() {
      const { hls, liveSync } = this.player;
      const { video } = this;
      const playing = hls && video.readyState >= 2;
      const sync = liveSync ? liveSync.snapshot() : {};
      const halfTrip = this.playlistRoundTrip === null ? 0 : this.playlistRoundTrip / 2;
      const delay = playing && hls.latency ? hls.latency + halfTrip + INGEST_S : null;
      this.fields.delay.textContent = delay === null ? "–" : `≈ ${seconds(delay)}`;
      this.fields.buffer.textContent = playing ? seconds(bufferedAhead(video)) : "–";
      this.fields.resolution.textContent = video.videoWidth
        ? `${video.videoWidth} × ${video.videoHeight}`
        : "–";
      if (this.fields.level) {
        const level = playing && hls.levels.length > 1 ? hls.levels[hls.currentLevel] : null;
        const how = hls && hls.autoLevelEnabled ? "auto" : "chosen";
        this.fields.level.textContent = level ? `${level.height}p (${how})` : "–";
      }
      const bytes = this.fragments.reduce((sum, [size]) => sum + size, 0);
      const duration = this.fragments.reduce((sum, [, length]) => sum + length, 0);
      this.fields.bitrate.textContent = duration
        ? `${Math.round((bytes * 8) / duration / 1000)} kbit/s`
        : "–";
      const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      this.fields.dropped.textContent = quality
        ? `${quality.droppedVideoFrames} of ${quality.totalVideoFrames}`
        : "–";
      this.fields.fragment.textContent = seconds(sync.fragment);
      this.fields.target.textContent = seconds(playing ? hls.targetLatency : null);
    }
  }

  window.echoPlayerStats = (root, player) =>
    root.querySelector("[data-stats-panel]") ? new PlayerStats(root, player) : null;
})();
