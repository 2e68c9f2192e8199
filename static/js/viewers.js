/* echo.tv viewer heartbeats: count players that are playing, not page loads.
 *
 * While the channel's <video> is actually playing, this tab POSTs a heartbeat every
 * 15-20 s with a random viewer id (kept in sessionStorage: per tab, and a reload is
 * not a second viewer). The answer carries the channel's viewer count, shown in
 * [data-viewer-count]. Leaving the page says goodbye at once; a tab that vanishes
 * without one stops counting after 45 s on the server (streams/social/viewers.py).
 */
(() => {
  "use strict";

  // Browser tests shorten the beat through window.echoViewerBeatMs (an init script).
  const BEAT_MS = window.echoViewerBeatMs || 15000;
  const BEAT_JITTER_MS = window.echoViewerBeatMs ? 0 : 5000;
  const ID_KEY = "echo.viewer-id";

  const root = document.getElementById("player");
  const video = root && root.querySelector("video");
  if (!video) return;
  const counter = document.querySelector("[data-viewer-count]");
  const url =
    (counter && counter.dataset.heartbeatUrl) ||
    root.dataset.statusUrl.replace(/status\.json$/, "viewers");

  const randomId = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) =>
      byte.toString(16).padStart(2, "0"),
    ).join("");

  const viewerId = (() => {
    try {
      let id = sessionStorage.getItem(ID_KEY);
      if (!/^[0-9a-f]{32}$/.test(id || "")) {
        id = randomId();
        sessionStorage.setItem(ID_KEY, id);
      }
      return id;
    } catch (error) {
      return randomId(); // storage blocked: one id for this page load
    }
  })();

  const formatViewers = (count) =>
    `${count.toLocaleString("en-US")} viewer${count === 1 ? "" : "s"}`;

  const show = (answer) => {
    if (!counter) return;
    counter.hidden = !answer.live;
    if (Number.isInteger(answer.viewers)) counter.textContent = formatViewers(answer.viewers);
  };

  const isPlaying = () => !video.paused && !video.ended && video.readyState > 2;

  let counted = false; // the server knows this tab as watching
  let lastBeat = 0;
  let timer = null;

  const send = async (leaving) => {
    const beat = leaving ? { viewer: viewerId, leaving: true } : { viewer: viewerId };
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(beat),
      credentials: "same-origin",
      cache: "no-store",
      // A goodbye must outlive the page that sends it.
      keepalive: leaving,
    });
    if (response.ok || response.status === 404) show(await response.json());
  };

  const beat = () => {
    clearTimeout(timer);
    timer = setTimeout(beat, BEAT_MS + Math.random() * BEAT_JITTER_MS);
    counted = isPlaying();
    if (!counted) return;
    lastBeat = Date.now();
    send(false).catch(() => {});
  };

  // The first frame plays: count this tab now rather than at the next beat.
  video.addEventListener("playing", () => {
    if (!counted || Date.now() - lastBeat > BEAT_MS) beat();
  });

  // The player hides the live badge when the broadcast ends: the count goes with it.
  const liveBadge = document.querySelector("[data-live-badge]");
  if (liveBadge && counter) {
    new MutationObserver(() => {
      if (liveBadge.hidden) counter.hidden = true;
    }).observe(liveBadge, { attributes: true, attributeFilter: ["hidden"] });
  }

  window.addEventListener("pagehide", () => {
    if (counted) send(true).catch(() => {});
    counted = false;
  });
  // Back from the back-forward cache: playing again counts again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && isPlaying()) beat();
  });

  window.echoViewers = { viewerId, formatViewers };
})();
