"""Change pick-up: from a finished `reminders add` of a reminder due at once to the
fake server receiving it, with 1,000 and with 100,000 reminders stored.

Run by hand from the repository root:  .venv/bin/python bench/pickup_bench.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    Daemon,
    FakeBotApi,
    arrival_ms,
    populate_idle,
    summary,
    write_config,
)


def pickup(size: int, samples: int) -> str:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api)
        populate_idle(home, size)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
        env["REMINDERS_HOME"] = str(home)
        daemon = Daemon(home)
        latencies = []
        try:
            daemon.wait_ready()
            for n in range(samples):
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "reminders",
                        "add",
                        "--at",
                        str(int(time.time() * 1000)),
                        "--message",
                        f"pickup {n}",
                        "--to",
                        str(700_000 + n),
                    ],
                    env=env,
                    capture_output=True,
                    check=True,
                )
                written = time.time()
                latency = arrival_ms(api, f"pickup {n}", written)
                if latency is not None:
                    latencies.append(latency)
                time.sleep(0.37)  # land at different points of the poll cycle
        finally:
            daemon.stop()
    return f"{size:>7,} reminders: CLI write to delivery ms {summary(latencies)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    for size in [int(s) for s in args.sizes.split(",")]:
        print(pickup(size, args.samples), flush=True)


if __name__ == "__main__":
    main()
