/* echo.tv's playlist loader for hls.js (the `pLoader` of player.js's config).
 *
 * It leans on hls.js internals that are not a documented API: the default loader class
 * (Hls.DefaultConfig.loader), its callbacks' argument order, its `stats` fields, and how
 * hls.js asks for a blocking playlist reload (`_HLS_msn`). Re-check this file on every
 * hls.js upgrade: tests/web/test_hls_internals.py pins each of these and fails loudly
 * when one changes.
 *
 * Loaded by the channel page before player.js; defines window.echoPlaylistLoader(Hls),
 * which returns the loader class.
 */
(() => {
  "use strict";

  // The loader starts asking this long before the next fragment is due, and then asks
  // this often until nginx lists it.
  const PLAYLIST_EARLY_MS = 100;
  const PLAYLIST_POLL_MS = 40;
  // A request for the next fragment is held at most this long: if the stream has ended,
  // hls.js must see it.
  const HOLD_AT_MOST_MS = 3000;
  // The playlist the page prefetched is used if it is at most this old.
  const PREFETCH_MAX_AGE_MS = 2000;

  // nginx-rtmp rewrites the playlist whenever a fragment closes, but hls.js polls it on
  // its own clock and finds a new fragment up to half a fragment late. So this playlist
  // loader does the server's part of LL-HLS blocking playlist reload: it tells hls.js
  // that the playlist can block, so hls.js asks again for the next media sequence number
  // (_HLS_msn) as soon as it has a playlist, and holds that request until nginx lists
  // the fragment: idle until it is nearly due, then asking every PLAYLIST_POLL_MS.
  // (nginx serves the playlist as a file and ignores the query.)
  window.echoPlaylistLoader = (Hls) => {
    const Loader = Hls.DefaultConfig.loader;
    // The newest fragment so far, and when it appeared (0: not seen appearing).
    const seen = { sequence: -1, at: 0, duration: 0 };

    const newest = (playlist, sawItAppear) => {
      const first = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist);
      const durations = [...playlist.matchAll(/#EXTINF:([\d.]+)/g)];
      const sequence = (first ? Number(first[1]) : 0) + durations.length - 1;
      if (sequence > seen.sequence) {
        seen.sequence = sequence;
        seen.at = sawItAppear ? performance.now() : 0;
        seen.duration = durations.length ? Number(durations[durations.length - 1][1]) : 0;
      }
      return sequence;
    };

    const canBlock = (playlist) =>
      playlist.replace("#EXTM3U", "#EXTM3U\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");

    return class EdgeWaitingPlaylistLoader {
      constructor(config) {
        this.config = config;
        this.loader = new Loader(config);
        this.timer = null;
        this.context = null;
      }

      get stats() {
        return this.loader.stats;
      }

      load(context, loaderConfig, callbacks) {
        this.context = context;
        const url = new URL(context.url, location.href);
        const wanted = Number(url.searchParams.get("_HLS_msn")) || null;
        for (const name of ["_HLS_msn", "_HLS_part", "_HLS_skip"]) url.searchParams.delete(name);
        const giveUpAt = performance.now() + HOLD_AT_MOST_MS;
        let waited = false;
        const attempt = () => {
          this.timer = null;
          this.loader.destroy();
          this.loader = new Loader(this.config);
          this.loader.load({ ...context, url: url.href }, loaderConfig, {
            onSuccess: (response, stats, _, networkDetails) => {
              const playlist = String(response.data);
              if (wanted && newest(playlist, waited) < wanted && performance.now() < giveUpAt) {
                waited = true;
                this.timer = setTimeout(attempt, PLAYLIST_POLL_MS);
                return;
              }
              response.data = canBlock(playlist);
              callbacks.onSuccess(response, stats, context, networkDetails);
            },
            onError: (error, _, networkDetails, stats) =>
              callbacks.onError(error, context, networkDetails, stats),
            onTimeout: (stats, _, networkDetails) =>
              callbacks.onTimeout(stats, context, networkDetails),
            onAbort: (stats, _, networkDetails) =>
              callbacks.onAbort && callbacks.onAbort(stats, context, networkDetails),
          });
        };

        // The first playlist: the page (channel.html) asked for it while hls.js loaded.
        const prefetch = wanted ? null : window.echoPrefetch;
        if (prefetch) {
          window.echoPrefetch = null;
          this.timer = 0; // until the prefetch settles; abort() cancels
          prefetch.then((fetched) => {
            if (this.timer !== 0) return;
            this.timer = null;
            const age = fetched ? performance.now() - fetched.received : Infinity;
            if (age > PREFETCH_MAX_AGE_MS || fetched.url !== url.href) {
              attempt();
              return;
            }
            newest(fetched.playlist, false);
            const { stats } = this.loader;
            stats.loading.start = fetched.requested;
            stats.loading.first = stats.loading.end = fetched.received;
            stats.loaded = stats.total = fetched.playlist.length;
            callbacks.onSuccess({ url: url.href, data: canBlock(fetched.playlist) }, stats, context, null);
          });
          return;
        }

        // The next fragment is due one fragment after the last one appeared (if we
        // don't know when that was, ask until we see one appear).
        const known = wanted === seen.sequence + 1 && seen.at;
        const due = known ? seen.at + seen.duration * 1000 : 0;
        const idle = due - PLAYLIST_EARLY_MS - performance.now();
        if (idle > 0) this.timer = setTimeout(attempt, idle);
        else attempt();
      }

      abort() {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.loader.abort();
      }

      destroy() {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.loader.destroy();
      }
    };
  };
})();
