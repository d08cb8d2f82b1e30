/* The cockpit's live link: one websocket to the platform's events (/ws/live/), reconnected with
 * backoff; on every (re)connect the page's JSON snapshot is fetched and rendered, so a dropped
 * socket never leaves stale figures. Events are applied to the page as they come; events whose
 * effect the page cannot compute itself ask for a fresh snapshot (at most a few a second).
 *
 * A page registers itself with
 *   cockpit.page({snapshotUrl, render(snapshot), apply(event) -> "resync" | true | false})
 * and any script may listen with cockpit.on(kind | "*", fn(event)).
 * window.cockpit.{lastEventAt, applied} are read by the browser tests and the fan-out benchmark.
 */
(function () {
  "use strict";

  const cockpit = (window.cockpit = window.cockpit || {});
  Object.assign(cockpit, {
    lastEventAt: null, // Date.now() when the last event was applied
    applied: 0, // events applied (every event but the socket's hello)
    lastSeq: null, // the highest event number seen
    gaps: 0, // times a number was skipped (each one resynchronises from a snapshot)
    connected: false,
    snapshots: 0, // snapshots rendered
    lastSnapshotAt: null,
    recent: [], // the last 50 events: {kind, sent_at, at}
  });

  const RESYNC_MIN_GAP_MS = 300; // between two snapshot fetches
  const RESYNC_DELAY_MS = 60; // lets a burst of events (fill, position, trade) arrive first
  const listeners = {};
  let page = null;
  let socket = null;
  let attempts = 0;
  let fetching = false;
  let dirty = false; // an event came while a snapshot was being fetched
  let timer = null;
  let lastFetchAt = 0;

  // --- helpers shared by the pages -------------------------------------------------------------
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function flash(message, kind) {
    const box = document.querySelector("[data-testid=flash]");
    if (!box) return;
    box.textContent = message;
    box.className = "flash " + (kind || "info");
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const why = (data && data.message) || response.status + " " + response.statusText;
      throw new Error(why);
    }
    return data;
  }

  // Numbers for people, as the server prints them (apps/core/domain/formatting).
  function decimals(quantum) {
    if (!quantum) return null;
    const text = String(quantum);
    if (!/^[0-9.]+$/.test(text)) return null;
    const trimmed = text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
    const dot = trimmed.indexOf(".");
    return dot < 0 ? 0 : trimmed.length - dot - 1;
  }
  function plain(value) {
    const n = Number(value);
    if (!isFinite(n)) return String(value);
    return String(n);
  }
  const fmt = {
    price(value, tick) {
      if (value === null || value === undefined || value === "") return "";
      const places = decimals(tick);
      return places === null ? plain(value) : plain(Number(value).toFixed(places));
    },
    qty(value, step) { return fmt.price(value, step); },
    money(value, sign) {
      if (value === null || value === undefined || value === "") return "";
      const n = Number(value);
      const text = n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      return sign && Math.round(n * 100) > 0 ? "+" + text : text;
    },
    pct(fraction) { return (Number(fraction) * 100).toFixed(2) + " %"; },
  };

  function setField(root, field, text, title) {
    if (!root) return;
    const el = root.querySelector('[data-field="' + field + '"]');
    if (!el) return;
    if (el.textContent !== text) el.textContent = text;
    if (title !== undefined) el.title = title;
  }

  // Replace the inner HTML of each [data-section=<key>] with the snapshot's rendered fragment.
  function renderSections(html) {
    for (const [key, fragment] of Object.entries(html || {})) {
      document.querySelectorAll('[data-section="' + key + '"]').forEach((el) => {
        if (el.innerHTML !== fragment) { el.innerHTML = fragment; paintBackgrounds(el); }
      });
    }
  }

  // Cells coloured by their value (correlation, monthly returns) carry data-bg: set through the
  // DOM, since the Content-Security-Policy refuses style="..." attributes (docs/security.md).
  function paintBackgrounds(root) {
    (root || document).querySelectorAll("[data-bg]").forEach((el) => {
      el.style.background = el.dataset.bg;
    });
  }

  // --- snapshot -----------------------------------------------------------------------------------
  async function fetchSnapshot() {
    if (!page || !page.snapshotUrl) return;
    if (fetching) { dirty = true; return; }
    fetching = true;
    dirty = false;
    lastFetchAt = Date.now();
    try {
      const response = await fetch(page.snapshotUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error("snapshot: " + response.status + " " + response.statusText);
      const snapshot = await response.json();
      page.render(snapshot);
      cockpit.snapshots += 1;
      cockpit.lastSnapshotAt = Date.now();
      const clock = document.querySelector("[data-testid=market-time]");
      if (clock && snapshot.market_time) clock.textContent = snapshot.market_time;
    } catch (err) {
      flash("Could not refresh the page's figures: " + err.message, "error");
    } finally {
      fetching = false;
      if (dirty) resync();
    }
  }

  function resync() {
    if (!page || !page.snapshotUrl) return;
    if (timer) return;
    const wait = Math.max(RESYNC_DELAY_MS, RESYNC_MIN_GAP_MS - (Date.now() - lastFetchAt));
    timer = setTimeout(() => { timer = null; fetchSnapshot(); }, wait);
  }

  // --- events --------------------------------------------------------------------------------------
  function emit(kind, event) {
    for (const fn of (listeners[kind] || []).concat(listeners["*"] || [])) {
      try { fn(event); } catch (err) { console.warn("cockpit listener failed", err); }
    }
  }

  function handle(event) {
    if (!event || event.kind === "hello") return;
    let outcome = false;
    // Events are numbered platform-wide: a number skipped is an event lost on the way (a full
    // channel layer drops without a word), so the page fetches a snapshot instead of trusting
    // its figures.
    const gap = typeof event.seq === "number" && cockpit.lastSeq !== null
      && event.seq > cockpit.lastSeq + 1;
    if (typeof event.seq === "number") cockpit.lastSeq = Math.max(cockpit.lastSeq || 0, event.seq);
    if (gap) cockpit.gaps += 1;
    if (page && page.apply) {
      try {
        outcome = page.apply(event);
      } catch (err) {
        console.warn("cockpit: could not apply a " + event.kind + " event", err);
        outcome = "resync";
      }
    }
    emit(event.kind, event);
    cockpit.applied += 1;
    cockpit.lastEventAt = Date.now();
    cockpit.recent.push({ kind: event.kind, sent_at: event.sent_at, at: cockpit.lastEventAt });
    if (cockpit.recent.length > 50) cockpit.recent.shift();
    if (outcome === "resync" || gap) resync();
    else if (outcome && fetching) dirty = true; // the snapshot in flight may predate this event
  }

  // --- socket --------------------------------------------------------------------------------------
  function setStatus(connected) {
    cockpit.connected = connected;
    const el = document.querySelector("[data-testid=live-status]");
    if (!el) return;
    el.textContent = connected ? "live" : "reconnecting";
    el.className = "live-status " + (connected ? "live" : "reconnecting");
  }

  function connect() {
    const path = document.body.dataset.wsPath || "/ws/live/";
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(scheme + "://" + location.host + path);
    socket.onopen = () => {
      attempts = 0;
      setStatus(true);
      fetchSnapshot();
    };
    socket.onmessage = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      handle(event);
    };
    socket.onclose = () => {
      setStatus(false);
      socket = null;
      const delay = Math.min(15000, 500 * 2 ** attempts) * (0.8 + Math.random() * 0.4);
      attempts += 1;
      setTimeout(connect, delay);
    };
    socket.onerror = () => { /* onclose follows and reconnects */ };
  }

  // --- buttons: [data-post] with [data-confirm] ---------------------------------------------------
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-post]");
    if (!button) return;
    e.preventDefault();
    const question = button.dataset.confirm;
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    try {
      const data = await post(button.dataset.post, {});
      flash((data && data.message) || "Done.", "ok");
    } catch (err) {
      flash(err.message, "error");
    } finally {
      button.disabled = false;
      resync();
    }
  });

  Object.assign(cockpit, {
    page(spec) { page = spec; if (!spec.snapshotUrl) spec.snapshotUrl = document.body.dataset.snapshotUrl; },
    on(kind, fn) { (listeners[kind] = listeners[kind] || []).push(fn); },
    resync,
    refresh: fetchSnapshot,
    /** Drop the socket (it reconnects with backoff and resynchronises): for tests and drills. */
    disconnect() { if (socket) socket.close(); },
    post,
    flash,
    fmt,
    setField,
    renderSections,
    paintBackgrounds,
  });

  function start() {
    paintBackgrounds(document);
    setStatus(false);
    connect();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
