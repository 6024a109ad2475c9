"""Import of a large OpenClaw jobs.json: wall time of `reminders import`.

Run by hand from the repository root:  .venv/bin/python bench/import_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
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


if __name__ == "__main__":
    main()
