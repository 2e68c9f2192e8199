/* echo.tv channel player: hls.js on a muted, autoplaying <video>.
 *
 * The player polls /<channel>/status.json and moves between five states, kept
 * on the container as data-state and shown in the status line:
 *
 *   offline       the channel is not live (page loaded while offline)
 *   starting      live, waiting for the first playlist (nginx-rtmp writes it
 *                 only after the first fragment, so early loads get 404)
 *   playing       video is playing
 *   reconnecting  the stream stalled, failed, or the channel stopped
 *   ended         the channel has been offline for a while; resumes by
 *                 itself when the channel goes live again
 */
(() => {
  "use strict";

  const POLL_INTERVAL_MS = 3000;
  const STATUS_TIMEOUT_MS = 5000;
  // The playlist may 404 for a second or two after going live: retry quietly.
  const RETRY_DELAY_MS = 1500;
  // A waiting <video> shows "Reconnecting…" after this, and is reloaded after twice this.
  const STALL_MS = 4000;
  // How long "Reconnecting…" lasts once the channel says it is offline: long
  // enough for OBS's automatic reconnect to publish again.
  const ENDED_AFTER_MS = 12000;
  // Two media errors this close together: rebuild the player instead of recovering.
  const MEDIA_ERROR_WINDOW_MS = 5000;

  // Latency. nginx-rtmp lists a fragment only once the next keyframe closes it, so a
  // viewer can be no closer to the live edge than one fragment (the encoder's keyframe
  // interval: 0.5 s or 1 s with the settings the dashboard recommends). How far behind
  // the player stays is set from the fragments' real lengths: static/js/live-sync.js.
  // Behind the target by more than this (a stall, a slow start): play faster until back.
  const CATCH_UP_FROM_S = 0.12;
  const CATCH_UP_UNTIL_S = 0.03;
  const MAX_CATCH_UP_RATE = 1.5;
  // Don't play faster with less than this buffered: it would only cause a stall.
  const CATCH_UP_MIN_BUFFER_S = 0.25;

  // With several edges, a failing one is given up on quickly: one quick retry, then the
  // next edge (Player.nextEdge) instead of hls.js's own retries against the same host.
  const EDGE_LOAD_POLICY = {
    default: {
      maxTimeToFirstByteMs: 4000,
      maxLoadTimeMs: 8000,
      timeoutRetry: { maxNumRetry: 0, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 1, retryDelayMs: 200, maxRetryDelayMs: 200 },
    },
  };

  const edgePolicies = (severalEdges) =>
    severalEdges ? { fragLoadPolicy: EDGE_LOAD_POLICY, playlistLoadPolicy: EDGE_LOAD_POLICY } : {};

  const hlsConfig = (Hls, severalEdges = false) => ({
    ...edgePolicies(severalEdges),
    // hls.js then asks for the next playlist as soon as it has one, which the loader
    // (pLoader) holds until the next fragment is listed. Without parts in the playlist
    // (nginx-rtmp has none) it changes nothing else, bar a catch-up turned off below.
    lowLatencyMode: true,
    // In seconds, not target durations (nginx-rtmp rounds those up to whole seconds);
    // live-sync.js sets both from the playlist's EXTINF once it has one. Further behind
    // than liveMaxLatencyDuration (a long stall, a sleeping tab): jump to the live edge.
    ...window.echoLiveSync.initialConfig(),
    // Catching up is done by keepUp() below: hls.js only does it with more than a
    // second buffered, which one-second fragments never leave.
    maxLiveSyncPlaybackRate: 1,
    // After a stall, stay a little further behind (hls.js's default adds a whole second;
    // live-sync.js already widens its margin when fragments arrive late).
    liveSyncOnStallIncrease: 0.1,
    backBufferLength: 10,
    // Transcoded channels (a master playlist): Auto never picks a level taller than the
    // player shows (static/js/quality-menu.js is the viewer's own choice).
    capLevelToPlayerSize: true,
    // hls.js weighs each bandwidth sample by how long its download took: on a fast link a
    // one-second fragment loads in milliseconds and barely moves its default averages
    // (half-lives of 3 and 9 download-seconds), so it would take half a minute to climb
    // back after a slow spell. Shorter half-lives: down as fast, up within seconds
    // (bench/renditions.py, throttle).
    abrEwmaFastLive: 2,
    abrEwmaSlowLive: 5,
    // Loading starts at the newest fragment (see start()), fetched while MediaSource
    // is still opening.
    autoStartLoad: false,
    startFragPrefetch: true,
    // No interstitials in nginx-rtmp's playlists; their controller would also start
    // loading at the playlist start by itself.
    enableInterstitialPlayback: false,
    // Transmux on the main thread: a worker has to start a second copy of hls.js first
    // (time to first frame), and a one-second fragment takes a few ms to transmux.
    enableWorker: false,
    // static/js/playlist-loader.js: holds playlist requests until nginx lists the next fragment.
    pLoader: window.echoPlaylistLoader(Hls),
    // A missing playlist is retried by the player itself (RETRY_DELAY_MS), so
    // hls.js reports it at once instead of backing off on its own.
    manifestLoadPolicy: {
      default: {
        maxTimeToFirstByteMs: 10000,
        maxLoadTimeMs: 10000,
        timeoutRetry: { maxNumRetry: 1, retryDelayMs: 0, maxRetryDelayMs: 0 },
        errorRetry: { maxNumRetry: 0, retryDelayMs: 0, maxRetryDelayMs: 0 },
      },
    },
  });

  const bufferedAhead = (video) => {
    const ranges = video.buffered;
    for (let i = 0; i < ranges.length; i++) {
      if (ranges.start(i) <= video.currentTime + 0.1 && video.currentTime < ranges.end(i)) {
        return ranges.end(i) - video.currentTime;
      }
    }
    return 0;
  };

  const STATUS_TEXT = {
    offline: "Offline",
    starting: "Starting…",
    playing: "Live",
    reconnecting: "Reconnecting…",
    ended: "The stream has ended",
  };

  let hlsScript = null;

  // hls.js is loaded by the page when the channel is live at load time, and on
  // demand when an offline channel goes live.
  const loadHlsJs = (src) => {
    if (window.Hls) return Promise.resolve(window.Hls);
    if (!hlsScript) {
      hlsScript = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.onload = () => resolve(window.Hls);
        script.onerror = () => {
          hlsScript = null;
          reject(new Error("could not load hls.js"));
        };
        document.head.appendChild(script);
      });
    }
    return hlsScript;
  };

  class Player {
    constructor(root) {
      this.root = root;
      this.video = root.querySelector("video");
      this.statusLine = document.getElementById("player-status");
      this.titleElement = document.querySelector("[data-channel-title]");
      this.categoryElement = document.querySelector("[data-channel-category]");
      this.liveBadge = document.querySelector("[data-live-badge]");
      this.liveSince = document.querySelector(".channel-meta [data-live-since]");

      this.statusUrl = root.dataset.statusUrl;
      this.hlsUrl = root.dataset.hlsUrl;
      // Every HLS base the page lists (ECHO_HLS_EDGE_URLS: several edges, in this page's
      // own order): one at a time, the next one when it fails.
      this.hlsUrls = (root.dataset.hlsUrls || "").split(" ").filter(Boolean);
      if (!this.hlsUrls.includes(this.hlsUrl)) this.hlsUrls.unshift(this.hlsUrl);
      this.edgeSwitches = 0;
      this.hlsSrc = root.dataset.hlsSrc;
      this.startedAt = root.dataset.started || null;
      this.state = root.dataset.state;
      this.live = this.state !== "offline";

      this.hls = null;
      this.liveSync = null;
      this.stats = window.echoPlayerStats ? window.echoPlayerStats(root, this) : null;
      this.quality = window.echoQualityMenu ? window.echoQualityMenu(root) : null;
      this.retryTimer = null;
      this.stallTimer = null;
      this.offlineSince = null;
      this.lastMediaError = 0;

      this.video.addEventListener("playing", () => this.onPlaying());
      this.video.addEventListener("waiting", () => this.onWaiting());
      this.video.addEventListener("timeupdate", () => this.keepUp());
      this.video.addEventListener("error", () => {
        // Native HLS (Safari without MSE) reports failures here.
        if (!this.hls && this.video.getAttribute("src")) this.onNetworkTrouble();
      });

      if (this.live) {
        // The page says the channel is live: start at once, and leave the network to
        // the playlist and the first fragment until then.
        this.start();
        setTimeout(() => this.poll(), POLL_INTERVAL_MS);
      } else {
        this.poll();
      }
    }

    setState(state) {
      if (state === this.state) return;
      this.state = state;
      this.root.dataset.state = state;
      this.video.hidden = state === "offline" || state === "ended";
      if (this.statusLine) this.statusLine.textContent = STATUS_TEXT[state];
    }

    // --- status.json -------------------------------------------------------

    async poll() {
      const controller = new AbortController();
      const timeout = setTimeout(() => controller.abort(), STATUS_TIMEOUT_MS);
      try {
        const response = await fetch(this.statusUrl, {
          cache: "no-store",
          headers: { Accept: "application/json" },
          signal: controller.signal,
        });
        if (response.ok) this.applyStatus(await response.json());
      } catch (error) {
        // The site is unreachable for a moment: keep the current state.
      } finally {
        clearTimeout(timeout);
        setTimeout(() => this.poll(), POLL_INTERVAL_MS);
      }
    }

    applyStatus(status) {
      this.showDetails(status);
      this.live = status.live;
      // One source: the server's word. Several edges: this page's choice among them.
      if (status.hls_url && this.hlsUrls.length === 1) this.hlsUrls = [(this.hlsUrl = status.hls_url)];

      if (status.live) {
        this.offlineSince = null;
        if (status.started_at !== this.startedAt) {
          // A new broadcast (first one, or OBS reconnected): start from scratch.
          this.startedAt = status.started_at;
          this.stop();
          const watching = this.state === "playing" || this.state === "reconnecting";
          this.start(watching ? "reconnecting" : "starting");
        } else if (this.state === "offline" || this.state === "ended") {
          this.start();
        }
        return;
      }

      if (this.state === "offline" || this.state === "ended") return;
      // Keep playing what is buffered while "Reconnecting…"; give up later.
      this.offlineSince = this.offlineSince || Date.now();
      if (Date.now() - this.offlineSince < ENDED_AFTER_MS) {
        this.setState("reconnecting");
      } else {
        this.stop();
        this.setState("ended");
      }
    }

    showDetails(status) {
      if (this.titleElement) {
        this.titleElement.textContent = status.title || "";
        this.titleElement.hidden = !status.title;
      }
      if (this.categoryElement) {
        this.categoryElement.textContent = status.category || "";
        this.categoryElement.hidden = !status.category;
      }
      if (this.liveBadge) this.liveBadge.hidden = !status.live;
      if (this.liveSince) {
        this.liveSince.hidden = !status.live;
        this.liveSince.dataset.liveSince = status.started_at || "";
        if (status.live && window.echo) window.echo.refreshLiveSince();
      }
    }

    // --- playback ----------------------------------------------------------

    async start(state = "starting") {
      this.stop();
      this.setState(state);
      let Hls;
      try {
        Hls = await loadHlsJs(this.hlsSrc);
      } catch (error) {
        this.retry();
        return;
      }
      if (!this.live || this.hls) return;

      if (Hls && Hls.isSupported()) {
        const hls = new Hls(hlsConfig(Hls, this.hlsUrls.length > 1));
        this.hls = hls;
        // Before the start below: the first playlist sets the target before loading.
        this.liveSync = window.echoLiveSync.attach(Hls, hls, this.video);
        if (this.stats) this.stats.attach(Hls, hls);
        if (this.quality) this.quality.attach(Hls, hls);
        // Start with the newest fragment: it begins with a keyframe (the first frame
        // shows without decoding up to a mid-fragment position), it is the one the
        // page prefetched, and keepUp() gets to the target latency from there.
        hls.once(Hls.Events.LEVEL_LOADED, (event, { details }) => {
          const newest = details.fragments[details.fragments.length - 1];
          hls.startLoad(newest && details.live ? newest.start : -1);
        });
        hls.on(Hls.Events.MANIFEST_PARSED, () => {
          // A master playlist (a transcoded channel): hls.js fetches a level's playlist
          // only once loading has started. So it starts wherever hls.js puts it, and
          // starts again at the newest fragment as that playlist arrives (above).
          if (hls.levels.length > 1) hls.startLoad(-1);
          this.play();
        });
        hls.on(Hls.Events.ERROR, (event, data) => {
          if (hls === this.hls && data.fatal) this.onFatalError(Hls, data);
        });
        hls.attachMedia(this.video);
        hls.loadSource(this.hlsUrl);
      } else if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
        this.video.src = this.hlsUrl;
        this.play();
      } else if (this.statusLine) {
        this.statusLine.textContent = "This browser cannot play live video.";
      }
    }

    play() {
      // Muted autoplay is allowed everywhere; if it is refused anyway, the
      // controls stay available for a manual start.
      const playing = this.video.play();
      if (playing) playing.catch(() => {});
    }

    stop() {
      clearTimeout(this.retryTimer);
      clearTimeout(this.stallTimer);
      this.retryTimer = this.stallTimer = null;
      this.video.playbackRate = 1;
      if (this.hls) {
        this.hls.destroy();
        this.hls = this.liveSync = null;
      }
      if (this.video.getAttribute("src")) {
        this.video.removeAttribute("src");
        this.video.load();
      }
    }

    // Move to the next edge in this page's list. True while some edge in the list has
    // not been tried since playback last worked (then it is worth trying at once).
    nextEdge() {
      if (this.hlsUrls.length < 2) return false;
      const index = (this.hlsUrls.indexOf(this.hlsUrl) + 1) % this.hlsUrls.length;
      this.hlsUrl = this.hlsUrls[index];
      this.edgeSwitches += 1;
      return this.edgeSwitches < this.hlsUrls.length;
    }

    retry(delay = RETRY_DELAY_MS) {
      const state = this.state === "playing" ? "reconnecting" : this.state;
      this.stop();
      this.setState(state);
      this.retryTimer = setTimeout(() => {
        if (this.live) this.start(this.state);
      }, delay);
    }

    onFatalError(Hls, data) {
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        const now = Date.now();
        const again = now - this.lastMediaError < MEDIA_ERROR_WINDOW_MS;
        this.lastMediaError = now;
        if (!again) {
          this.hls.recoverMediaError();
          // It restarts loading only from a position: with nothing played yet, and
          // autoStartLoad off (see start()), that is up to us.
          if (!this.video.currentTime) this.hls.startLoad(-1);
          return;
        }
      }
      // Network errors (playlist 404 before the first fragment, or after the
      // stream stopped) and unrecoverable media errors: rebuild and retry.
      this.onNetworkTrouble();
    }

    onNetworkTrouble() {
      if (this.state === "offline" || this.state === "ended") return;
      // An edge not yet tried may well answer: at once. Every one failed, or the only
      // source: again after a moment.
      this.retry(this.nextEdge() ? 0 : RETRY_DELAY_MS);
    }

    onPlaying() {
      this.edgeSwitches = 0;
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
      if (this.live) this.setState("playing");
    }

    // Back to the target latency after a stall or a slow start by playing faster (1 s
    // behind: 1.5x, 0.2 s: 1.2x; pitch is kept) rather than jumping and stalling again.
    keepUp() {
      const { hls, video } = this;
      if (!hls || video.paused || !hls.targetLatency) return;
      const behind = hls.latency - hls.targetLatency;
      const catchingUp = video.playbackRate > 1;
      let rate = 1;
      if (behind > (catchingUp ? CATCH_UP_UNTIL_S : CATCH_UP_FROM_S)) {
        if (bufferedAhead(video) > CATCH_UP_MIN_BUFFER_S) {
          rate = Math.min(MAX_CATCH_UP_RATE, 1 + Math.round(behind * 20) / 20);
        }
      }
      if (video.playbackRate !== rate) video.playbackRate = rate;
    }

    onWaiting() {
      if (this.state !== "playing" || this.stallTimer) return;
      this.stallTimer = setTimeout(() => {
        this.setState("reconnecting");
        this.stallTimer = setTimeout(() => {
          this.stallTimer = null;
          if (this.live && this.state === "reconnecting") {
            // Stuck on one source (an edge that accepts but sends nothing): try another.
            this.nextEdge();
            this.start("reconnecting");
          }
        }, STALL_MS);
      }, STALL_MS);
    }
  }

  const root = document.getElementById("player");
  if (root) new Player(root);
})();
