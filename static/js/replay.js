// Replay and clip pages: the broadcast's chat shown in step with the video (each message
// at its second in the replay, rebuilt on every seek), the clip form's "start at the
// player's position", and a clip page that waits for its clip to be cut.
(() => {
  "use strict";

  const video = document.getElementById("replay-video");
  const log = document.getElementById("replay-chat-log");
  const data = document.getElementById("replay-chat-data");

  if (video && log && data) {
    const messages = JSON.parse(data.textContent);
    let shown = 0;

    const line = (message) => {
      const item = document.createElement("li");
      item.className = "replay-chat-line";
      const time = document.createElement("span");
      time.className = "muted replay-chat-time";
      const at = Math.floor(message.at);
      time.textContent = `${Math.floor(at / 60)}:${String(at % 60).padStart(2, "0")}`;
      const author = document.createElement("strong");
      author.textContent = message.author;
      item.append(time, " ", author, ": ", document.createTextNode(message.body));
      return item;
    };

    const sync = () => {
      const now = video.currentTime;
      let count = 0;
      while (count < messages.length && messages[count].at <= now) count += 1;
      if (count < shown) {
        log.replaceChildren();
        shown = 0;
      }
      for (; shown < count; shown += 1) log.append(line(messages[shown]));
      log.dataset.shown = String(shown);
      log.scrollTop = log.scrollHeight;
    };
    ["timeupdate", "seeked", "loadedmetadata"].forEach((event) => video.addEventListener(event, sync));
    sync();
  }

  const fromPlayer = document.querySelector("[data-clip-from-player]");
  const start = document.querySelector("[data-clip-start]");
  if (video && fromPlayer && start) {
    fromPlayer.hidden = false;
    fromPlayer.addEventListener("click", () => {
      start.value = video.currentTime.toFixed(1);
    });
  }

  const clip = document.getElementById("clip");
  if (clip && clip.dataset.status === "processing") {
    const check = () =>
      fetch(clip.dataset.statusUrl, { cache: "no-store" })
        .then((response) => (response.ok ? response.json() : null))
        .then((status) => {
          if (status && status.status !== "processing") location.reload();
          else setTimeout(check, 500);
        })
        .catch(() => setTimeout(check, 2000));
    setTimeout(check, 500);
  }
})();
