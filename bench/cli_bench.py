"""CLI speed as ratios to a bare `python -c pass`, from a regular install.

Each command runs right after a `python -c pass` of the same interpreter, pair by
pair, so a ratio holds even while the machine's speed drifts; the figure printed
is the median ratio (CPU time, and wall time beside it). The `reminders` timed is
the installed entry point of a virtualenv made with `pip install .` (a regular
install with compiled bytecode, not the source tree), and the installed size of
that virtualenv's packages, pip and setuptools left out, is printed too.

Run by hand from the repository root:

    .venv/bin/python bench/cli_bench.py                   # builds a virtualenv first
    .venv/bin/python bench/cli_bench.py --venv /tmp/inst  # or reuses one

Goals: `add` at most 6x at 100,000 reminders; `list` at 10,000 at most 20x; the
first screen of `list` at 100,000 at most 25x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, populate_idle

LEFT_OUT = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "wheel")


def build_venv(where: Path) -> Path:
    """A fresh virtualenv with `pip install .` of this checkout."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = where / "bin" / "pip"
    subprocess.run([str(pip), "install", "--quiet", str(REPO)], check=True)
    return where


def installed_mb(venv: Path) -> float:
    """Bytes under site-packages, pip and setuptools (and their metadata) left out."""
    (site,) = (venv / "lib").glob("python3*/site-packages")
    total = 0
    for entry in site.iterdir():
        if entry.name.split("-")[0].lower() in LEFT_OUT:
            continue
        files = [entry] if entry.is_file() else entry.rglob("*")
        total += sum(f.stat().st_size for f in files if f.is_file())
    return total / 1e6


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one run, its output thrown away."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def ratios(
    python: Path, command: list[str], env: dict[str, str], runs: int
) -> tuple[float, float, float]:
    """Median CPU ratio, median wall ratio, and the command's median wall seconds."""
    timed(command, env)  # warm the page cache and the database
    cpu, wall, seconds = [], [], []
    for _ in range(runs):
        base_cpu, base_wall = timed([str(python), "-c", "pass"], env)
        run_cpu, run_wall = timed(command, env)
        cpu.append(run_cpu / max(base_cpu, 1e-4))
        wall.append(run_wall / base_wall)
        seconds.append(run_wall)
    return (
        statistics.median(cpu),
        statistics.median(wall),
        statistics.median(seconds),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="a virtualenv with `pip install .`")
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        venv = args.venv or build_venv(Path(tmp) / "venv")
        python, reminders = venv / "bin" / "python", venv / "bin" / "reminders"
        print(f"installed: {reminders}")
        print(f"installed size without pip/setuptools: {installed_mb(venv):.1f} MB")
        print(
            f"{'stored':>7}  {'command':<18} {'cpu x':>6} {'wall x':>7} {'wall s':>7}"
        )
        for size in [int(s) for s in args.sizes.split(",")]:
            home = Path(tmp) / f"home-{size}"
            populate_idle(home, size)
            env = {
                k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")
            }
            env.update(REMINDERS_HOME=str(home), REMINDERS_GENERAL_TIMEZONE="UTC")
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed package runs
            commands = {
                "add": ["add", "--at", "20m", "--message", "bench", "--to", "1"],
                "list (first 100)": ["list"],
            }
            if size <= 10_000:
                commands["list --limit 0"] = ["list", "--limit", "0"]
            for label, extra in commands.items():
                runs = (
                    args.runs if label != "list --limit 0" else max(3, args.runs // 3)
                )
                cpu, wall, seconds = ratios(python, [str(reminders), *extra], env, runs)
                print(
                    f"{size:>7,}  {label:<18} {cpu:>6.1f} {wall:>7.1f} {seconds:>7.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
