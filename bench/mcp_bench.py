"""`reminders mcp`: start-up to initialized, and one add_reminder round trip.

    .venv/bin/python bench/mcp_bench.py [--calls 200] [--stored 0,10000]

Starts the installed entry point (`.venv/bin/reminders mcp`) with the SDK's stdio
client, as an agent would, in a fresh home per size. The round trip is timed on
the client from call_tool to its reply, once the server is up (first call
excluded as warm-up); a bare `ping` round trip is timed beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import anyio
from common import REPO, populate_idle, summary
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ENTRY = REPO / ".venv" / "bin" / "reminders"


async def measure(home: Path, calls: int) -> tuple[float, list[float], list[float]]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env.update(REMINDERS_HOME=str(home), REMINDERS_GENERAL_TIMEZONE="UTC")
    command = str(ENTRY) if ENTRY.exists() else sys.executable
    args = ["mcp"] if ENTRY.exists() else ["-m", "reminders", "mcp"]
    params = StdioServerParameters(command=command, args=args, env=env)
    started = time.perf_counter()
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        ready = time.perf_counter() - started
        adds, pings = [], []
        for i in range(calls + 1):
            t0 = time.perf_counter()
            result = await session.call_tool(
                "add_reminder", {"text": f"bench {i}", "at": "2h", "to": "42"}
            )
            elapsed = time.perf_counter() - t0
            assert not result.is_error, result.content
            if i:
                adds.append(elapsed)
            t0 = time.perf_counter()
            await session.send_ping()
            pings.append(time.perf_counter() - t0)
    return ready, adds, pings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--stored", default="0,10000")
    options = parser.parse_args()
    for size in [int(n) for n in options.stored.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            if size:
                populate_idle(home, size)
            ready, adds, pings = anyio.run(measure, home, options.calls)
            print(f"{size} stored: spawn to initialized {ready:.2f} s")
            print(f"  add_reminder round trip ms: {summary([s * 1000 for s in adds])}")
            print(f"  ping round trip ms:         {summary([s * 1000 for s in pings])}")


if __name__ == "__main__":
    main()
