"""Profile the webhook's accepted path in-process (cProfile); prints the top functions.

    python benchmarks/bench_webhook.py --skip sustained,burst   # prepares bench_webhook
    python benchmarks/profile_webhook.py [--requests 300] [--asgi]

Production settings on the database the load benchmark prepared (``bench_webhook``), every
request a new valid alert through Django's full handler (middleware included): the WSGI-style
test client, or with ``--asgi`` the ASGI application as daphne calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--asgi", action="store_true")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    import bench_webhook as bench

    os.environ.update(bench.environment(argparse.Namespace(worker=False)))
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    import django

    django.setup()
    from django.test import Client

    client = Client()

    def post(i: int) -> int:
        return client.post(
            bench.PATH, bench.alert(f"prof-{time.time_ns()}-{i}"), content_type="text/plain"
        ).status_code

    if args.asgi:
        from django.test import AsyncClient

        aclient = AsyncClient()

        async def apost(i: int) -> int:
            response = await aclient.post(
                bench.PATH, bench.alert(f"prof-{time.time_ns()}-{i}"), content_type="text/plain"
            )
            return response.status_code

        def post(i: int) -> int:
            return asyncio.run(apost(i))

    for i in range(20):
        assert post(i) == 202
    start, cpu = time.perf_counter(), time.process_time()
    codes = [post(i) for i in range(args.requests)]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"unprofiled: {args.requests} requests, {wall / args.requests * 1000:.2f} ms wall, "
        f"{cpu / args.requests * 1000:.2f} ms CPU each, {set(codes)}"
    )
    profile = cProfile.Profile()
    profile.enable()
    codes = [post(i) for i in range(args.requests)]
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(
        os.environ.get("PROFILE_SORT", "cumulative")
    ).print_stats(
        *([os.environ["PROFILE_FILTER"]] if os.environ.get("PROFILE_FILTER") else []), args.top
    )
    print(out.getvalue())


if __name__ == "__main__":
    main()
