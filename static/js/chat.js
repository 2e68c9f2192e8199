/* echo.tv chat: the room beside the player, live over /ws/chat/<name>/.
 *
 * The protocol is in streams/chat/consumer.py's docstring: the server greets with
 * `welcome` and `history` (the last 50 messages), then sends batches of events; the
 * client only ever sends {"type": "send", "body", "nonce"}. Moderation goes through the
 * REST API (/api/channels/<name>/chat/...), whose answers carry the server's sentence.
 *
 * Everything a user wrote is put on the page as text nodes: no HTML from users. Links
 * become <a rel="nofollow ugc noopener"> (http and https only), followed on a click.
 *
 * A lost connection (Redis gone: 4503; a slow reader: 4408; the network) shows
 * "Reconnecting…", retries with backoff, and fills the gap from the REST history; what
 * the user was typing stays in the box until the server acknowledges it.
 */
(() => {
  "use strict";

  const root = document.getElementById("chat");
  if (!root) return;

  // Lines kept on the page while the reader is at the bottom.
  const MAX_LINES = 300;
  // Closer to the bottom than this counts as "at the bottom" (auto-scroll stays on).
  const BOTTOM_SLACK_PX = 48;
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
  const MAX_BACKOFF_MS = 30000;
  // A send not acknowledged in this long: say so, keep the text.
  const ACK_TIMEOUT_MS = 8000;
  const CLOSE_UNKNOWN_CHANNEL = 4404;
  const COLLAPSED_KEY = "echo.chat.collapsed";
  const BADGE_TEXT = { streamer: "Streamer", moderator: "Mod", staff: "Staff" };
  const TOKEN = /(https?:\/\/[^\s<>"']+|www\.[^\s<>"']+)|@([A-Za-z0-9_-]{1,50})/gi;
  const TRAILING = /[.,!?;:)\]}'"]+$/;

  const $ = (selector) => root.querySelector(selector);
  const log = $("[data-chat-log]");
  const more = $("[data-chat-more]");
  const stateLine = $("[data-chat-status]");
  const modes = $("[data-chat-modes]");
  const form = $("[data-chat-form]");
  const input = $("[data-chat-input]");
  const sendButton = $("[data-chat-send]");
  const notice = $("[data-chat-notice]");
  const count = $("[data-chat-count]");
  const modToggle = $("[data-chat-mod-toggle]");
  const modPanel = $("[data-chat-mod-panel]");
  const card = $("[data-chat-card]");
  const csrf = form ? form.querySelector("[name=csrfmiddlewaretoken]") : null;
  const apiUrl = root.dataset.apiUrl;
  const me = (root.dataset.me || "").toLowerCase();

  let socket = null;
  let attempts = 0;
  let retryTimer = null;
  let connectedOnce = false;
  let lastId = 0;
  let maxLength = 500;
  let isModerator = false;
  let canSend = false;
  let refusal = null;
  let refusalTimer = null;
  let cooldownTimer = null;
  let cooldownUntil = 0;
  let nonceCounter = 0;
  let sending = null; // {nonce, body, timer}
  let stopped = false;
  const lines = new Map(); // message id -> line element

  // --- time ----------------------------------------------------------------

  const clock = (date) => date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

  const untilText = (iso) => {
    const until = new Date(iso);
    if (Number.isNaN(until.getTime())) return "";
    const minutes = Math.max(1, Math.ceil((until - Date.now()) / 60000));
    const when = minutes > 12 * 60
      ? until.toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" })
      : clock(until);
    const left = minutes >= 90 ? `${Math.round(minutes / 60)} h` : `${minutes} min`;
    return `until ${when} (${left} from now)`;
  };

  // --- rendering -------------------------------------------------------------

  const safeLink = (text) => {
    const href = /^www\./i.test(text) ? `https://${text}` : text;
    try {
      const url = new URL(href);
      if (url.protocol !== "http:" && url.protocol !== "https:") return null;
      const link = document.createElement("a");
      link.href = url.href;
      link.rel = "nofollow ugc noopener";
      link.target = "_blank";
      link.textContent = text;
      return link;
    } catch (error) {
      return null;
    }
  };

  // The body as text nodes, links and @mentions; whether it mentions the reader.
  const renderBody = (body) => {
    const fragment = document.createDocumentFragment();
    let mentioned = false;
    let from = 0;
    for (const match of body.matchAll(TOKEN)) {
      let [token] = match;
      if (match[1]) {
        const trailing = token.match(TRAILING);
        if (trailing) token = token.slice(0, -trailing[0].length);
      }
      const element = match[1] ? safeLink(token) : document.createElement("span");
      if (!element) continue;
      fragment.append(body.slice(from, match.index));
      if (!match[1]) {
        element.className = "chat-mention";
        element.textContent = token;
        if (me && match[2].toLowerCase() === me) {
          element.classList.add("chat-mention-me");
          mentioned = true;
        }
      }
      fragment.append(element);
      from = match.index + token.length;
    }
    fragment.append(body.slice(from));
    return { fragment, mentioned };
  };

  const renderLine = (message) => {
    const line = document.createElement("div");
    line.className = "chat-line";
    line.dataset.id = String(message.id);
    line.dataset.author = message.author.name;

    const sentAt = new Date(message.sent_at);
    const time = document.createElement("time");
    time.className = "chat-time";
    time.dateTime = message.sent_at;
    time.textContent = clock(sentAt);
    time.title = sentAt.toLocaleString();
    line.append(time, " ");

    for (const badge of message.author.badges || []) {
      const label = document.createElement("span");
      label.className = `chat-badge chat-badge-${badge}`;
      label.textContent = BADGE_TEXT[badge] || badge;
      line.append(label, " ");
    }

    const author = document.createElement("button");
    author.type = "button";
    author.className = "chat-author";
    author.style.color = message.author.color;
    author.textContent = message.author.display_name;
    author.title = `@${message.author.name}`;
    author.addEventListener("click", () => openCard(message, author));
    line.append(author);

    const colon = document.createElement("span");
    colon.className = "chat-colon";
    colon.textContent = ": ";
    const text = document.createElement("span");
    text.className = "chat-text";
    const { fragment, mentioned } = renderBody(message.body);
    text.append(fragment);
    line.append(colon, text);
    if (mentioned) line.classList.add("chat-line-mention");
    return line;
  };

  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight <= BOTTOM_SLACK_PX;

  const scrollToBottom = () => {
    log.scrollTop = log.scrollHeight;
    more.hidden = true;
  };

  const trim = () => {
    while (lines.size > MAX_LINES) {
      const first = log.firstElementChild;
      if (!first) break;
      lines.delete(Number(first.dataset.id));
      first.remove();
    }
  };

  // Messages in id order, each once (history and live may overlap around a connect).
  const addMessages = (messages) => {
    const fresh = messages.filter((message) => !lines.has(message.id));
    if (!fresh.length) return;
    const stick = atBottom();
    for (const message of fresh.sort((a, b) => a.id - b.id)) {
      const line = renderLine(message);
      lines.set(message.id, line);
      let next = null;
      if (message.id < lastId) {
        next = [...log.children].find((child) => Number(child.dataset.id) > message.id) || null;
      }
      log.insertBefore(line, next);
      lastId = Math.max(lastId, message.id);
    }
    if (stick) {
      trim();
      scrollToBottom();
    } else {
      more.hidden = false;
    }
  };

  const removeMessages = (ids) => {
    for (const id of ids) {
      const line = lines.get(id);
      if (line) line.remove();
      lines.delete(id);
      // The card stays open (its feedback may be about this very deletion).
      if (card.dataset.messageId === String(id)) {
        card.querySelector("[data-chat-action=delete]").disabled = true;
      }
    }
  };

  // After a reconnect: what was deleted meanwhile goes, what was missed comes in.
  const applyHistory = async (messages) => {
    if (connectedOnce && messages.length) {
      const kept = new Set(messages.map((message) => message.id));
      const oldest = messages[0].id;
      removeMessages([...lines.keys()].filter((id) => id >= oldest && !kept.has(id)));
    }
    const gapFrom = lastId;
    addMessages(messages);
    if (connectedOnce && gapFrom && messages.length && messages[0].id > gapFrom + 1) {
      try {
        const response = await fetch(`${apiUrl}?after=${gapFrom}`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.ok) addMessages(await response.json());
      } catch (error) {
        // The history above is there; the rest of the gap stays a gap.
      }
    }
  };

  // --- who may write -----------------------------------------------------

  // kind: "refusal" (why this user can't write), "cooldown" (cleared when it ends), "error".
  const showNotice = (text, { extra = null, kind = "error" } = {}) => {
    if (!notice) return;
    notice.textContent = text;
    if (extra) notice.append(" ", extra);
    notice.hidden = !text;
    notice.dataset.kind = kind;
  };

  const refusalText = (reason) => {
    let text = reason.message;
    if (reason.until) text = `${text.replace(/\.$/, "")} ${untilText(reason.until)}.`;
    if (reason.reason) text = `${text} Reason: ${reason.reason}`;
    return text;
  };

  const updateComposer = () => {
    if (!input) return;
    const connected = socket && socket.readyState === WebSocket.OPEN;
    const coolingDown = cooldownUntil > Date.now();
    input.disabled = !canSend;
    sendButton.disabled = !canSend || !connected || coolingDown || Boolean(sending);
    input.placeholder = canSend ? "Send a message" : "You can't chat right now";
    if (refusal) {
      let extra = null;
      if (refusal.code === "unverified" && root.dataset.emailUrl) {
        extra = document.createElement("a");
        extra.href = root.dataset.emailUrl;
        extra.textContent = "Manage e-mail addresses";
      }
      showNotice(refusalText(refusal), { extra, kind: "refusal" });
    }
  };

  const setRefusal = (reason) => {
    clearTimeout(refusalTimer);
    refusal = reason;
    canSend = !reason;
    if (!reason && notice && notice.dataset.kind === "refusal") showNotice("");
    if (reason && reason.until) {
      // A timeout ends by itself: open the box again then (the server has the last word).
      const left = new Date(reason.until) - Date.now();
      if (left > 0 && left < 2 ** 31) refusalTimer = setTimeout(() => setRefusal(null), left + 500);
    }
    updateComposer();
  };

  const showModes = (settings) => {
    const parts = [];
    if (settings.slow_mode_seconds) parts.push(`Slow mode: one message every ${settings.slow_mode_seconds} s`);
    if (settings.followers_only) parts.push("Followers-only chat");
    if (!settings.links_allowed) parts.push("No links");
    modes.textContent = parts.join(" · ");
    modes.hidden = !parts.length;
    if (modPanel) {
      modPanel.elements.slow_mode_seconds.value = String(settings.slow_mode_seconds);
      if (modPanel.elements.slow_mode_seconds.value !== String(settings.slow_mode_seconds)) {
        const option = new Option(`${settings.slow_mode_seconds} s`, String(settings.slow_mode_seconds));
        modPanel.elements.slow_mode_seconds.add(option);
        modPanel.elements.slow_mode_seconds.value = option.value;
      }
      modPanel.elements.followers_only.checked = settings.followers_only;
      modPanel.elements.links_allowed.checked = settings.links_allowed;
    }
  };

  const coolDown = (seconds) => {
    clearTimeout(cooldownTimer);
    cooldownUntil = Date.now() + seconds * 1000;
    updateComposer();
    cooldownTimer = setTimeout(() => {
      cooldownUntil = 0;
      if (notice && notice.dataset.kind === "cooldown") showNotice("");
      updateComposer();
    }, seconds * 1000);
  };

  // --- the connection ----------------------------------------------------

  const setState = (text) => {
    stateLine.textContent = text;
    root.dataset.chatState = text ? (connectedOnce ? "reconnecting" : "connecting") : "connected";
  };

  const onEvent = (event) => {
    switch (event.type) {
      case "welcome":
        maxLength = event.max_length || maxLength;
        isModerator = event.is_moderator;
        if (modToggle) modToggle.hidden = !isModerator;
        if (!isModerator && modPanel) modPanel.hidden = true;
        showModes(event.settings);
        setRefusal(event.can_send ? null : event.cannot_send);
        break;
      case "history":
        applyHistory(event.messages);
        connectedOnce = true;
        break;
      case "message":
        addMessages([event]);
        break;
      case "deleted":
        removeMessages(event.ids);
        break;
      case "settings":
        showModes(event);
        if (!event.followers_only && refusal && refusal.code === "followers_only") setRefusal(null);
        break;
      case "restriction":
        if (event.kind === "lifted") {
          setRefusal(null);
        } else {
          const message = event.kind === "ban" ? "You are banned from this chat." : "You are timed out.";
          setRefusal({ code: event.kind, message, until: event.until, reason: event.reason });
        }
        break;
      case "ack":
        if (sending && sending.nonce === event.nonce) {
          clearTimeout(sending.timer);
          if (input.value === sending.body) input.value = "";
          sending = null;
          updateCount();
          updateComposer();
          scrollToBottom();
        }
        break;
      case "error":
        onError(event);
        break;
      default:
        break;
    }
  };

  const onError = (error) => {
    if (sending && (error.nonce === sending.nonce || error.nonce === null)) {
      clearTimeout(sending.timer);
      sending = null;
    }
    if (error.code === "timed_out" || error.code === "banned" || error.code === "followers_only"
      || error.code === "unverified" || error.code === "login_required") {
      setRefusal({ code: error.code, message: error.message, until: error.until || null, reason: error.reason || "" });
      return;
    }
    let text = error.message;
    if (error.retry_after) {
      text = `${text} You can send again in ${error.retry_after} s.`;
      coolDown(error.retry_after);
    }
    showNotice(text, { kind: error.retry_after ? "cooldown" : "error" });
    updateComposer();
  };

  const connect = () => {
    clearTimeout(retryTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${root.dataset.wsPath}`);
    socket = ws;
    ws.addEventListener("message", (message) => {
      let events;
      try {
        events = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (!Array.isArray(events)) return;
      if (events.length && events[0].type === "welcome") {
        // Only a welcome resets the backoff: without Redis the server accepts, then closes.
        attempts = 0;
        setState("");
      }
      for (const event of events) onEvent(event);
    });
    ws.addEventListener("close", (close) => {
      if (socket !== ws) return;
      socket = null;
      updateComposer();
      if (close.code === CLOSE_UNKNOWN_CHANNEL) {
        setState("This channel has no chat.");
        return;
      }
      if (stopped) return;
      setState(connectedOnce ? "Reconnecting…" : "Connecting…");
      const base = BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length - 1)] || MAX_BACKOFF_MS;
      attempts += 1;
      // Jitter: a restarted server is not met by every viewer in the same millisecond.
      retryTimer = setTimeout(connect, base / 2 + Math.random() * base);
    });
  };

  // --- sending -------------------------------------------------------------

  const updateCount = () => {
    if (!count || !input) return;
    const length = input.value.length;
    count.textContent = length > maxLength - 100 ? `${length}/${maxLength}` : "";
  };

  const send = () => {
    const body = input.value.replace(/\s*\n\s*/g, " ").trim();
    if (!body || !socket || socket.readyState !== WebSocket.OPEN || sending || !canSend) return;
    if (body.length > maxLength) {
      showNotice(`Messages are at most ${maxLength} characters.`);
      return;
    }
    nonceCounter += 1;
    const nonce = `${Date.now().toString(36)}-${nonceCounter}`;
    sending = {
      nonce,
      body: input.value,
      timer: setTimeout(() => {
        sending = null;
        showNotice("Your message was not confirmed; it is still in the box. Try again.");
        updateComposer();
      }, ACK_TIMEOUT_MS),
    };
    if (notice && notice.dataset.kind === "error") showNotice("");
    socket.send(JSON.stringify({ type: "send", body, nonce }));
    updateComposer();
  };

  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    input.addEventListener("input", updateCount);
  }

  // --- scrolling -----------------------------------------------------------

  log.addEventListener("scroll", () => {
    if (atBottom()) more.hidden = true;
  });
  more.addEventListener("click", () => {
    trim();
    scrollToBottom();
  });

  // --- moderation ----------------------------------------------------------

  let cardOpener = null;

  const api = async (method, path, body) => {
    const response = await fetch(apiUrl + path, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrf ? csrf.value : "",
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (response.ok) return response.status === 204 ? null : response.json();
    let text = `The server said ${response.status}.`;
    try {
      const data = await response.json();
      const first = data.detail || Object.values(data)[0];
      text = Array.isArray(first) ? first.join(" ") : String(first);
    } catch (error) {
      // Keep the status.
    }
    throw new Error(text);
  };

  const cardFeedback = (text) => {
    card.querySelector("[data-chat-card-feedback]").textContent = text;
  };

  function openCard(message, opener) {
    cardOpener = opener;
    card.dataset.messageId = String(message.id);
    card.dataset.user = message.author.name;
    card.querySelector("[data-chat-card-name]").textContent = message.author.display_name;
    card.querySelector("[data-chat-card-badges]").textContent = `@${message.author.name}`
      + (message.author.badges.length ? ` · ${message.author.badges.map((b) => BADGE_TEXT[b] || b).join(", ")}` : "");
    card.querySelector("[data-chat-card-mod]").hidden = !isModerator;
    card.querySelector("[data-chat-action=mention]").hidden = !input || !canSend;
    card.querySelector("[data-chat-card-reason]").value = "";
    card.querySelector("[data-chat-action=delete]").disabled = false;
    cardFeedback("");
    card.hidden = false;
    const first = card.querySelector("button:not([hidden])");
    if (first) first.focus();
  }

  function closeCard() {
    card.hidden = true;
    delete card.dataset.messageId;
    if (cardOpener && cardOpener.isConnected) cardOpener.focus();
    cardOpener = null;
  }

  const moderate = async (action, seconds) => {
    const user = card.dataset.user;
    const reason = card.querySelector("[data-chat-card-reason]").value.trim();
    const messageId = card.dataset.messageId;
    const done = {
      delete: () => api("DELETE", `messages/${messageId}/`).then(() => "Message deleted."),
      timeout: () => api("POST", "restrictions/", { user, kind: "timeout", seconds, reason })
        .then(() => `${user} is timed out for ${seconds >= 3600 ? `${seconds / 3600} h` : `${seconds / 60} min`}.`),
      ban: () => api("POST", "restrictions/", { user, kind: "ban", reason }).then(() => `${user} is banned from this chat.`),
      lift: () => api("DELETE", `restrictions/${encodeURIComponent(user)}/`).then(() => `${user} may chat again.`),
    }[action];
    try {
      cardFeedback(await done());
    } catch (error) {
      cardFeedback(error.message);
    }
  };

  card.addEventListener("click", (event) => {
    const button = event.target.closest("[data-chat-action]");
    if (!button) return;
    const action = button.dataset.chatAction;
    if (action === "close") {
      closeCard();
    } else if (action === "mention") {
      const mention = `@${card.dataset.user} `;
      input.value = input.value ? `${input.value.replace(/\s*$/, " ")}${mention}` : mention;
      closeCard();
      input.focus();
      updateCount();
    } else {
      moderate(action, Number(button.dataset.seconds) || undefined);
    }
  });
  card.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeCard();
  });

  if (modToggle && modPanel) {
    modToggle.addEventListener("click", () => {
      modPanel.hidden = !modPanel.hidden;
      modToggle.setAttribute("aria-expanded", String(!modPanel.hidden));
    });
    modPanel.addEventListener("submit", (event) => event.preventDefault());
    modPanel.addEventListener("change", async (event) => {
      const field = event.target;
      const value = field.type === "checkbox" ? field.checked : Number(field.value);
      try {
        showModes(await api("PATCH", "settings/", { [field.name]: value }));
      } catch (error) {
        showNotice(error.message);
      }
    });
  }

  // --- collapsing ----------------------------------------------------------

  const layout = root.closest(".channel");
  const showButton = document.querySelector("[data-chat-show]");
  const collapseButton = $("[data-chat-collapse]");
  const setCollapsed = (collapsed, remember = true) => {
    if (layout) layout.classList.toggle("chat-collapsed", collapsed);
    collapseButton.setAttribute("aria-expanded", String(!collapsed));
    if (showButton) showButton.hidden = !collapsed;
    if (remember) {
      try {
        if (collapsed) localStorage.setItem(COLLAPSED_KEY, "1");
        else localStorage.removeItem(COLLAPSED_KEY);
      } catch (error) {
        // Private mode: the choice lasts for this page.
      }
    }
    if (!collapsed) scrollToBottom();
  };
  collapseButton.addEventListener("click", () => {
    setCollapsed(true);
    if (showButton) showButton.focus();
  });
  if (showButton) {
    showButton.addEventListener("click", () => {
      setCollapsed(false);
      collapseButton.focus();
    });
  }
  let startCollapsed = false;
  try {
    startCollapsed = localStorage.getItem(COLLAPSED_KEY) === "1";
  } catch (error) {
    startCollapsed = false;
  }
  setCollapsed(startCollapsed, false);

  window.addEventListener("pagehide", () => {
    stopped = true;
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && stopped) {
      stopped = false;
      connect();
    }
  });

  updateComposer();
  connect();
})();
