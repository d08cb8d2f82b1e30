/* Chart helpers over the vendored TradingView lightweight-charts (window.LightweightCharts):
 * a line/area chart (equity, drawdown) and a candlestick chart with markers, a stop line and
 * the stop's trailing path. Times are UTC seconds. */
(function () {
  "use strict";
  const LWC = window.LightweightCharts;
  const SHOWN = 150; // candles in view at first

  function options(extra) {
    return Object.assign(
      {
        autoSize: true,
        layout: { background: { color: "#ffffff" }, textColor: "#374151", fontSize: 11 },
        grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
        rightPriceScale: { borderVisible: false },
        timeScale: { borderVisible: false, timeVisible: true, secondsVisible: false },
        crosshair: { mode: LWC.CrosshairMode.Normal },
      },
      extra || {}
    );
  }

  function fitOnce(chart, state) {
    if (!state.fitted) { chart.timeScale().fitContent(); state.fitted = true; }
  }

  /** A line (or area) chart; set(points) replaces its data. */
  function line(el, opts) {
    opts = opts || {};
    const chart = LWC.createChart(el, options());
    const kind = opts.area ? LWC.AreaSeries : LWC.LineSeries;
    const style = opts.area
      ? { lineColor: opts.color, topColor: opts.top || opts.color + "55", bottomColor: opts.bottom || opts.color + "05", lineWidth: 2 }
      : { color: opts.color, lineWidth: 2 };
    if (opts.invert) Object.assign(style, { invertFilledArea: true });
    const series = chart.addSeries(kind, Object.assign(style, {
      priceFormat: opts.percent
        ? { type: "custom", formatter: (v) => v.toFixed(2) + " %", minMove: 0.01 }
        : { type: "price", precision: 2, minMove: 0.01 },
    }));
    const state = { fitted: false };
    return {
      chart,
      series,
      set(points) {
        series.setData(points || []);
        fitOnce(chart, state);
      },
    };
  }

  function clean(markers) {
    return (markers || []).map((m) => ({
      time: m.time, position: m.position, shape: m.shape, color: m.color, text: m.text,
    }));
  }

  /** A candlestick chart with trade markers, the stop line and the stop's path. */
  function candles(el, opts) {
    opts = opts || {};
    const chart = LWC.createChart(el, options());
    const tick = Number(opts.tick) || 0.01;
    const precision = Math.max(0, opts.precision || 2);
    const series = chart.addSeries(LWC.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
      wickUpColor: "#26a69a", wickDownColor: "#ef5350",
      priceFormat: { type: "price", precision: precision, minMove: tick },
    });
    const markers = LWC.createSeriesMarkers(series, []);
    const stopPath = chart.addSeries(LWC.LineSeries, {
      color: "#ef5350", lineWidth: 1, lineStyle: LWC.LineStyle.Dashed,
      lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false,
      priceFormat: { type: "price", precision: precision, minMove: tick },
    });
    let stopLine = null;
    const state = { fitted: false };
    return {
      chart,
      series,
      set(data) {
        series.setData(data.candles || []);
        markers.setMarkers(clean(data.markers));
        stopPath.setData(data.stop_path || []);
        if (stopLine) { series.removePriceLine(stopLine); stopLine = null; }
        if (data.stop !== null && data.stop !== undefined) {
          stopLine = series.createPriceLine({
            price: data.stop, color: "#ef5350", lineWidth: 1,
            lineStyle: LWC.LineStyle.Dashed, axisLabelVisible: true, title: "stop",
          });
        }
        const count = (data.candles || []).length;
        if (count && !state.fitted) {
          // The latest ~150 candles, where the trades are; scroll or zoom out for the rest.
          if (count > SHOWN) chart.timeScale().setVisibleLogicalRange({ from: count - SHOWN, to: count + 3 });
          else chart.timeScale().fitContent();
          state.fitted = true;
        }
      },
      /** A new or updated candle (from a candle event). */
      update(candle) {
        try { series.update(candle); } catch (err) { return false; } // older than the last bar
        return true;
      },
    };
  }

  window.cockpitCharts = { line, candles };
})();
