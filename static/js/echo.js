/* echo.tv site-wide helpers: keeps "live for 12 min" labels current.
 *
 * Any element with data-live-since="<ISO 8601 time>" reads "live for …"; the
 * server renders a first value and this script refreshes it every 30 s.
 */
(() => {
  "use strict";

  const formatLiveFor = (startedAt, now = Date.now()) => {
    const minutes = Math.floor(Math.max(0, now - startedAt) / 60000);
    if (minutes < 1) return "live for less than a minute";
    if (minutes < 60) return `live for ${minutes} min`;
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return `live for ${hours} h` + (rest ? ` ${rest} min` : "");
  };

  const refreshLiveSince = () => {
    for (const element of document.querySelectorAll("[data-live-since]")) {
      const startedAt = Date.parse(element.dataset.liveSince);
      if (!Number.isNaN(startedAt)) element.textContent = formatLiveFor(startedAt);
    }
  };

  // <time data-local="time|datetime" datetime="ISO">: the server writes UTC, show the viewer's clock.
  const localizeTimes = () => {
    const formats = {
      time: { hour: "2-digit", minute: "2-digit" },
      datetime: { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    };
    for (const element of document.querySelectorAll("time[data-local]")) {
      const when = new Date(element.getAttribute("datetime"));
      const format = formats[element.dataset.local];
      if (format && !Number.isNaN(when.getTime())) {
        element.textContent = when.toLocaleString(undefined, format);
        element.title = when.toLocaleString();
      }
    }
  };

  window.echo = { formatLiveFor, refreshLiveSince, localizeTimes };
  localizeTimes();
  refreshLiveSince();
  setInterval(refreshLiveSince, 30000);
})();
