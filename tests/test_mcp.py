"""`reminders mcp` driven the way an agent drives it: the SDK's own stdio client
talking to the real command in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import (
    Cli,
    Setup,
    db_rows,
    reminders_cmd,
    subprocess_env,
    wait_until,
)

pytestmark = pytest.mark.engines("sqlite", "postgresql")

TOOLS = {
    "add_reminder",
    "list_reminders",
    "show_reminder",
    "edit_reminder",
    "remove_reminder",
    "next_fire_times",
    "recent_runs",
    "cron",
}


class Agent:
    """An MCP client session on `reminders mcp`, with plain helpers for tool calls."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def ok(self, tool: str, **args: Any) -> dict[str, Any]:
        result = await self.session.call_tool(tool, args)
        assert not result.is_error, (tool, args, result.content)
        assert isinstance(result.structured_content, dict)
        return result.structured_content

    async def error(self, tool: str, **args: Any) -> str:
        result = await self.session.call_tool(tool, args)
        assert result.is_error, (tool, args, result.structured_content)
        [content] = result.content
        text: str = content.text  # type: ignore[union-attr]
        return text


def drive(
    home: Path,
    body: Callable[[Agent], Awaitable[Any]],
    env: dict[str, str] | None = None,
) -> Any:
    """Start `reminders mcp` for this home, run `body` against it, stop it."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "reminders", "mcp"],
        env=env or subprocess_env(home, REMINDERS_GENERAL_TIMEZONE="UTC"),
    )
    log = (home / "mcp-stderr.log").open("w")

    async def main() -> Any:
        async with (
            stdio_client(params, errlog=log) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await body(Agent(session))

    try:
        return anyio.run(main)
    finally:
        log.close()
        assert "Traceback" not in (home / "mcp-stderr.log").read_text()


def cli_error(home: Path, *args: str) -> str:
    """The error line the CLI prints for the same input."""
    result = reminders_cmd(home, *args)
    assert result.returncode in (65, 66), result
    [line] = result.stderr.strip().splitlines()
    return line


def future_iso(days: int) -> str:
    """A time `days` ahead, written with a +02:00 offset as in OpenClaw's example."""
    moment = datetime.now(UTC).astimezone(timezone(timedelta(hours=2)))
    moment = (moment + timedelta(days=days)).replace(microsecond=0)
    return moment.isoformat()


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.slow
def test_tools_are_listed_with_documented_arguments(home: Path) -> None:
    """tools/list names every tool; every argument has a description."""

    async def body(agent: Agent) -> Any:
        return (await agent.session.list_tools()).tools

    tools = {tool.name: tool for tool in drive(home, body)}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), (tool.name, name)
    assert tools["add_reminder"].input_schema["required"] == ["text"]
    action = tools["cron"].input_schema["properties"]["action"]
    assert {"status", "list", "add", "update", "remove", "run", "runs"} <= set(
        action["enum"]
    )


@pytest.mark.slow
def test_openclaw_cron_tool_call_works_unchanged(home: Path, run: Cli) -> None:
    """The `cron` add that OpenClaw refuses with "pairing required" works here,
    then list, update, runs and remove answer in OpenClaw's shape."""
    at = future_iso(30)
    later = future_iso(31)
    job = {
        "name": "Test reminder",
        "schedule": {"kind": "at", "at": at},
        "payload": {"kind": "systemEvent", "text": "Test message"},
        "delivery": {
            "mode": "announce",
            "channel": "telegram",
            "to": "1539169764",
        },
        "deleteAfterRun": True,
    }

    async def body(agent: Agent) -> dict[str, Any]:
        added = await agent.ok("cron", action="add", job=job)
        listed = await agent.ok("cron", action="list")
        patch = {"name": "Moved", "schedule": {"kind": "at", "at": later}}
        updated = await agent.ok(
            "cron", action="update", jobId=added["id"], patch=patch
        )
        runs = await agent.ok("cron", action="runs", jobId=added["id"])
        flat = await agent.ok(
            "cron",
            action="add",
            name="Flat",
            schedule={"kind": "every", "everyMs": 3_600_000},
            payload={"kind": "systemEvent", "text": "flat job"},
            delivery={"mode": "announce", "to": "telegram:42"},
        )
        status = await agent.ok("cron", action="status")
        removed = await agent.ok("cron", action="remove", jobId=added["id"])
        after = await agent.ok("cron", action="list", includeDisabled=True)
        return locals()

    got = drive(home, body)
    added = got["added"]
    assert added["state"]["nextRunAtMs"] == epoch_ms(at)
    assert added["name"] == "Test reminder" and added["deleteAfterRun"] is True
    assert added["delivery"]["to"] == "1539169764"
    assert added["payload"] == {"kind": "systemEvent", "text": "Test message"}
    assert [job["id"] for job in got["listed"]["jobs"]] == [added["id"]]
    assert got["updated"]["name"] == "Moved"
    assert got["updated"]["state"]["nextRunAtMs"] == epoch_ms(later)
    assert got["runs"]["entries"] == []
    assert got["flat"]["schedule"]["everyMs"] == 3_600_000
    assert got["status"]["jobs"] == 2 and got["status"]["enabled"] is False
    assert got["removed"]["removed"] is True
    assert [job["name"] for job in got["after"]["jobs"]] == ["Flat"]
    # The same store as the CLI's.
    assert [r["name"] for r in run.json("list", "--all")] == ["Flat"]


@pytest.mark.slow
def test_add_list_edit_remove_a_one_shot(home: Path, run: Cli) -> None:
    """add_reminder answers with the id, the first fire in its zone and the target;
    list, edit, next_fire_times, recent_runs and remove act on the same store."""

    async def body(agent: Agent) -> dict[str, Any]:
        added = await agent.ok(
            "add_reminder", text="Tea is ready", at="20m", to="42", name="Tea"
        )
        listed = await agent.ok("list_reminders")
        shown_by_cli = run.json("show", "Tea")
        edited = await agent.ok("edit_reminder", id_or_name="Tea", at="1h", to="43")
        cron = await agent.ok(
            "add_reminder",
            text="Standup",
            cron="0 9 * * 1-5",
            tz="Europe/Berlin",
            to="-1001234567890:topic:42",
        )
        times = await agent.ok("next_fire_times", id_or_name=cron["id"], count=3)
        paused = await agent.ok("edit_reminder", id_or_name=cron["id"], enabled=False)
        enabled_only = await agent.ok("list_reminders")
        runs = await agent.ok("recent_runs", id_or_name=added["id"])
        removed = await agent.ok("remove_reminder", id_or_name="Tea")
        return locals()

    got = drive(home, body)
    added = got["added"]
    assert added["zone"] == "UTC" and added["target"] == "42"
    assert added["nextRunAt"].endswith("+00:00")
    assert epoch_ms(added["nextRunAt"]) == added["state"]["nextRunAtMs"]
    assert [r["id"] for r in got["listed"]["reminders"]] == [added["id"]]
    assert got["shown_by_cli"]["id"] == added["id"]
    edited = got["edited"]
    assert edited["delivery"]["to"] == "43"
    assert added["state"]["nextRunAtMs"] == added["createdAtMs"] + 20 * 60_000
    assert edited["state"]["nextRunAtMs"] == edited["updatedAtMs"] + 60 * 60_000
    times = got["times"]
    assert times["zone"] == "Europe/Berlin" and len(times["times"]) == 3
    for slot in times["times"]:
        moment = datetime.fromisoformat(slot["at"])
        assert (moment.hour, moment.minute) == (9, 0) and moment.weekday() < 5
    assert got["paused"]["enabled"] is False
    assert [r["id"] for r in got["enabled_only"]["reminders"]] == [added["id"]]
    assert got["runs"] == {"runs": []}
    assert got["removed"] == {"id": added["id"], "name": "Tea", "removed": True}
    assert [r["name"] for r in run.json("list", "--all")] == ["Standup"]


@pytest.mark.slow
def test_bad_input_is_a_tool_error_with_our_message(home: Path, run: Cli) -> None:
    """A bad time, an unknown zone and an unknown id come back as tool errors with
    the line the CLI prints, and the store is unchanged after each."""
    run("add", "--name", "Keep", "--at", "2h", "--system-event", "kept", "--to", "7")
    before = db_rows(home)
    bad_time = cli_error(home, "add", "--at", "next blursday", "--system-event", "x")
    bad_zone = cli_error(
        home, "add", "--cron", "0 9 * * *", "--tz", "Mars/Base", "--system-event", "x"
    )
    unknown = cli_error(home, "show", "nope")

    async def body(agent: Agent) -> list[tuple[str, str]]:
        return [
            (await agent.error("add_reminder", text="x", at="next blursday"), bad_time),
            (
                await agent.error(
                    "add_reminder", text="x", cron="0 9 * * *", tz="Mars/Base"
                ),
                bad_zone,
            ),
            (await agent.error("show_reminder", id_or_name="nope"), unknown),
            (await agent.error("edit_reminder", id_or_name="nope", at="1h"), unknown),
            (await agent.error("remove_reminder", id_or_name="nope"), unknown),
            (await agent.error("next_fire_times", id_or_name="nope"), unknown),
            (await agent.error("cron", action="remove", jobId="nope"), unknown),
            (
                await agent.error(
                    "edit_reminder", id_or_name="Keep", at="next blursday"
                ),
                bad_time,
            ),
            (
                await agent.error(
                    "cron",
                    action="add",
                    job={
                        "schedule": {"kind": "at", "at": "2020-01-01T00:00:00Z"},
                        "payload": {"kind": "systemEvent", "text": "late"},
                        "delivery": {"to": "1"},
                    },
                ),
                "Error: --at '2020-01-01T00:00:00Z' is",
            ),
        ]

    for got, expected in drive(home, body):
        assert got.startswith(expected), (got, expected)
        assert "\n" not in got and "Traceback" not in got
    assert db_rows(home) == before


@pytest.mark.slow
def test_daemon_delivers_a_reminder_added_through_mcp(setup: Setup) -> None:
    """A reminder an agent adds over MCP reaches Telegram through the daemon; the
    cron tool's `run` delivers one at once and `runs` reports it."""
    setup.start()

    async def body(agent: Agent) -> dict[str, Any]:
        return await agent.ok(
            "add_reminder", text="From an agent ✓", at="2s", to="4242"
        )

    added = drive(setup.home, body, env=setup.env)
    wait_until(lambda: setup.api.messages(), timeout=15)
    [message] = setup.api.messages()
    assert message.params["text"] == "From an agent ✓"
    assert str(message.params["chat_id"]) == "4242"
    [sent] = setup.finished(added["id"])
    assert sent["status"] == "sent"

    async def run_now(agent: Agent) -> dict[str, Any]:
        job = await agent.ok(
            "cron",
            action="add",
            job={
                "name": "Weekly",
                "schedule": {"kind": "cron", "expr": "0 9 * * 1", "tz": "UTC"},
                "payload": {"kind": "agentTurn", "message": "Run now"},
                "delivery": {"mode": "announce", "to": "telegram:77"},
            },
        )
        ran = await agent.ok("cron", action="run", jobId=job["id"])
        runs = await agent.ok("cron", action="runs", jobId=job["id"])
        return {"job": job, "ran": ran, "runs": runs}

    got = drive(setup.home, run_now, env=setup.env)
    assert got["ran"]["ok"] is True and got["ran"]["ran"] is True
    assert setup.api.texts()[-1] == "Run now"
    [entry] = got["runs"]["entries"]
    assert entry["status"] == "ok" and entry["deliveryStatus"] == "delivered"
    assert entry["jobId"] == got["job"]["id"]


def test_without_the_extra_mcp_says_what_to_install(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the `mcp` package, `reminders mcp` names the extra and exits 69."""
    monkeypatch.setitem(sys.modules, "mcp", None)
    result = run("mcp", code=69)
    assert "pip install 'reminders[mcp]'" in result.stderr


@pytest.mark.slow
def test_other_commands_never_import_the_sdk(home: Path) -> None:
    """The MCP SDK stays off every other command's import path (start-up time)."""
    code = (
        "import sys\n"
        "from reminders.cli import cli\n"
        "for args in (['--help'], ['list'], ['skill', 'install', '--print'],"
        " ['add', '--at', '20m', '--system-event', 'x', '--to', '1']):\n"
        "    try:\n"
        "        cli(args, prog_name='reminders')\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, (args, exit.code)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')"
        " or m == 'reminders.mcp_server'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(home, REMINDERS_GENERAL_TIMEZONE="UTC"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_garbage_on_stdin_then_eof_ends_the_server_cleanly(home: Path) -> None:
    """Bytes that are not JSON-RPC, then a closed stdin (a client that went away
    mid-session): no reply is invented, no traceback, exit 0."""
    initialize = (
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":'
        '"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'
    )
    garbage = b"hello\n\x00\xff\xfe{{{\n[1,2]\n" + initialize.encode() + b'{"id":'
    result = subprocess.run(
        [sys.executable, "-m", "reminders", "mcp"],
        input=garbage,
        env=subprocess_env(home, REMINDERS_GENERAL_TIMEZONE="UTC"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b'"id":1,"result"' in result.stdout
