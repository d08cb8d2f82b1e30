/* The cockpit's research pages: the backtest form's strategy defaults, live progress of the
 * listed runs (polls a small JSON endpoint every second while something runs), and the charts of
 * a backtest, a comparison and an optimisation (lightweight-charts, vendored; v4 and v5 APIs). */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var COLOURS = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#5d4037"];
  var TERMINAL = { done: 1, failed: 1, candidate: 1, active: 1, retired: 1 };

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  // --- charts --------------------------------------------------------------------------------
  function lib() { return window.LightweightCharts || null; }

  function makeChart(el, extra) {
    var L = lib();
    if (!el) { return null; }
    if (!L) { el.textContent = "The chart library did not load."; return null; }
    var options = {
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#333" },
      grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false }
    };
    Object.keys(extra || {}).forEach(function (k) { options[k] = extra[k]; });
    var chart = L.createChart(el, options);
    el.chart = chart;
    return chart;
  }

  function addSeries(chart, type, options) {
    var L = lib();
    if (typeof chart.addSeries === "function" && L[type + "Series"]) {
      return chart.addSeries(L[type + "Series"], options || {}); // v5
    }
    return chart["add" + type + "Series"](options || {}); // v4
  }

  function setMarkers(series, markers, holder) {
    var L = lib();
    if (typeof series.setMarkers === "function") { series.setMarkers(markers); return; } // v4
    if (holder && holder.markers) { holder.markers.setMarkers(markers); return; }
    if (L.createSeriesMarkers) { // v5
      var plugin = L.createSeriesMarkers(series, markers);
      if (holder) { holder.markers = plugin; }
    }
  }

  function points(pairs) {
    return (pairs || []).map(function (p) { return { time: p[0], value: p[1] }; });
  }

  function legend(el, items) {
    if (!el) { return; }
    el.innerHTML = "";
    items.forEach(function (item) {
      var span = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = item.colour;
      span.appendChild(swatch);
      span.appendChild(document.createTextNode(item.label));
      el.appendChild(span);
    });
  }

  // --- live progress of listed runs ------------------------------------------------------------
  function applyProgress(el, p) {
    if (!el || !p) { return; }
    el.textContent = p.text;
    el.setAttribute("data-status", p.status);
    el.setAttribute("data-percent", p.percent === null ? "" : String(p.percent));
    var bar = el.parentNode ? $("progress[data-field=progress-bar]", el.parentNode) : null;
    if (bar) {
      if (p.percent === null) { bar.removeAttribute("value"); } else { bar.value = p.percent; }
    }
  }

  function setField(row, field, text) {
    var cell = $("[data-field=" + field + "]", row);
    if (cell && text !== undefined && cell.textContent !== text) { cell.textContent = text; }
  }

  function unfinished(selector) {
    return $$(selector).filter(function (row) { return !TERMINAL[row.getAttribute("data-status")]; });
  }

  function pollProgress(url, onChange) {
    var timer = null;
    function ids(rows, attr) { return rows.map(function (r) { return r.getAttribute(attr); }).join(","); }
    function tick() {
      var bt = unfinished("[data-testid=backtest-run]");
      var opt = unfinished("[data-testid=optimization-run]");
      var models = unfinished("[data-testid=training-run]");
      if (!bt.length && !opt.length && !models.length) { timer = null; return; }
      var query = "?backtests=" + ids(bt, "data-run") + "&optimizations=" + ids(opt, "data-run") +
        "&models=" + ids(models, "data-model");
      fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data) {
            bt.forEach(function (row) {
              var r = data.backtests[row.getAttribute("data-run")];
              if (!r) { return; }
              var before = row.getAttribute("data-status");
              applyProgress($("[data-testid=backtest-progress]", row), r.progress);
              row.setAttribute("data-status", r.progress.status);
              setField(row, "trades", r.trades);
              setField(row, "pnl", r.pnl);
              setField(row, "return", r["return"]);
              if (onChange && before !== r.progress.status) { onChange("backtest", row, r); }
            });
            opt.forEach(function (row) {
              var r = data.optimizations[row.getAttribute("data-run")];
              if (!r) { return; }
              applyProgress($("[data-testid=optimization-progress]", row), r.progress);
              row.setAttribute("data-status", r.progress.status);
              setField(row, "in-sample", r.in_sample);
              setField(row, "out-of-sample", r.out_of_sample);
            });
            models.forEach(function (row) {
              var r = data.models[row.getAttribute("data-model")];
              if (!r) { return; }
              applyProgress($("[data-testid=training-progress]", row), r.progress);
              row.setAttribute("data-status", r.progress.status);
              setField(row, "oos-sharpe", r.oos_sharpe);
            });
          }
        })
        .catch(function () { /* the next tick retries */ })
        .then(function () { timer = window.setTimeout(tick, POLL_MS); });
    }
    tick();
    return function () { if (timer) { window.clearTimeout(timer); } };
  }

  // --- the research index: form + lists ----------------------------------------------------------
  function initIndex(root) {
    var defaults = readJSON("strategy-defaults") || {};
    var catalogue = readJSON("data-catalogue") || {};
    var form = $("[data-testid=backtest-form]");
    if (form) {
      var strategy = form.elements.strategy;
      var params = form.elements.params;
      var help = $("[data-field=params-help]", form);
      var lastDefaults = null;
      var isDefaultsOfAny = function (text) {
        return Object.keys(defaults).some(function (k) {
          return JSON.stringify(defaults[k].defaults) === text;
        });
      };
      var showHelp = function () {
        var d = defaults[strategy.value];
        if (!d || !help) { return; }
        var parts = Object.keys(d.defaults).map(function (k) {
          return k + " (" + d.defaults[k] + (d.help[k] ? ": " + d.help[k] : "") + ")";
        });
        help.textContent = d.description ? d.description + " — " + parts.join(", ") : parts.join(", ");
      };
      if (strategy && params) {
        lastDefaults = defaults[strategy.value] ? JSON.stringify(defaults[strategy.value].defaults) : null;
        strategy.addEventListener("change", function () {
          var d = defaults[strategy.value];
          var current = params.value.trim();
          if (d && (!current || current === lastDefaults || isDefaultsOfAny(current))) {
            params.value = JSON.stringify(d.defaults);
          }
          lastDefaults = d ? JSON.stringify(d.defaults) : null;
          showHelp();
        });
        showHelp();
      }
      // Intervals offered follow the market and symbols picked (only files that exist).
      var market = form.elements.market, symbols = form.elements.symbols, interval = form.elements.interval;
      var markIntervals = function () {
        if (!market || !symbols || !interval) { return; }
        var chosen = $$("option", symbols).filter(function (o) { return o.selected; }).map(function (o) { return o.value; });
        var have = catalogue[market.value] || {};
        $$("option", interval).forEach(function (o) {
          var ok = chosen.every(function (s) { return (have[s] || []).indexOf(o.value) >= 0; });
          o.disabled = chosen.length > 0 && !ok && !o.selected;
        });
        $$("option", symbols).forEach(function (o) { o.disabled = !have[o.value] && !o.selected; });
      };
      if (market) { market.addEventListener("change", markIntervals); }
      if (symbols) { symbols.addEventListener("change", markIntervals); }
      markIntervals();
      form.addEventListener("submit", function () {
        var button = $("button[type=submit]", form);
        if (button) { button.disabled = true; button.textContent = "Starting…"; }
      });
    }
    pollProgress(root.getAttribute("data-progress-url"));
  }

  // --- one backtest ----------------------------------------------------------------------------
  function initBacktest(root) {
    var status = root.getAttribute("data-status");
    if (!TERMINAL[status]) {
      pollProgress(root.getAttribute("data-progress-url"), function (kind, row, r) {
        if (TERMINAL[r.progress.status]) { window.location.reload(); }
      });
      return;
    }
    var data = readJSON("backtest-data");
    if (!data || !data.symbols || !data.symbols.length) { return; }
    var many = data.symbols.length > 1;

    var equity = makeChart($("[data-testid=equity-chart]"), {
      localization: { priceFormatter: function (v) { return v.toLocaleString(undefined, { maximumFractionDigits: 2 }); } }
    });
    var drawdown = makeChart($("[data-testid=drawdown-chart]"), {
      localization: { priceFormatter: function (v) { return v.toFixed(2) + " %"; } }
    });
    var items = [];
    data.symbols.forEach(function (s, i) {
      var colour = COLOURS[i % COLOURS.length];
      items.push({ colour: colour, label: s.key + " (" + s.points + " points)" });
      if (equity) {
        addSeries(equity, "Line", { color: colour, lineWidth: 2, title: many ? s.symbol : "" }).setData(points(s.equity));
      }
      if (drawdown) {
        var options = many
          ? { color: colour, lineWidth: 1 }
          : { lineColor: "#c62828", topColor: "rgba(198,40,40,0.05)", bottomColor: "rgba(198,40,40,0.35)", lineWidth: 1 };
        addSeries(drawdown, many ? "Line" : "Area", options).setData(points(s.drawdown));
      }
    });
    legend($("[data-field=equity-legend]"), items);
    if (equity) { equity.timeScale().fitContent(); }
    if (drawdown) { drawdown.timeScale().fitContent(); }

    var priceEl = $("[data-testid=price-chart]");
    var price = makeChart(priceEl);
    if (!price) { return; }
    var holder = { series: null, markers: null };
    function drawSymbol(index) {
      var s = data.symbols[index];
      if (holder.series) { price.removeSeries(holder.series); holder.markers = null; }
      holder.series = addSeries(price, "Candlestick", {
        upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
        wickUpColor: "#26a69a", wickDownColor: "#ef5350", priceFormat: s.price_format
      });
      holder.series.setData(s.candles.map(function (c) {
        return { time: c[0], open: c[1], high: c[2], low: c[3], close: c[4] };
      }));
      setMarkers(holder.series, s.markers, holder);
      priceEl.setAttribute("data-symbol", s.symbol);
      var note = $("[data-field=price-note]");
      if (note && s.candles_merged > 1) {
        note.textContent = note.textContent.replace(/ \(candles merged.*$/, "") +
          " (candles merged " + s.candles_merged + " at a time to fit the chart)";
      }
      price.timeScale().fitContent();
    }
    drawSymbol(0);
    var picker = $("[data-testid=price-symbol]");
    if (picker) { picker.addEventListener("change", function () { drawSymbol(Number(picker.value)); }); }
  }

  // --- two backtests ---------------------------------------------------------------------------
  function initCompare() {
    var data = readJSON("compare-data");
    if (!data || !data.curves) { return; }
    var chart = makeChart($("[data-testid=equity-chart]"), {
      localization: { priceFormatter: function (v) { return v.toLocaleString(undefined, { maximumFractionDigits: 2 }); } }
    });
    var items = [];
    data.curves.forEach(function (c, i) {
      var colour = COLOURS[i % COLOURS.length];
      items.push({ colour: colour, label: c.name });
      if (chart) { addSeries(chart, "Line", { color: colour, lineWidth: 2 }).setData(points(c.equity)); }
    });
    legend($("[data-field=equity-legend]"), items);
    if (chart) { chart.timeScale().fitContent(); }
  }

  // --- one optimisation ------------------------------------------------------------------------
  function initOptimization(root) {
    var data = readJSON("optimization-data");
    var chart = makeChart($("[data-testid=window-chart]"));
    var inSample = null, outOfSample = null;
    if (chart) {
      inSample = addSeries(chart, "Line", { color: "#1565c0", lineWidth: 2, pointMarkersVisible: true, title: "in-sample" });
      outOfSample = addSeries(chart, "Line", { color: "#ef6c00", lineWidth: 2, pointMarkersVisible: true, title: "out-of-sample" });
    }
    function series(windows, key) {
      return windows.filter(function (w) { return w[key] !== null && w[key] !== undefined; })
        .map(function (w) { return { time: w.time, value: w[key] }; });
    }
    function render(d) {
      if (!d) { return; }
      if (inSample) {
        inSample.setData(series(d.windows, "in_sample"));
        outOfSample.setData(series(d.windows, "out_of_sample"));
        chart.timeScale().fitContent();
      }
      var head = $("[data-testid=optimization-run]");
      applyProgress($("[data-testid=optimization-progress]", head), d.progress);
      if (head) { head.setAttribute("data-status", d.progress.status); }
      setField(root, "mean-in-sample", d.mean_in_sample);
      setField(root, "mean-out-of-sample", d.mean_out_of_sample);
      var body = $("[data-testid=windows] tbody");
      if (body && d.windows.length) {
        d.windows.forEach(function (w) {
          var row = $("tr[data-window='" + w.window + "']", body);
          if (!row) {
            var empty = $("tr:not([data-window])", body);
            if (empty) { empty.parentNode.removeChild(empty); }
            row = document.createElement("tr");
            row.setAttribute("data-testid", "window-row");
            row.setAttribute("data-window", String(w.window));
            ["window", "train", "test", "complete", "in-sample", "out-of-sample", "params"].forEach(function (f) {
              var td = document.createElement("td");
              if (f !== "window") { td.setAttribute("data-field", f); } else { td.textContent = String(w.window); }
              if (["complete", "in-sample", "out-of-sample"].indexOf(f) >= 0) { td.className = "num"; }
              row.appendChild(td);
            });
            body.appendChild(row);
          }
          setField(row, "train", w.train);
          setField(row, "test", w.test);
          setField(row, "complete", String(w.complete));
          setField(row, "in-sample", w.in_sample_text);
          setField(row, "out-of-sample", w.out_of_sample_text);
          setField(row, "params", w.params);
        });
      }
    }
    render(data);
    var url = root.getAttribute("data-data-url");
    function tick() {
      var head = $("[data-testid=optimization-run]");
      if (head && TERMINAL[head.getAttribute("data-status")]) { return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(render)
        .catch(function () { /* the next tick retries */ })
        .then(function () { window.setTimeout(tick, POLL_MS); });
    }
    if (data && !TERMINAL[data.progress.status]) { window.setTimeout(tick, POLL_MS); }
  }

  function init() {
    var root = $("[data-page^=research-]");
    if (!root) { return; }
    var page = root.getAttribute("data-page");
    if (page === "research-index") { initIndex(root); }
    else if (page === "research-backtest") { initBacktest(root); }
    else if (page === "research-compare") { initCompare(root); }
    else if (page === "research-optimization") { initOptimization(root); }
  }

  if (document.readyState === "complete") { init(); }
  else { window.addEventListener("load", init); }
})();
