"""The chat: time from a button press to the edited message, and firing lateness
with polling on (and a user typing commands meanwhile) beside polling off.

Run by hand from the repository root:  .venv/bin/python bench/chat_bench.py
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from common import (
    Daemon,
    FakeBotApi,
    add_one_shots,
    now_ms,
    populate_idle,
    summary,
    write_config,
)

USER = 42


def interactive(home: Path) -> None:
    config = home / "config.toml"
    keys = f"interactive = true\nallowed_users = [{USER}]\n"
    config.write_text(config.read_text().replace("[telegram]\n", "[telegram]\n" + keys))


def press_to_edit(samples: int) -> str:
    """Reminders to one chat, each pressed Done as soon as it arrives."""
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api)
        interactive(home)
        daemon = Daemon(home)
        edits, answers = [], []
        try:
            daemon.wait_ready()
            time.sleep(1)  # let the first getUpdates go out
            start = now_ms() + 2000
            add_one_shots(home, [start + i * 1500 for i in range(samples)], USER, 1)
            for n in range(samples):
                deadline = time.monotonic() + 20
                while len(api.messages()) <= n and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(0.3)  # nobody presses faster than this
                sent = api.messages()[n].message or {}
                data = dict(api.buttons(sent))["Done"]
                pressed = time.time()
                api.press(USER, USER, sent["message_id"], data)
                deadline = time.monotonic() + 10
                while len(api.calls("editMessageText")) <= n:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.001)
                else:
                    edits.append(
                        (api.calls("editMessageText")[n].wall - pressed) * 1000
                    )
                    while len(api.calls("answerCallbackQuery")) <= n:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.001)
                    else:
                        answered = api.calls("answerCallbackQuery")[n]
                        answers.append((answered.wall - pressed) * 1000)
        finally:
            daemon.stop()
    return (
        f"button press to editMessageText ms {summary(edits)}\n"
        f"button press to answerCallbackQuery ms {summary(answers)}"
    )


def lateness(size: int, due: int, polling: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api)
        if polling:
            interactive(home)
        populate_idle(home, size)
        daemon = Daemon(home)
        stop = threading.Event()
        try:
            daemon.wait_ready()
            start = now_ms() + 3000
            times = [start + i * 97 for i in range(due)]
            add_one_shots(home, times)

            def chatter() -> None:  # a user typing /help twice a second meanwhile
                while not stop.wait(0.5):
                    api.post_message(USER, "/help")

            if polling:
                threading.Thread(target=chatter, daemon=True).start()
            deadline = time.monotonic() + 30 + due / 5
            while time.monotonic() < deadline:
                delivered = [r for r in api.messages() if r.params["chat_id"] != USER]
                if len(delivered) >= due:
                    break
                time.sleep(0.1)
            stop.set()
            arrivals = {int(r.params["chat_id"]): r.wall for r in api.messages()}
            late = [
                arrivals[500_000 + i] * 1000 - at
                for i, at in enumerate(times)
                if 500_000 + i in arrivals
            ]
            replies = sum(1 for r in api.messages() if r.params["chat_id"] == USER)
        finally:
            stop.set()
            daemon.stop()
    mode = f"polling on, {replies} chat replies meanwhile" if polling else "polling off"
    return f"{size:,} stored, {mode}: lateness ms {summary(late)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=100)
    args = parser.parse_args()
    print(press_to_edit(args.samples), flush=True)
    for polling in (False, True):
        print(lateness(args.size, args.due, polling), flush=True)


if __name__ == "__main__":
    main()
