"""PostgreSQL beside SQLite: CLI `add`, pick-up after a CLI write, firing lateness,
and failover (SIGKILL of the leader to the first delivery by the new leader).

Run by hand from the repository root, with PostgreSQL on 127.0.0.1:5432:
    .venv/bin/python bench/pg_bench.py                 # about 15 minutes
    .venv/bin/python bench/pg_bench.py --sizes 10000 --kills 3   # a quicker look
A database is made for the run and dropped after. CLI figures time the installed
entry point (.venv/bin/reminders) on each engine in turn with a bare `python -c
pass`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    Daemon,
    FakeBotApi,
    PgDatabase,
    arrival_ms,
    measure_lateness,
    now_ms,
    populate_idle,
    summary,
    write_config,
)

REPO = Path(__file__).resolve().parent.parent
ENTRY = REPO / ".venv" / "bin" / "reminders"


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env.update(REMINDERS_HOME=str(home), REMINDERS_GENERAL_TIMEZONE="UTC")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wait_log(daemon: Daemon, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text not in daemon.log.read_text():
        if daemon.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(daemon.log.read_text())
        time.sleep(0.02)


def cli_add(pg_url: str, runs: int) -> list[str]:
    """`python -c pass`, `reminders add` on SQLite and on PostgreSQL, in turn,
    `runs` times: the two engines see the same load on a shared machine."""
    add = [str(ENTRY), "add", "--at", "20m", "--message", "bench", "--to", "1"]
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        homes = {"SQLite": Path(tmp) / "sqlite", "PostgreSQL": Path(tmp) / "pg"}
        for name, home in homes.items():
            write_config(home, api, url=pg_url if name == "PostgreSQL" else "")
            (home / "config.toml").chmod(0o600)
            subprocess.run(add, env=env_for(home), capture_output=True, check=True)
        bare: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in homes}
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            bare.append(time.perf_counter() - t0)
            for name, home in homes.items():
                t0 = time.perf_counter()
                subprocess.run(add, env=env_for(home), capture_output=True, check=True)
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(bare)
    return [
        f"CLI add, {name + ':':12}median {statistics.median(cli):.3f}s (min "
        f"{min(cli):.3f}, max {max(cli):.3f}); {statistics.median(cli) / base:.1f}x "
        f"python -c pass ({base:.3f}s) (n={runs})"
        for name, cli in times.items()
    ]


def pickup(url: str, size: int, samples: int) -> str:
    """From `reminders add` writing a reminder due at once to its delivery."""
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api, url=url)
        populate_idle(home, size, url)
        daemon = Daemon(home)
        latencies = []
        try:
            wait_log(daemon, "leader (epoch" if url else "daemon ready")
            for n in range(samples):
                add = [str(ENTRY), "add", "--at", str(now_ms()), "--message"]
                add += [f"pickup {n}", "--to", str(700_000 + n), "--json"]
                out = subprocess.run(
                    add, env=env_for(home), capture_output=True, check=True, text=True
                ).stdout
                # From the moment the CLI wrote the row (the daemon may deliver it
                # before the CLI process has even exited).
                written = json.loads(out)["createdAtMs"] / 1000
                latency = arrival_ms(api, f"pickup {n}", written)
                if latency is not None:
                    latencies.append(latency)
                time.sleep(0.37)
        finally:
            daemon.stop()
    return f"{size:,} stored: CLI write to delivery ms {summary(latencies)}"


def lateness(url: str, size: int, due: int) -> str:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        home = Path(tmp)
        write_config(home, api, url=url)
        populate_idle(home, size, url)
        daemon = Daemon(home)
        try:
            wait_log(daemon, "leader (epoch" if url else "daemon ready")
            # from the process start to firing: on PostgreSQL the take-over's
            # rebuild of the job store, the bulk of what a failover costs
            firing_s = time.monotonic() - daemon.started
            late = measure_lateness(home, api, due, url=url)
        finally:
            daemon.stop()
    return (
        f"{size:,} stored: firing {firing_s:.1f} s after start; lateness ms "
        f"{summary(late)}, delivered {len(late)}/{due}"
    )


def failover(url: str, kills: int, lease: str) -> str:
    """Two daemons; SIGKILL the leader `kills` times; seconds until the other one
    delivers. Five reminders fire every second throughout."""
    from reminders.lease import cluster_state
    from reminders.migrate import open_store

    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as a, FakeBotApi() as b:
        apis = [a, b]
        homes = [Path(tmp) / "a", Path(tmp) / "b"]
        for home, api in zip(homes, apis, strict=True):
            write_config(home, api, url=url, extra=f'lease = "{lease}"\n')
        store = open_store(url)
        for chat in range(5):
            add = [str(ENTRY), "add", "--every", "1s", "--message", f"tick {chat}"]
            subprocess.run(
                [*add, "--to", str(900 + chat)],
                env=env_for(homes[0]),
                capture_output=True,
                check=True,
            )
        daemons = [Daemon(homes[0]), Daemon(homes[1])]
        seconds = []
        rng = random.Random(7)
        try:
            for daemon in daemons:
                wait_log(daemon, "standing by")
            for _ in range(kills):
                leader = _leader(store, daemons, cluster_state)
                time.sleep(rng.uniform(1, 5))
                killed_at = time.time()
                daemons[leader].proc.send_signal(signal.SIGKILL)
                daemons[leader].proc.wait()
                other = apis[1 - leader]
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    after = [r.wall for r in other.messages() if r.wall > killed_at]
                    if after:
                        seconds.append(min(after) - killed_at)
                        break
                    time.sleep(0.05)
                daemons[leader] = Daemon(homes[leader])  # back as a standby
                wait_log(daemons[leader], "standing by")
        finally:
            for daemon in daemons:
                daemon.stop()
            store.close()
    return (
        f"failover with lease {lease}: SIGKILL to first delivery by the new leader "
        f"median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s "
        f"(n={len(seconds)})"
    )


def _leader(store, daemons: list[Daemon], cluster_state) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for d in cluster_state(store)["daemons"]:
            for index, daemon in enumerate(daemons):
                if d["role"] == "leader" and d["pid"] == daemon.proc.pid:
                    return index
        time.sleep(0.1)
    raise TimeoutError("no leader")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", default="10000,100000", help="reminders stored, for lateness"
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--lease", default="15s")
    args = parser.parse_args()
    with PgDatabase() as url:
        for line in cli_add(url, args.runs):
            print(line, flush=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"SQLite,     {lateness('', size, 100)}", flush=True)
        with PgDatabase() as url:
            print(f"PostgreSQL, {lateness(url, size, 100)}", flush=True)
    print(f"SQLite,     pick-up: {pickup('', 1000, 10)}", flush=True)
    with PgDatabase() as url:
        print(f"PostgreSQL, pick-up: {pickup(url, 1000, 10)}", flush=True)
    with PgDatabase() as url:
        print(failover(url, args.kills, args.lease), flush=True)


if __name__ == "__main__":
    main()
