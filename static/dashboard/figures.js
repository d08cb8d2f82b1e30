/* Live figures shared by the overview and the bot pages: a position event moves its row, the
 * bot's equity and the totals; a bot_state event changes the bot's row. Returns "resync" when
 * the page cannot compute the change itself (a new position, a closed one). */
(function () {
  "use strict";
  const C = window.cockpit;
  const causesEl = document.getElementById("cockpit-causes");
  const CAUSES = causesEl ? JSON.parse(causesEl.textContent) : {};

  function esc(value) {
    return window.CSS && CSS.escape ? CSS.escape(String(value)) : String(value).replace(/"/g, '\\"');
  }

  function positionRows() {
    return Array.from(document.querySelectorAll("[data-testid=position-row]"));
  }

  /** Equity of each bot row = its base (start + net PnL) + its positions' unrealised PnL. */
  function recount() {
    const rows = positionRows();
    const unrealized = {};
    for (const row of rows) {
      unrealized[row.dataset.bot] = (unrealized[row.dataset.bot] || 0) + Number(row.dataset.unrealized || 0);
    }
    let total = 0;
    for (const bot of document.querySelectorAll("[data-testid=bot-row]")) {
      const equity = Number(bot.dataset.baseEquity || 0) + (unrealized[bot.dataset.bot] || 0);
      total += equity;
      C.setField(bot, "equity", C.fmt.money(equity));
    }
    const totalEl = document.querySelector("[data-testid=equity-total]");
    if (totalEl) totalEl.textContent = C.fmt.money(total);
    const countEl = document.querySelector("[data-testid=open-positions-count]");
    if (countEl) countEl.textContent = String(rows.length);
    const body = document.querySelector('[data-section="positions"]');
    if (body && !rows.length && !body.querySelector("[data-testid=no-positions]")) {
      body.innerHTML = '<tr data-testid="no-positions"><td colspan="11">Flat: no open position.</td></tr>';
    }
  }

  function applyPosition(d) {
    const row = document.querySelector(
      '[data-testid=position-row][data-bot="' + esc(d.bot) + '"][data-symbol="' + esc(d.symbol) + '"]'
    );
    const qty = Number(d.quantity || 0);
    if (!row) {
      // A bot this page does not show (a replay's rehearsal copy) changes nothing here.
      const known = document.querySelector('[data-testid=bot-row][data-bot="' + esc(d.bot) + '"]');
      return known && qty !== 0 ? "resync" : false;
    }
    if (qty === 0) {
      row.remove();
      recount();
      return "resync";
    }
    const tick = row.dataset.tick;
    const step = row.dataset.step;
    const given = (value) => value !== undefined && value !== null && value !== "";
    const entry = given(d.entry_price) ? d.entry_price : row.dataset.entry;
    const mark = given(d.mark_price) ? d.mark_price : row.dataset.mark;
    let unrealized = d.unrealized_pnl;
    if (!given(unrealized)) {
      unrealized = mark ? String((Number(mark) - Number(entry)) * qty) : row.dataset.unrealized;
    }
    Object.assign(row.dataset, { quantity: d.quantity, entry: entry, mark: mark || "", unrealized: unrealized });
    if (d.side) C.setField(row, "side", d.side);
    C.setField(row, "quantity", C.fmt.qty(Math.abs(qty), step));
    C.setField(row, "entry", C.fmt.price(entry, tick));
    C.setField(row, "mark", C.fmt.price(mark, tick));
    C.setField(row, "unrealized", C.fmt.money(unrealized, true));
    C.setField(row, "notional", C.fmt.money(Math.abs(qty) * Number(mark || entry)));
    recount();
    return true;
  }

  function applyBotState(d) {
    const row = document.querySelector('[data-testid=bot-row][data-bot="' + esc(d.bot) + '"]');
    if (!row) return "resync";
    row.dataset.state = d.state;
    const state = row.querySelector('[data-field="state"]');
    if (state) { state.textContent = d.state; state.className = "pill state-" + d.state; }
    C.setField(row, "cause", d.cause ? CAUSES[d.cause] || d.cause : "");
    C.setField(row, "reason", d.reason || "");
    return true;
  }

  /** A line of the event feed, in words. */
  function describe(event) {
    const d = event.data || {};
    const who = [d.bot, d.symbol].filter(Boolean).join(" ");
    switch (event.kind) {
      case "fill": return who + ": " + d.side + " " + d.quantity + " @ " + d.price + " (" + d.purpose + ")";
      case "position": return who + ": " + (Number(d.quantity) ? d.side + " " + d.quantity + " @ " + d.entry_price : "flat");
      case "order": return (d.symbol || "") + " " + d.purpose + " " + d.type + " " + d.side + " " + d.quantity + ": " + d.status;
      case "trade_opened": return (d.symbol || "") + " trade #" + d.id + " opened " + d.side + " @ " + d.entry_price;
      case "trade_closed": return (d.symbol || "") + " trade #" + d.id + " closed @ " + d.exit_price + " (" + (d.exit_reason || "") + ")";
      case "bot_state": return d.bot + " is " + d.state + (d.reason ? ": " + d.reason : "");
      case "signal": return who + ": " + d.action + " signal " + d.outcome + (d.detail ? " (" + d.detail + ")" : "");
      case "ai_decision": return who + ": AI " + d.action + " " + d.confidence + " (" + d.outcome + ")";
      case "alert": return (d.bot ? d.bot + ": " : "") + (d.message || "");
      case "breaker": return d.bot + ": breaker " + (d.tier || "clear") + (d.reason ? " (" + d.reason + ")" : "");
      default: return who;
    }
  }

  const QUIET = new Set(["heartbeat", "candle"]);
  function feed(event) {
    const list = document.querySelector("[data-testid=event-feed]");
    if (!list || QUIET.has(event.kind)) return;
    const placeholder = list.querySelector(".muted");
    if (placeholder && list.children.length === 1) placeholder.remove();
    const item = document.createElement("li");
    item.className = "kind-" + event.kind;
    const time = (event.sent_at || new Date().toISOString()).slice(11, 19);
    item.textContent = time + "  " + event.kind + "  " + describe(event);
    list.prepend(item);
    while (list.children.length > 30) list.lastChild.remove();
  }

  window.cockpitFigures = { applyPosition, applyBotState, recount, feed, esc };
})();
