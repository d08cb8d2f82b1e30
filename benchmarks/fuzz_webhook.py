"""The fuzz suite (tests/fuzz/) with many more examples than ``make test`` gives it.

    python benchmarks/fuzz_webhook.py [--examples 1000] [--random] [-k webhook]

Runs pytest on tests/fuzz with ``FUZZ_EXAMPLES`` (hypothesis examples per test; the suite's
default is 60) and, with ``--random``, a fresh random seed instead of the derandomized one the
suite uses, then prints the examples asked for, the tests run and the time taken. A failure
prints hypothesis's smallest failing request. Needs PostgreSQL like the test suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per test")
    parser.add_argument("--random", action="store_true", help="a fresh random seed")
    parser.add_argument("-k", default="", help="pytest -k expression (e.g. webhook)")
    args = parser.parse_args()
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_RANDOM": "1" * args.random}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz"]
    command += ["--timeout=0"]  # a big run is allowed to be long
    if args.k:
        command += ["-k", args.k]
    print(f"fuzzing with {args.examples} examples per test: {' '.join(command[2:])}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    summary = [line for line in result.stdout.splitlines() if " in " in line and "passed" in line]
    if result.returncode != 0:
        print(result.stdout[-8000:], result.stderr[-2000:], sep="\n")
    print(f"examples per test: {args.examples}")
    print(f"result: {summary[-1] if summary else 'see above'}")
    print(f"wall time: {took:.1f} s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
