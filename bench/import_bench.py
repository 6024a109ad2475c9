"""Import of a large OpenClaw jobs.json: wall time of `reminders import`, and the
same import beside a running daemon: how late the reminders due meanwhile fire,
and the daemon's memory once it has synced the imported jobs.

Run by hand from the repository root:  .venv/bin/python bench/import_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import Daemon, FakeBotApi, measure_lateness, summary, write_config


def store(count: int) -> dict:
    jobs = []
    for i in range(count):
        kind = i % 3
        schedule = (
            {"kind": "cron", "expr": f"{i % 60} {i % 24} * * *", "tz": "Europe/Berlin"}
            if kind == 0
            else {
                "kind": "every",
                "everyMs": 60_000 * (1 + i % 90),
                "anchorMs": 1779000000000,
            }
            if kind == 1
            else {"kind": "at", "at": "2027-06-01T07:30:00.000Z"}
        )
        jobs.append(
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "name": f"Job {i}",
                "enabled": True,
                "createdAtMs": 1779000000000,
                "schedule": schedule,
                "sessionTarget": "isolated",
                "wakeMode": "now",
                "payload": {"kind": "agentTurn", "message": f"Reminder number {i}"},
                "delivery": {
                    "mode": "announce",
                    "channel": "telegram",
                    "to": str(100000 + i),
                },
                "state": {},
            }
        )
    return {"version": 1, "jobs": jobs}


def far_off(data: dict) -> dict:
    """The same jobs, none of them due within the next hours (only the reminders
    the benchmark adds fire while it runs)."""
    hour = time.gmtime().tm_hour
    for i, job in enumerate(data["jobs"]):
        if job["schedule"]["kind"] != "at":
            job["schedule"] = {
                "kind": "cron",
                "expr": f"{i % 60} {(hour + 6 + i % 12) % 24} * * *",
                "tz": "UTC",
            }
    return data


def beside_a_daemon(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api)
        (home / "config.toml").chmod(0o600)
        path = home / "jobs.json"
        path.write_text(json.dumps(far_off(store(count))))
        daemon = Daemon(home)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
        env["REMINDERS_HOME"] = str(home)
        took: list[float] = []

        def run_import() -> None:  # while the reminders below fall due
            time.sleep(3.5)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "reminders", "import", str(path)],
                env=env,
                capture_output=True,
                check=True,
            )
            took.append(time.perf_counter() - start)

        try:
            daemon.wait_ready()
            rss_before = daemon.rss_mb()
            importer = threading.Thread(target=run_import)
            importer.start()
            late = measure_lateness(home, api, 300)  # one every 97 ms for 29 s
            importer.join()
            rss_after = daemon.rss_mb()
        finally:
            daemon.stop()
    print(
        f"import of {count:,} jobs beside a running daemon ({took[0]:.1f}s): "
        f"lateness of reminders due meanwhile ms {summary(late)}; "
        f"daemon RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--live-jobs", type=int, default=60_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        path = home / "jobs.json"
        path.write_text(json.dumps(store(args.jobs), indent=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
        env.update(REMINDERS_HOME=str(home / "home"), REMINDERS_GENERAL_TIMEZONE="UTC")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-m", "reminders", "import", str(path), "--json"]
        start = time.perf_counter()
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, check=True
        )
        first = time.perf_counter() - start
        summary = json.loads(result.stdout)["summary"]
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        again = time.perf_counter() - start
    print(
        f"import of {args.jobs:,} jobs: {first:.2f}s ({summary['imported']} imported); "
        f"the same store again (all unchanged): {again:.2f}s"
    )
    beside_a_daemon(args.live_jobs)


if __name__ == "__main__":
    main()
