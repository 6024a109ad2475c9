"""Run every benchmark and print its figures: one command for the README's table.

    .venv/bin/python bench/run_all.py            # about 10 minutes
    .venv/bin/python bench/run_all.py --quick    # smaller sizes, about 3 minutes

Everything talks to a fake Bot API server on 127.0.0.1; nothing is timed in tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> None:
    print(f"\n== {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    run("cli_bench.py", "--sizes", "0,10000" if quick else "0,10000,100000")
    run(
        "daemon_bench.py",
        "--sizes",
        "10000" if quick else "10000,100000",
        "--idle-seconds",
        "20" if quick else "60",
    )
    run("pickup_bench.py")
    run(
        "burst_bench.py",
        *("--count", "300" if quick else "1000"),
        *("--stop-count", "2000" if quick else "20000"),
    )
    run("recovery_bench.py", *(("--deadline", "20") if quick else ()))
    run(
        "import_bench.py",
        *("--jobs", "2000" if quick else "10000"),
        *("--live-jobs", "10000" if quick else "60000"),
    )
    run("chat_bench.py", "--samples", "10" if quick else "20")
    run("mcp_bench.py", "--calls", "50" if quick else "200")
    run("webhook_bench.py")


if __name__ == "__main__":
    main()
