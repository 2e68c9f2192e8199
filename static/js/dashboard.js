/* echo.tv dashboard: reveal/copy for the server URL and stream key, a
 * confirmation before replacing the key, and a live/offline badge that
 * follows the channel's status without a reload.
 */
(() => {
  "use strict";

  const POLL_INTERVAL_MS = 5000;
  const feedback = document.querySelector("[data-copy-feedback]");

  const say = (message) => {
    if (!feedback) return;
    feedback.textContent = message;
    clearTimeout(say.timer);
    say.timer = setTimeout(() => (feedback.textContent = ""), 4000);
  };

  // navigator.clipboard exists only in secure contexts (HTTPS or localhost);
  // a self-hosted instance on plain HTTP gets the selection-based fallback.
  const copyByCommand = (input) => {
    const type = input.type;
    input.type = "text"; // a password field can be selected but not copied
    input.focus();
    input.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    if (copied) {
      input.type = type;
      input.blur();
    }
    return copied;
  };

  const syncRevealButton = (input) => {
    const button = document.querySelector(`[data-reveal="${input.id}"]`);
    if (!button) return;
    const revealed = input.type !== "password";
    button.textContent = revealed ? "Hide" : "Reveal";
    button.setAttribute("aria-pressed", String(revealed));
  };

  const copy = async (input, button) => {
    const label = input.labels && input.labels[0] ? input.labels[0].textContent.trim() : "Text";
    try {
      if (!navigator.clipboard) throw new Error("no async clipboard");
      await navigator.clipboard.writeText(input.value);
    } catch (error) {
      if (!copyByCommand(input)) {
        syncRevealButton(input);
        say(`Could not copy automatically: the ${label.toLowerCase()} is selected, press Ctrl+C (⌘C).`);
        return;
      }
    }
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 2000);
    say(`${label} copied to the clipboard.`);
  };

  for (const button of document.querySelectorAll("[data-copy]")) {
    const input = document.getElementById(button.dataset.copy);
    button.hidden = false;
    button.addEventListener("click", () => copy(input, button));
  }

  for (const button of document.querySelectorAll("[data-reveal]")) {
    const input = document.getElementById(button.dataset.reveal);
    button.hidden = false;
    button.addEventListener("click", () => {
      input.type = input.type === "password" ? "text" : "password";
      syncRevealButton(input);
    });
  }

  // The required checkbox is the confirmation without JavaScript; with it, ask once more.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  const state = document.getElementById("stream-state");
  if (!state) return;
  const badges = state.querySelectorAll("[data-when]");
  const text = state.querySelector("[data-stream-state-text]");

  const showStatus = (status) => {
    const wasLive = state.dataset.live === "true";
    if (status.live === wasLive) return;
    state.dataset.live = String(status.live);
    for (const badge of badges) badge.hidden = badge.dataset.when !== (status.live ? "live" : "offline");
    if (status.live) {
      text.textContent = "";
      const since = document.createElement("span");
      since.dataset.liveSince = status.started_at;
      text.append(since);
      window.echo && window.echo.refreshLiveSince();
    } else {
      text.textContent = "stream ended just now";
    }
  };

  // The fragment length nginx's last heartbeat measured, against the chosen latency
  // mode (thresholds from streams/latency.py, in the section's data attributes).
  const latency = document.querySelector("[data-latency]");
  const fitOf = (seconds) => {
    if (seconds === null || seconds === undefined) return "unmeasured";
    const mode =
      seconds <= Number(latency.dataset.lowestUpTo) ? "lowest"
      : seconds <= Number(latency.dataset.lowUpTo) ? "low"
      : null;
    if (mode === null) return "neither";
    return mode === latency.dataset.chosen ? "chosen" : "other";
  };
  const showLatency = (status) => {
    if (!latency) return;
    const seconds = status.live ? status.segment_seconds : null;
    const fit = fitOf(seconds);
    for (const message of latency.querySelectorAll("[data-fit]")) {
      message.hidden = message.dataset.fit !== fit;
    }
    if (seconds !== null && seconds !== undefined) {
      for (const value of latency.querySelectorAll("[data-fragment-seconds]")) {
        value.textContent = seconds.toFixed(2);
      }
    }
  };

  const poll = async () => {
    try {
      const response = await fetch(state.dataset.statusUrl, { cache: "no-store" });
      if (response.ok) {
        const status = await response.json();
        showStatus(status);
        showLatency(status);
      }
    } catch (error) {
      // Offline for a moment: keep the badge as it is.
    }
    setTimeout(poll, POLL_INTERVAL_MS);
  };
  setTimeout(poll, POLL_INTERVAL_MS);
})();
