"""CLI wall time: `reminders add` and `reminders list` with 0, 10,000 and 100,000
reminders stored. Median and spread over several runs of the real executable.

Run by hand from the repository root:  .venv/bin/python bench/cli_bench.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import populate_idle


def timed(home: Path, args: list[str], runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env.update(REMINDERS_HOME=str(home), REMINDERS_GENERAL_TIMEZONE="UTC")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed package runs
    exe = [sys.executable, "-m", "reminders"]
    subprocess.run(exe + ["list"], env=env, capture_output=True, check=True)  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(exe + args, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def describe(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):.3f}s  min {min(samples):.3f}s  "
        f"max {max(samples):.3f}s  (n={len(samples)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            populate_idle(home, size)
            add = timed(
                home,
                ["add", "--at", "20m", "--message", "bench", "--to", "1"],
                args.runs,
            )
            listing = timed(home, ["list"], max(3, args.runs // 3))
            print(f"{size:>7,} reminders  add: {describe(add)}", flush=True)
            print(f"{size:>7,} reminders  list: {describe(listing)}", flush=True)


if __name__ == "__main__":
    main()
