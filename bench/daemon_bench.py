"""Daemon figures: start to ready, firing lateness, idle memory and CPU, change checks.

Run by hand from the repository root:  .venv/bin/python bench/daemon_bench.py [--sizes 10000]
It talks only to a fake Bot API server on 127.0.0.1 and prints a table.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from common import (
    Daemon,
    FakeBotApi,
    measure_lateness,
    populate_idle,
    summary,
    write_config,
)


def lateness_run(size: int, due: int, idle_s: float) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api)
        populate_idle(home, size)
        daemon = Daemon(home)
        try:
            ready_s = daemon.wait_ready()
            late = measure_lateness(home, api, due)
            time.sleep(2)
            rss = daemon.rss_mb()
            cpu0 = daemon.cpu_s()
            time.sleep(idle_s)
            cpu_per_min = (daemon.cpu_s() - cpu0) * 60 / idle_s
        finally:
            daemon.stop()
        return {
            "reminders": f"{size:,}",
            "start→ready s": f"{ready_s:.2f}",
            "lateness ms": summary(late),
            "delivered": f"{len(late)}/{due}",
            "idle RSS MB": f"{rss:.1f}",
            "idle CPU s/min": f"{cpu_per_min:.3f}",
        }


def change_check_cost(size: int, repeats: int = 200) -> float:
    """Median ms of one change check (data_version + rows above a revision)."""
    from reminders.db import sqlite_url
    from reminders.migrate import open_store

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        populate_idle(home, size)
        store = open_store(sqlite_url(home / "reminders.db"))
        with store.read() as conn:
            revision = conn.last_revision()
        probe = sqlite3.connect(home / "reminders.db")
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            probe.execute("PRAGMA data_version").fetchone()
            with store.read() as conn:
                conn.changes_since(revision - 1)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        return samples[len(samples) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", default="10000", help="comma-separated reminder counts"
    )
    parser.add_argument(
        "--due", type=int, default=100, help="one-shots measured per run"
    )
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--check-sizes", default="1000,100000")
    args = parser.parse_args()
    for size in [int(s) for s in args.sizes.split(",")]:
        row = lateness_run(size, args.due, args.idle_seconds)
        print("  ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
    for size in [int(s) for s in args.check_sizes.split(",")]:
        print(
            f"change check with {size:,} reminders: {change_check_cost(size):.3f} ms (median)"
        )


if __name__ == "__main__":
    main()
