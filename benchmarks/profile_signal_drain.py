"""CPU of one drain of webhook signals on the worker side, under cProfile; prints figures.

    python benchmarks/profile_signal_drain.py                 # 100 signals that place orders
    python benchmarks/profile_signal_drain.py --stale         # 100 refused as too old
    python benchmarks/profile_signal_drain.py --top 30        # more of the profile

A paper signal bot trading BTCUSDT (``benchmarks/bench_webhook.py``'s setup: its own database,
created and migrated here) gets ``--signals`` accepted signals, alternately buy and close so each
one places an order (``--stale``: each older than the bot's ``max_signal_age_s``); then one hold
of the bot's lease decides them all (``signals_drain``, as a worker does) under cProfile, timed
in CPU seconds (``time.process_time``: this process's; PostgreSQL's share is not in it). Printed:
CPU seconds per signal, the outcomes, and the functions with the most cumulative CPU time (the
whole profile is written to ``$TMPDIR/profile-signal-drain.prof``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_webhook  # noqa: E402 - the same database setup


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--signals", type=int, default=100)
    parser.add_argument("--stale", action="store_true", help="every signal too old to act on")
    parser.add_argument("--top", type=int, default=15, help="profile lines printed")
    parser.add_argument(
        "--plain", action="store_true", help="no cProfile: the CPU seconds without its overhead"
    )
    parser.add_argument("--db", default="bench_signal_drain")
    parser.add_argument("--redis-db", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replay-speed", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    bench_webhook.configure(args)
    env = bench_webhook.environment(args)
    bench_webhook.prepare(env)
    os.environ.update(env)

    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from apps.bots.lease import bot_lock
    from apps.bots.models import Bot
    from apps.trading.engine import signals
    from apps.trading.engine.signals import signals_drain
    from apps.trading.models import Signal

    bot = Bot.objects.select_related("strategy", "account").get(name=bench_webhook.BOT)
    age = 600 if args.stale else 0
    for i in range(args.signals):
        action = "buy" if i % 2 == 0 else "close"
        Signal.objects.create(
            bot=bot,
            source=Signal.Source.WEBHOOK,
            symbol="BTCUSDT",
            action=action,
            alert_id=f"prof-{i}",
            payload={
                "action": action,
                "symbol": "BTCUSDT",
                "order_type": "market",
                "quote_amount": "200",
            },
            outcome=Signal.Outcome.ACCEPTED,
            signal_time=timezone.now() - timedelta(seconds=age),
        )
    signals.DRAIN_MAX_S = 3600.0  # all of them in one drain, however loaded the machine is
    profile = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
    cpu, wall = time.process_time(), time.perf_counter()
    wall_clock = timezone.now()  # every signal's age judged at the start: a loaded machine
    with bot_lock(bot.pk) as lease:  # makes the drain slow, never the signals stale
        if not args.plain:
            profile.enable()
        decided = signals_drain(bot=bot, lease=lease, wall=wall_clock)
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    outcomes: dict[str, int] = {}
    for outcome in Signal.objects.filter(alert_id__startswith="prof-").values_list(
        "outcome", flat=True
    ):
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    per = cpu / max(decided, 1) * 1000
    print(
        f"{decided} signal(s) decided in one drain: {cpu:.2f} CPU s ({per:.1f} ms per signal, "
        f"this process), {wall:.2f} s wall; outcomes {outcomes}"
    )
    if not args.plain:
        out = Path(tempfile.gettempdir()) / "profile-signal-drain.prof"
        profile.dump_stats(out)
        print(f"profile: {out}")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
