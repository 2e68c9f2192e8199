/* echo.tv's quality menu: "Auto" plus each level of a transcoded channel's master
 * playlist (streams/media/transcoder.py writes it: the source, then 720p30 and so on).
 *
 * - Auto lets hls.js choose by bandwidth, capped to the player's size (player.js sets
 *   capLevelToPlayerSize); the menu's Auto entry names the level playing.
 * - A choice is remembered per browser (localStorage "echo.quality": "auto", "source" or
 *   a height) and applied to every stream this browser plays from then on, as near as
 *   the stream has it (the highest level not above the chosen height).
 * - A switch takes effect from the next fragment hls.js loads (hls.loadLevel): nothing
 *   buffered is thrown away, so the picture changes without a stall, within a fragment
 *   or two (renditions are cut at the same keyframes as the source).
 * - A native <select>: keyboard and screen readers work as everywhere.
 *
 * Defines window.echoQualityMenu(root) (null without a menu in the page); player.js
 * calls attach(Hls, hls) for every hls.js it starts.
 */
(() => {
  "use strict";

  const STORAGE_KEY = "echo.quality";

  const isSource = (level) => /\.src\.m3u8(\?|$)/.test(level.uri || level.url[0] || "");

  const labelOf = (level) => (isSource(level) ? `Source (${level.height}p)` : `${level.height}p`);

  const valueOf = (level) => (isSource(level) ? "source" : String(level.height));

  class QualityMenu {
    constructor(root) {
      this.box = root.querySelector("[data-quality-menu]");
      this.select = this.box.querySelector("select");
      this.hls = null;
      this.select.addEventListener("change", () => this.choose(this.select.value));
    }

    stored() {
      try {
        return localStorage.getItem(STORAGE_KEY) || "auto";
      } catch (error) {
        return "auto"; // storage disabled: the choice lasts as long as the page
      }
    }

    store(value) {
      try {
        localStorage.setItem(STORAGE_KEY, value);
      } catch (error) {
        // private mode or storage full: not remembered
      }
    }

    attach(Hls, hls) {
      this.hls = hls;
      this.box.hidden = true;
      hls.on(Hls.Events.MANIFEST_PARSED, () => this.build());
      hls.on(Hls.Events.LEVEL_SWITCHED, () => this.showPlaying());
    }

    // The level index a stored choice stands for; -1 for auto.
    indexOf(value) {
      const levels = this.hls.levels;
      if (value === "auto") return -1;
      if (value === "source") return levels.findIndex(isSource);
      const height = Number(value);
      let best = -1;
      levels.forEach((level, index) => {
        if (level.height <= height && (best < 0 || level.height > levels[best].height)) best = index;
      });
      return best;
    }

    build() {
      const { hls, select } = this;
      const levels = hls.levels || [];
      select.replaceChildren();
      if (levels.length < 2) {
        // One level (the source's own playlist): nothing to choose, nor to name.
        this.box.dataset.playing = "";
        return;
      }
      const auto = new Option("Auto", "auto");
      select.add(auto);
      const order = levels.map((level, index) => index);
      order.sort((a, b) => levels[b].height - levels[a].height || levels[b].bitrate - levels[a].bitrate);
      for (const index of order) select.add(new Option(labelOf(levels[index]), valueOf(levels[index])));
      const stored = this.stored();
      const index = this.indexOf(stored);
      if (index >= 0) {
        // Before the first fragment: it is loaded at the chosen level already.
        hls.startLevel = index;
        hls.loadLevel = index;
        select.value = valueOf(levels[index]);
      } else {
        select.value = "auto";
      }
      this.box.hidden = false;
      this.showPlaying();
    }

    choose(value) {
      this.store(value);
      if (!this.hls) return;
      // -1: back to automatic selection.
      this.hls.loadLevel = this.indexOf(value);
      this.showPlaying();
    }

    showPlaying() {
      const { hls } = this;
      const auto = this.select.options[0];
      if (!hls || !auto) return;
      const level = hls.levels[hls.currentLevel];
      auto.textContent = hls.autoLevelEnabled && level ? `Auto (${level.height}p)` : "Auto";
      this.box.dataset.playing = level ? valueOf(level) : "";
    }
  }

  window.echoQualityMenu = (root) =>
    root.querySelector("[data-quality-menu]") ? new QualityMenu(root) : null;
})();
