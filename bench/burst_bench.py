"""Bursts: many reminders due in the same second, against a fake server that
enforces Telegram's limits (30/s overall, 1/s per private chat) with 429s.

Run by hand from the repository root:  .venv/bin/python bench/burst_bench.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import Daemon, FakeBotApi, add_one_shots, now_ms, write_config


def burst(count: int, chats: int) -> str:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi(enforce_limits=True) as api:
        home = Path(tmp)
        write_config(home, api)
        daemon = Daemon(home)
        try:
            daemon.wait_ready()
            due = now_ms() + 4000
            add_one_shots(home, [due] * count, chat_base=900_000, chats=chats)
            deadline = time.monotonic() + 120 + count
            while len(api.messages()) < count and time.monotonic() < deadline:
                time.sleep(0.2)
            arrivals = sorted(r.wall for r in api.messages())
        finally:
            daemon.stop()
        last_s = arrivals[-1] - due / 1000 if arrivals else float("nan")
        per_chat: dict[str, list[float]] = {}
        for request in api.messages():
            per_chat.setdefault(str(request.params["chat_id"]), []).append(request.wall)
        gaps = [
            b - a
            for walls in per_chat.values()
            for a, b in zip(sorted(walls), sorted(walls)[1:], strict=False)
        ]
        min_gap = f"{min(gaps):.2f}s" if gaps else "n/a"
        return (
            f"{count} due in one second to {min(chats, count)} chat(s): last arrived "
            f"{last_s:.1f}s after the due time; delivered {len(arrivals)}/{count}; "
            f"429s {api.flood_429s}; smallest gap within one chat {min_gap}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    print(burst(args.count, args.count), flush=True)
    print(burst(20, 1), flush=True)


if __name__ == "__main__":
    main()
