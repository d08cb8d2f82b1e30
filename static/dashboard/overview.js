/* The overview: re-rendered from /api/cockpit/snapshot/ on every (re)connect, figures moved by
 * events in between (see live.js and figures.js). */
(function () {
  "use strict";
  const C = window.cockpit;
  const F = window.cockpitFigures;
  const equity = window.cockpitCharts.line(document.querySelector("[data-testid=equity-chart]"), {
    color: "#2962ff", area: true,
  });
  // Events whose figures come from the server (PnL from trades, orders, breaker, health...).
  const RESYNC = new Set([
    "fill", "trade_opened", "trade_closed", "order", "signal", "ai_decision", "breaker",
    "alert", "heartbeat",
  ]);

  function known(bot) {
    return !bot || !!document.querySelector('[data-testid=bot-row][data-bot="' + F.esc(bot) + '"]');
  }

  C.page({
    render(snap) {
      if (snap.html) C.renderSections(snap.html);
      equity.set(snap.equity_curve);
      F.recount();
    },
    apply(event) {
      const d = event.data || {};
      F.feed(event);
      if (event.kind === "position") return F.applyPosition(d);
      if (event.kind === "bot_state") return known(d.bot) ? F.applyBotState(d) : false;
      if (RESYNC.has(event.kind)) return known(d.bot) ? "resync" : false;
      return false;
    },
  });

  const initial = JSON.parse(document.getElementById("cockpit-charts").textContent);
  equity.set(initial.equity_curve);
})();
