"""OpenClaw's `cron` agent tool as served by `reminders mcp`: the job forms agents
send, and what is refused. An in-process MCP client, on a fixed clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from reminders.cli.common import Runtime
from reminders.clock import FakeClock
from reminders.mcp_server import build_server
from tests.conftest import db_rows

NOW_MS = 1795514400000  # 2026-11-24T10:00:00Z
DAY_MS = 86_400_000


def cron(calls: list[dict[str, Any]]) -> list[Any]:
    """Send each call to the `cron` tool; a reply's JSON, or the error's text."""
    ctx = Runtime(clock=FakeClock(NOW_MS)).app

    async def main() -> list[Any]:
        replies: list[Any] = []
        async with Client(build_server(ctx)) as client:
            for call in calls:
                result = await client.call_tool("cron", call)
                if result.is_error:
                    replies.append(result.content[0].text)  # type: ignore[union-attr]
                else:
                    replies.append(result.structured_content)
        return replies

    try:
        return anyio.run(main)
    finally:
        ctx.store.close()


def job(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schedule": {"kind": "at", "at": "2026-12-01T09:00:00+01:00"},
        "payload": {"kind": "systemEvent", "text": "hello"},
        "delivery": {"mode": "announce", "channel": "telegram", "to": "42"},
    }
    return {**base, **fields}


def every(**fields: Any) -> dict[str, Any]:
    return {"kind": "every", "everyMs": 60_000, **fields}


def test_job_forms_agents_send_are_read_as_openclaw_reads_them() -> None:
    """Offset-less `at` is UTC, epoch ms and legacy keys work, flat fields and
    inferred payload kinds are accepted, and staggerMs 0 means exact."""
    adds = [
        job(schedule={"kind": "at", "at": "2026-12-01T09:00:00"}),
        job(schedule={"atMs": NOW_MS + DAY_MS}),
        job(schedule={"kind": "cron", "cron": "0 9 * * 1", "tz": "Europe/Berlin"}),
        job(schedule={"kind": "cron", "expr": "0 * * * *", "staggerMs": 0}),
        job(schedule={"kind": "every", "everyMs": "60000", "anchorMs": NOW_MS - 5}),
        job(payload={"message": "agent words"}, enabled="false", wakeMode="now"),
    ]
    replies = cron([{"action": "add", "job": j} for j in adds])
    replies += cron(
        [
            {
                "action": "add",
                "message": "flat message",
                "schedule": {"kind": "every", "everyMs": 3_600_000},
                "delivery": {"to": "telegram:-1001234567890:topic:42"},
                "sessionTarget": "isolated",
            }
        ]
    )
    at_utc, at_ms, legacy_cron, exact, every, agent_turn, flat = replies
    assert at_utc["state"]["nextRunAtMs"] == NOW_MS + 7 * DAY_MS - 3_600_000
    assert at_ms["state"]["nextRunAtMs"] == NOW_MS + DAY_MS
    assert legacy_cron["schedule"] == {
        "kind": "cron",
        "expr": "0 9 * * 1",
        "tz": "Europe/Berlin",
    }
    assert exact["schedule"]["staggerMs"] == 0
    assert every["schedule"] == {
        "kind": "every",
        "everyMs": 60_000,
        "anchorMs": NOW_MS - 5,
    }
    assert every["state"]["nextRunAtMs"] == NOW_MS + 60_000 - 5
    assert agent_turn["payload"] == {"kind": "agentTurn", "message": "agent words"}
    assert agent_turn["enabled"] is False and agent_turn["wakeMode"] == "now"
    assert flat["payload"]["message"] == "flat message"
    assert flat["sessionTarget"] == "isolated"


def test_refusals_are_one_line_and_change_nothing(home: Path) -> None:
    """What cannot be a reminder here is refused with a line saying why."""
    [kept] = cron([{"action": "add", "job": job(name="Kept")}])
    before = db_rows(home)
    replies = cron(
        [
            {"action": "add", "job": job(delivery={"mode": "webhook", "to": "x"})},
            {"action": "add", "job": job(delivery={"channel": "discord", "to": "1"})},
            {"action": "add", "job": job(payload={"kind": "command", "argv": []})},
            {"action": "add", "job": job(schedule={"kind": "on-exit"})},
            {"action": "add", "job": {"payload": {"text": "no schedule"}}},
            {"action": "add", "job": job(schedule={"kind": "at", "at": "soonish"})},
            {"action": "add", "job": job(schedule=every(anchorMs=-1))},
            {"action": "add", "job": job(schedule=every(anchorMs=10**30))},
            {"action": "add"},
            {"action": "update", "jobId": kept["id"]},
            {"action": "update", "jobId": kept["id"], "patch": {"name": " "}},
            {"action": "remove"},
            {"action": "runs", "jobId": kept["id"], "limit": 500},
            {"action": "runs", "jobId": kept["id"], "limit": 0},
            {"action": "run", "jobId": kept["id"], "runMode": "sideways"},
            {"action": "wake", "text": "hi"},
            {"action": "explode"},
        ]
    )
    for reply in replies:
        assert isinstance(reply, str) and reply.startswith("Error: "), reply
        assert "\n" not in reply and "Traceback" not in reply
    assert "webhook" in replies[0] and "discord" in replies[1]
    assert "Invalid time 'soonish'" in replies[5]
    assert "anchorMs -1 is not a time" in replies[6]
    assert "limit" in replies[13] and "runMode 'sideways'" in replies[14]
    assert db_rows(home) == before


def test_run_when_not_due_runs_nothing(home: Path) -> None:
    """runMode "due" on a reminder that is not due answers as OpenClaw does."""
    [added] = cron([{"action": "add", "job": job()}])
    before = db_rows(home)
    [reply] = cron([{"action": "run", "jobId": added["id"], "runMode": "due"}])
    assert reply == {"ok": True, "ran": False, "reason": "not-due"}
    assert db_rows(home) == before
