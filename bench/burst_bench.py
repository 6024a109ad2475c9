"""Bursts: many reminders due in the same second, against a fake server that
enforces Telegram's limits (30/s overall, 1/s per private chat) with 429s, and the
rate limiter's lane upkeep as the number of chats grows.

Run by hand from the repository root:  .venv/bin/python bench/burst_bench.py
The full burst of the README (20,000 reminders to 20,000 chats) takes about twelve
minutes: .venv/bin/python bench/burst_bench.py --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from common import Daemon, FakeBotApi, add_one_shots, now_ms, write_config

from reminders.ratelimit import Limits, RateLimiter

GOAL_PER_S = 30.0  # Telegram's overall limit for one bot


def burst(count: int, chats: int) -> str:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi(enforce_limits=True) as api:
        home = Path(tmp)
        write_config(home, api)
        daemon = Daemon(home)
        try:
            daemon.wait_ready()
            due = now_ms() + 4000
            add_one_shots(home, [due] * count, chat_base=900_000, chats=chats)
            # Until all arrived, or nothing new for a minute (a run that failed).
            seen, progress = 0, time.monotonic()
            while seen < count and time.monotonic() - progress < 60:
                time.sleep(0.2)
                if len(api.messages()) > seen:
                    seen, progress = len(api.messages()), time.monotonic()
            arrivals = sorted(r.wall for r in api.messages())
        finally:
            daemon.stop()
        last_s = arrivals[-1] - due / 1000 if arrivals else float("nan")
        first_s = arrivals[0] - due / 1000 if arrivals else float("nan")
        per_chat: dict[str, list[float]] = {}
        for request in api.messages():
            per_chat.setdefault(str(request.params["chat_id"]), []).append(request.wall)
        gaps = [
            b - a
            for walls in per_chat.values()
            for a, b in zip(sorted(walls), sorted(walls)[1:], strict=False)
        ]
        min_gap = f"{min(gaps):.2f}s" if gaps else "n/a"
        line = (
            f"{count} due in one second to {min(chats, count)} chat(s): first arrived "
            f"{first_s:.1f}s, last {last_s:.1f}s after the due time; "
            f"delivered {len(arrivals)}/{count}; "
            f"429s {api.flood_429s}; smallest gap within one chat {min_gap}"
        )
        if chats >= count and len(arrivals) > 1:
            rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            worst = _worst_window(arrivals, 10.0)
            line += (
                f"\n  rate {rate:.1f} msg/s from first to last arrival "
                f"({rate / GOAL_PER_S:.0%} of {GOAL_PER_S:g}/s); slowest 10 s window "
                f"{worst:.1f} msg/s"
            )
        return line


def _worst_window(arrivals: list[float], width: float) -> float:
    """The lowest rate over any `width`-second window inside the burst (a stall
    shows here even when the average looks fine)."""
    if arrivals[-1] - arrivals[0] <= width:
        return (len(arrivals) - 1) / max(arrivals[-1] - arrivals[0], 1e-9)
    worst, end = float("inf"), 0
    for start, first in enumerate(arrivals):
        if first + width > arrivals[-1]:
            break
        while end < len(arrivals) and arrivals[end] < first + width:
            end += 1
        worst = min(worst, (end - start) / width)
    return worst


def stop_mid_burst(count: int) -> str:
    """SIGTERM once 100 of `count` reminders (to `count` chats) have arrived: how
    long the daemon takes to exit, and what it leaves behind."""
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api)
        daemon = Daemon(home)
        try:
            daemon.wait_ready()
            add_one_shots(home, [now_ms() + 3000] * count, chat_base=800_000)
            while len(api.messages()) < 100:
                time.sleep(0.05)
            daemon.proc.terminate()
            signalled, at_signal = time.monotonic(), len(api.calls())
            code = daemon.proc.wait(timeout=300)
            took = time.monotonic() - signalled
        finally:
            daemon.stop()
        with sqlite3.connect(home / "reminders.db") as conn:
            sending = conn.execute(
                "SELECT count(*) FROM runs WHERE status = 'sending'"
            ).fetchone()[0]
        return (
            f"SIGTERM mid-burst ({count} due at once, {at_signal} sent): exit {code} "
            f"after {took:.2f}s; {len(api.calls()) - at_signal} requests after the "
            f"signal; {sending} runs left sending (the service allows 60 s)"
        )


def lane_upkeep(lanes: int) -> str:
    """Microseconds per new lane while every lane is busy (a burst to `lanes`
    chats, all queued): the cost the limiter pays to keep its lane table small."""

    async def main() -> float:
        limiter = RateLimiter(Limits(overall=(10**9, 1.0)))
        started = time.perf_counter()
        for chat in range(lanes):
            limiter._lane(chat).users += 1  # held, as a queued send holds it
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return f"{lanes} chats queued at once: {elapsed / lanes * 1e6:.1f} us per new lane"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--stop-count", type=int, default=20_000)
    args = parser.parse_args()
    for lanes in (1_000, 20_000, 100_000):
        print(lane_upkeep(lanes), flush=True)
    print(stop_mid_burst(args.stop_count), flush=True)
    print(burst(args.count, args.count), flush=True)
    print(burst(20, 1), flush=True)


if __name__ == "__main__":
    main()
