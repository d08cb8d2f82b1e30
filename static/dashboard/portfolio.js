/* The portfolio: exposure, correlation heat map and margin, re-rendered from
 * /api/cockpit/portfolio/ on every (re)connect and after position-changing events. */
(function () {
  "use strict";
  const C = window.cockpit;
  const RESYNC = new Set(["position", "fill", "trade_opened", "trade_closed", "heartbeat"]);
  C.page({
    render(snap) {
      if (snap.html) C.renderSections(snap.html);
    },
    apply(event) {
      return RESYNC.has(event.kind) ? "resync" : false;
    },
  });
})();
