"""Every metric the platform records as it works: one definition each, in one place.

These are process metrics (counters, histograms and a few gauges kept by the process that saw
the event). With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus-client keeps them in files in that
directory, so that one ``/metrics`` sums every process of the host. The gauges that describe
state (equity, positions, breaker tier, ...) are read from the database at scrape time by
``apps.metrics.collectors`` instead.

Labels are bounded: bot names, symbols, enum values, route names, task names, Binance error
codes; never an order id or free text (``apps.metrics.domain.labels`` cuts what is not an
identifier down to ``other``). This module imports nothing of the platform, so the exchange
adapter can record here without depending on the apps above it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "tradingplatform"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Slippage: achieved vs expected price, positive = worse for us (negative: price improvement).
SLIPPAGE_BUCKETS = (-50.0, -20.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
AI_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# --- orders and fills (apps.metrics.receivers: Order, OrderEvent, Fill rows) -------------------
ORDERS = Counter(
    f"{PREFIX}_orders",
    "Orders reaching a status (PENDING_NEW when recorded, then each transition).",
    ["bot", "symbol", "side", "type", "status"],
)
ORDER_REJECTS = Counter(
    f"{PREFIX}_order_rejects",
    "Orders the venue rejected, by Binance error code (none: no code given).",
    ["bot", "symbol", "code"],
)
ORDER_ROUNDTRIP = Histogram(
    f"{PREFIX}_order_roundtrip_seconds",
    "Wall time from recording an order to the venue's first answer (ack, fill or reject).",
    ["bot"],
    buckets=LATENCY_BUCKETS,
)
ORDER_SLIPPAGE = Histogram(
    f"{PREFIX}_order_slippage_bps",
    "Slippage of filled orders that had an expected price, basis points (positive: worse).",
    ["bot", "symbol", "side"],
    buckets=SLIPPAGE_BUCKETS,
)
FILLS = Counter(f"{PREFIX}_fills", "Fills booked.", ["bot", "symbol", "side", "liquidity"])
FILL_NOTIONAL = Counter(
    f"{PREFIX}_fill_notional_usdt", "Traded notional of the fills booked, USDT.", ["bot", "symbol"]
)

# --- trading cycles, signals, bot states -------------------------------------------------------
CYCLES = Counter(f"{PREFIX}_cycles", "Trading cycles finished, by outcome.", ["bot", "outcome"])
CYCLE_DURATION = Histogram(
    f"{PREFIX}_cycle_duration_seconds",
    "Wall time of a trading cycle attempt, from its start to its end (same process).",
    ["bot"],
    buckets=TASK_BUCKETS,
)
SIGNALS = Counter(
    f"{PREFIX}_signals",
    "Signals (strategy, webhook, manual) reaching an outcome.",
    ["bot", "source", "outcome"],
)
RISK_BLOCKS = Counter(
    f"{PREFIX}_risk_blocks",
    "Signals blocked by a risk rule (source=strategy: cycles blocked), by rule.",
    ["bot", "source", "rule"],
)
BOT_HALTS = Counter(f"{PREFIX}_bot_halts", "Bots halted, by cause.", ["bot", "cause"])
KILL_SWITCH = Counter(
    f"{PREFIX}_kill_switch_activations", "Kill switch activations (a bot halted by it).", ["bot"]
)
RECONCILIATION_MISMATCHES = Counter(
    f"{PREFIX}_reconciliation_mismatches",
    "Reconciliations that found the database and the venue disagreeing (the bot is halted).",
    ["bot"],
)

# --- AI ------------------------------------------------------------------------------------------
AI_DECISIONS = Counter(
    f"{PREFIX}_ai_decisions", "AI decisions recorded, by outcome.", ["bot", "role", "outcome"]
)
AI_LATENCY = Histogram(
    f"{PREFIX}_ai_inference_seconds",
    "AI features and inference time per decision.",
    ["bot", "role"],
    buckets=AI_BUCKETS,
)
AI_CONFIDENCE = Histogram(
    f"{PREFIX}_ai_confidence_ratio",
    "Confidence of the AI's decisions, 0-1.",
    ["bot", "role"],
    buckets=CONFIDENCE_BUCKETS,
)

# --- HTTP (web, webhook) ------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests answered, by resolved route name (unmatched: no route) and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "HTTP request latency, by resolved route name.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

# --- Celery -----------------------------------------------------------------------------------
TASKS = Counter(f"{PREFIX}_celery_tasks", "Celery tasks run, by final state.", ["task", "state"])
TASK_FAILURES = Counter(
    f"{PREFIX}_celery_task_failures",
    "Celery tasks that raised, by exception class.",
    ["task", "exception"],
)
TASK_DURATION = Histogram(
    f"{PREFIX}_celery_task_duration_seconds",
    "Celery task run time.",
    ["task", "state"],
    buckets=TASK_BUCKETS,
)

# --- Binance (apps.exchange.binance.transport) ------------------------------------------------
EXCHANGE_REQUESTS = Counter(
    f"{PREFIX}_exchange_requests",
    "Requests sent to Binance, by client method and outcome (ok or the translated error).",
    ["method", "outcome"],
)
EXCHANGE_DURATION = Histogram(
    f"{PREFIX}_exchange_request_duration_seconds",
    "Binance request round trip, by client method (order placement included).",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
EXCHANGE_RATE_LIMITED = Counter(
    f"{PREFIX}_exchange_rate_limited", "HTTP 429 answers from Binance (every caller pauses)."
)
EXCHANGE_BANS = Counter(
    f"{PREFIX}_exchange_ip_bans", "HTTP 418 answers from Binance: the IP is banned."
)
EXCHANGE_BANNED_UNTIL = Gauge(
    f"{PREFIX}_exchange_ip_banned_until_timestamp_seconds",
    "End of the last 418 ban, Unix time (0: never banned).",
    multiprocess_mode="max",
)
EXCHANGE_WEIGHT_USED = Gauge(
    f"{PREFIX}_exchange_weight_used",
    "Request weight used in the current minute, as the last Binance answer reported it.",
    multiprocess_mode="mostrecent",
)
EXCHANGE_WEIGHT_LIMIT = Gauge(
    f"{PREFIX}_exchange_weight_limit",
    "Binance's request weight limit per minute.",
    multiprocess_mode="max",
)
EXCHANGE_ORDERS_USED = Gauge(
    f"{PREFIX}_exchange_order_count_used",
    "Orders counted by Binance in the current window (10s or 1m), from the last answer.",
    ["window"],
    multiprocess_mode="mostrecent",
)
EXCHANGE_ORDERS_LIMIT = Gauge(
    f"{PREFIX}_exchange_order_count_limit",
    "Binance's order limit per window (10s or 1m).",
    ["window"],
    multiprocess_mode="max",
)
