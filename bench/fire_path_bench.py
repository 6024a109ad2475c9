"""What one fire costs the daemon besides the send: schedule computations, job-row
writes, and how often the daemon re-reads the reminder it just fired.

Run by hand from the repository root:  .venv/bin/python bench/fire_path_bench.py [--fires 10]
It starts `reminders daemon` with counters wrapped around the schedule maths, the
APScheduler job store and the daemon's change reading, lets one `--every 2s`
reminder fire a few times against a fake Bot API on 127.0.0.1, and prints the
counts per fire.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import REPO, FakeBotApi, write_config

CHILD = r"""
import atexit, json, sys
from collections import Counter

import reminders.aps_triggers as aps_triggers
import reminders.jobstore as jobstore
import reminders.jobsync as jobsync
import reminders.triggers as triggers

counts = Counter()
real_next = triggers.next_fire_ms


def next_fire_ms(*args, **kwargs):
    caller = sys._getframe(1).f_code.co_name
    counts["next fire computed by " + {
        "get_next_fire_time": "APScheduler's trigger",
        "_next_run": "the outcome record (next_run)",
    }.get(caller, caller)] += 1
    return real_next(*args, **kwargs)


triggers.next_fire_ms = next_fire_ms  # next_run's, plan_fire's
aps_triggers.next_fire_ms = next_fire_ms  # the APScheduler trigger classes'
store = jobstore.ReminderJobStore
for name, label in (("update_job", "moved by APScheduler"), ("remove_job", "removed by APScheduler")):
    def wrap(real, label=label):
        def method(self, *args, **kwargs):
            counts["job row " + label] += 1
            return real(self, *args, **kwargs)
        return method
    setattr(store, name, wrap(getattr(store, name)))
real_put = store.put


def put(self, rows, drop=()):
    rows = list(rows)
    counts["job row rewritten by the daemon's sync"] += len(rows)
    counts["job row dropped by the daemon's sync"] += len(set(drop) - {r["id"] for r in rows})
    return real_put(self, rows, drop)


store.put = put
real_changed = jobsync.JobSync._changed_reminders


def changed(self, extra):
    with self.store.read() as tx:
        page = tx.changes_since(self.revision, jobsync.RECONCILE_PAGE)
    feed = {c.reminder_id for c in page}
    revision, ids, found, more = real_changed(self, extra)
    counts["reminder re-read: from the change feed only"] += len(feed - set(extra))
    counts["reminder re-read: from the resync set only"] += len(set(extra) - feed)
    counts["reminder re-read: from both at once"] += len(feed & set(extra))
    return revision, ids, found, more


jobsync.JobSync._changed_reminders = changed
OUT = sys.argv[1]
atexit.register(lambda: open(OUT, "w").write(json.dumps(counts)))
from reminders.cli import main
sys.argv = ["reminders", "daemon"]
main()
"""


def run(fires: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api, poll="1s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
        env.update(REMINDERS_HOME=str(home), PYTHONPATH=str(REPO))
        add = ["add", "--name", "tick", "--every", "2s", "--message", "tick"]
        subprocess.run(
            [sys.executable, "-m", "reminders", *add, "--to", "7"],
            env=env,
            check=True,
            capture_output=True,
        )
        out = home / "counts.json"
        log = (home / "daemon.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(out)], env=env, stderr=log
        )
        try:
            deadline = time.monotonic() + 10 + fires * 4
            while len(api.messages()) < fires and time.monotonic() < deadline:
                time.sleep(0.1)
                if proc.poll() is not None:
                    raise RuntimeError((home / "daemon.log").read_text())
            time.sleep(1.5)  # the last fire's outcome and the sync after it
        except BaseException:
            print((home / "daemon.log").read_text(), file=sys.stderr)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        sent = len(api.messages())
        if not out.exists():
            raise RuntimeError((home / "daemon.log").read_text())
        counts = Counter(json.loads(out.read_text()))
        db = sqlite3.connect(home / "reminders.db")
        runs = db.execute("SELECT trigger, status, count(*) FROM runs GROUP BY 1, 2")
        kinds = ", ".join(f"{n} {trigger} {status}" for trigger, status, n in runs)
        db.close()
    print(f"{sent} fires of one `--every 2s` reminder (runs: {kinds}); per fire:")
    return {key: value / sent for key, value in sorted(counts.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fires", type=int, default=10)
    args = parser.parse_args()
    for key, value in run(args.fires).items():
        print(f"  {value:5.2f}  {key}")


if __name__ == "__main__":
    main()
