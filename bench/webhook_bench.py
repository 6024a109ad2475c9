"""Webhooks beside Telegram: does a stalled receiver delay Telegram reminders due in
the same second, and how is a burst to one host paced?

Run by hand from the repository root:  .venv/bin/python bench/webhook_bench.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from common import REPO, Daemon, FakeBotApi, add_one_shots, now_ms, write_config

from reminders.db import sqlite_url
from reminders.migrate import open_store
from reminders.schema import Reminder, ms_to_iso
from tests.fake_webhook import Answer, FakeWebhook, Slow

assert REPO  # common put the repository on sys.path


def add_webhooks(home: Path, url: str, due: int, count: int) -> None:
    store = open_store(sqlite_url(home / "reminders.db"))
    created = now_ms()
    with store.write() as conn:
        for i in range(count):
            item = Reminder.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    "name": f"hook {i}",
                    "createdAtMs": created,
                    "updatedAtMs": created,
                    "schedule": {"kind": "at", "at": ms_to_iso(due)},
                    "payload": {"kind": "systemEvent", "text": f"hook {i}"},
                    "delivery": {"mode": "webhook", "to": url},
                    "state": {"nextRunAtMs": due},
                }
            )
            conn.save(item, created)
    store.close()


def scenario(telegram: int, hooks: int, stall_s: float, rate: int) -> str:
    """`telegram` and `hooks` reminders due in the same second; the receiver holds
    each request `stall_s` seconds. Returns one line of figures."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeBotApi() as api,
        FakeWebhook() as hook,
    ):
        hook.script = [Slow(stall_s) if stall_s else Answer(200)] * hooks
        home = Path(tmp)
        write_config(home, api)
        with (home / "config.toml").open("a") as config:
            config.write(
                f'[delivery]\nwebhook_timeout = {stall_s + 10}\ndeadline = "5m"\n'
                f"webhook_rate = {rate}\n"
            )
        daemon = Daemon(home)
        try:
            daemon.wait_ready()
            due = now_ms() + 4000
            add_one_shots(home, [due] * telegram, chat_base=700_000)
            add_webhooks(home, hook.url(), due, hooks)
            deadline = time.monotonic() + 60 + stall_s + hooks
            while time.monotonic() < deadline and (
                len(api.messages()) < telegram
                or sum(r.answered_at is not None for r in hook.requests) < hooks
            ):
                time.sleep(0.1)
        finally:
            daemon.stop()
        late = sorted(r.wall - due / 1000 for r in api.messages())
        starts = sorted(r.at for r in hook.requests)
        line = (
            f"{telegram} Telegram + {hooks} webhook reminder(s) due together, "
            f"receiver stalls {stall_s:g}s, {rate}/s per host:"
        )
        if late:
            line += (
                f" Telegram arrived {late[0]:.2f}-{late[-1]:.2f}s after the due "
                f"time ({len(late)}/{telegram});"
            )
        if starts:
            busiest = max(sum(a <= b < a + 1.0 for b in starts) for a in starts)
            line += (
                " webhook requests reached the receiver over "
                f"{starts[-1] - starts[0]:.2f}s ({len(starts)}/{hooks}), at most "
                f"{busiest} in any second"
            )
        return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--telegram", type=int, default=20)
    parser.add_argument("--hooks", type=int, default=30)
    parser.add_argument("--stall", type=float, default=15.0)
    args = parser.parse_args()
    print(scenario(args.telegram, 0, 0, 10), flush=True)
    print(scenario(args.telegram, args.hooks, args.stall, 10), flush=True)
    print(scenario(0, args.hooks, 0, 10), flush=True)


if __name__ == "__main__":
    main()
