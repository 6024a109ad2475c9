"""Crash recovery with Telegram down: 1,000 runs left `sending`, the Bot API
unreachable. Goal: the daemon is READY within 2 s, and every run is closed
(failed, with the reason) within the delivery deadline.

Run by hand from the repository root:  .venv/bin/python bench/recovery_bench.py
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import tempfile
import time
from pathlib import Path

from common import Daemon

from tests.fake_bot_api import TOKEN
from tests.test_poison import stuck_runs


def sending(home: Path) -> int:
    with sqlite3.connect(home / "reminders.db") as conn:
        row = conn.execute("SELECT count(*) FROM runs WHERE status = 'sending'")
        return int(row.fetchone()[0])


def recovery(count: int, deadline_s: int) -> str:
    with socket.socket() as probe:  # a port nobody listens on: Telegram is down
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "config.toml").write_text(
            f'[general]\ntimezone = "UTC"\n[telegram]\nbot_token = "{TOKEN}"\n'
            f'api_base_url = "{down}"\n[delivery]\ndeadline = "{deadline_s}s"\n'
        )
        stuck_runs(home, count).close()
        daemon = Daemon(home)
        try:
            ready_s = daemon.wait_ready()
            left_at_ready = sending(home)
            limit = time.monotonic() + deadline_s * 3 + 60
            while sending(home) and time.monotonic() < limit:
                time.sleep(0.1)
            closed_s = time.monotonic() - daemon.started
            left = sending(home)
            alive = daemon.proc.poll() is None
        finally:
            daemon.stop()
    return (
        f"{count} runs left sending, Telegram down, delivery.deadline {deadline_s}s: "
        f"READY after {ready_s:.2f}s ({left_at_ready} still sending then); all closed "
        f"{closed_s:.1f}s after start ({left} left); daemon "
        f"{'still running' if alive else 'EXITED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--deadline", type=int, default=60)
    args = parser.parse_args()
    print(recovery(args.count, args.deadline), flush=True)


if __name__ == "__main__":
    main()
