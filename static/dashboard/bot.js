/* A bot's page: price charts with markers and stops, equity and drawdown, tables; re-rendered
 * from /api/cockpit/bots/<name>/ on every (re)connect and after the bot's events. */
(function () {
  "use strict";
  const C = window.cockpit;
  const F = window.cockpitFigures;
  const K = window.cockpitCharts;
  const head = document.querySelector("[data-page=bot]");
  const botName = head.dataset.bot;
  const botId = Number(head.dataset.botId);
  const initial = JSON.parse(document.getElementById("cockpit-charts").textContent);

  const prices = {};
  for (const spec of initial.charts) {
    const el = document.querySelector('[data-testid=price-chart][data-symbol="' + F.esc(spec.symbol) + '"]');
    if (el) prices[spec.symbol] = { chart: K.candles(el, spec), interval: spec.interval };
  }
  const equity = K.line(document.querySelector("[data-testid=equity-chart]"), { color: "#2962ff", area: true });
  const drawdown = K.line(document.querySelector("[data-testid=drawdown-chart]"), {
    color: "#ef5350", area: true, invert: true, percent: true,
  });
  const RESYNC = new Set([
    "fill", "trade_opened", "trade_closed", "order", "signal", "ai_decision", "breaker", "alert",
  ]);

  function charts(snap) {
    for (const spec of snap.charts || []) {
      if (prices[spec.symbol]) prices[spec.symbol].chart.set(spec);
    }
    equity.set(snap.equity_curve);
    drawdown.set(snap.drawdown_curve);
  }

  C.page({
    render(snap) {
      if (snap.html) C.renderSections(snap.html);
      charts(snap);
      F.recount();
    },
    apply(event) {
      const d = event.data || {};
      if (event.kind === "candle") {
        const target = prices[d.symbol];
        if (!target || d.interval !== target.interval) return false;
        target.chart.update({
          time: Math.floor(Number(d.open_time) / 1000),
          open: Number(d.open), high: Number(d.high), low: Number(d.low), close: Number(d.close),
        });
        return true;
      }
      if (event.kind === "heartbeat") return "resync"; // the replayed clock moves the candles too
      const mine = d.bot === botName || (d.bot_id !== undefined && Number(d.bot_id) === botId);
      if (!mine) return false;
      if (event.kind === "position") {
        F.applyPosition(d);
        return "resync"; // the stop line and markers move with it
      }
      if (event.kind === "bot_state") return F.applyBotState(d);
      return RESYNC.has(event.kind) ? "resync" : false;
    },
  });

  charts(initial);
})();
