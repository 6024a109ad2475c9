"""What a careless or hostile agent sends `reminders mcp`: arguments of the wrong
type, missing or unknown, and a database file swapped under the running server.
An in-process MCP client on the real server object."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from reminders.cli.common import Runtime
from reminders.mcp_server import build_server
from tests.conftest import Cli, db_rows

Call = Callable[..., Awaitable[Any]]


def session(body: Callable[[Call], Awaitable[Any]]) -> Any:
    """Run `body` with `call(tool, **args)`: a reply's JSON, or the error's text."""
    ctx = Runtime().app

    async def main() -> Any:
        async with Client(build_server(ctx)) as client:

            async def call(tool: str, **args: Any) -> Any:
                result = await client.call_tool(tool, args)
                if result.is_error:
                    return result.content[0].text  # type: ignore[union-attr]
                return result.structured_content

            return await body(call)

    try:
        return anyio.run(main)
    finally:
        if "store" in ctx.__dict__:
            ctx.store.close()


def test_arguments_of_the_wrong_shape_are_one_line_refusals(
    home: Path, run: Cli
) -> None:
    """Wrong JSON types, missing and unknown arguments come back as one line that
    names the argument, never the SDK's pydantic report, and change nothing."""
    run("add", "--name", "Keep", "--at", "2h", "--system-event", "kept", "--to", "7")
    before = db_rows(home)
    huge = "x" * 1_000_000

    async def body(call: Call) -> list[str]:
        return [
            await call("add_reminder", text=5, at="1h", to="1"),
            await call("add_reminder", text=None, at="1h", to="1"),
            await call("add_reminder", text={"nested": [1]}, at="1h", to="1"),
            await call("add_reminder", at="1h", to="1"),
            await call("add_reminder", text="x", at=12345, to="1"),
            await call("add_reminder", text="x", at="1h", to=huge[:10], chat="42"),
            await call("edit_reminder", id_or_name="Keep", at="3h", enable=False),
            await call("show_reminder"),
            await call("show_reminder", id_or_name=[huge]),
            await call("next_fire_times", id_or_name="Keep", count=0),
            await call("next_fire_times", id_or_name="Keep", count=2.5),
            await call("list_reminders", include_disabled="maybe"),
            await call("recent_runs", limit=-1),
            await call("cron"),
            await call("cron", action=None),
            await call("cron", action="add", job=[1, 2]),
            await call("cron", action="update", jobId="Keep", patch="name=x"),
        ]

    replies = session(body)
    for reply in replies:
        assert isinstance(reply, str) and reply.startswith("Error: "), reply
        assert "\n" not in reply and "pydantic" not in reply, reply
        assert len(reply) < 300, reply
    assert "`text`" in replies[0] and "5" in replies[0]
    assert replies[3] == "Error: add_reminder needs `text`; pass it and call again."
    assert "no argument 'chat'" in replies[5] and "to," in replies[5]
    assert "no argument 'enable'" in replies[6] and "enabled" in replies[6]
    assert "`count`" in replies[9] and "`action`" in replies[13]
    assert db_rows(home) == before


def restore(home: Path) -> None:
    """A backup moved into place as the README says: the WAL and shm go too."""
    os.replace(home / "backup.db", home / "reminders.db")
    for leftover in ("reminders.db-wal", "reminders.db-shm"):
        (home / leftover).unlink(missing_ok=True)


def test_a_database_replaced_under_the_server_is_opened_afresh(
    home: Path, run: Cli
) -> None:
    """A backup moved into place (a new file at the same path) is what the next
    call sees and writes to, as the next CLI command would; a deleted database
    is made anew; a damaged one is a one-line refusal, not a crash."""
    db = home / "reminders.db"
    run("add", "--name", "Old", "--at", "2h", "--system-event", "old", "--to", "7")
    shutil.copy(db, home / "backup.db")

    async def body(call: Call) -> dict[str, Any]:
        await call("add_reminder", text="first", at="1h", to="1")
        restore(home)  # "first" is gone with the file it was written to
        restored = await call("list_reminders")
        db.unlink()
        emptied = await call("list_reminders")
        (home / "backup.db").write_bytes(b"not a database" * 100)
        restore(home)
        damaged = await call("list_reminders")
        return locals()

    got = session(body)
    assert [r["name"] for r in got["restored"]["reminders"]] == ["Old"]
    assert got["emptied"] == {"reminders": []}
    assert got["damaged"].startswith("Error: The database ")
    assert "damaged" in got["damaged"]


def test_the_cli_sees_what_was_added_after_a_restore(home: Path, run: Cli) -> None:
    """The reminder added after the file was replaced is in the file the CLI reads."""
    db = home / "reminders.db"
    run("add", "--name", "Old", "--at", "2h", "--system-event", "old", "--to", "7")
    shutil.copy(db, home / "backup.db")

    async def body(call: Call) -> None:
        await call("add_reminder", text="lost", at="1h", to="1")
        restore(home)
        await call("add_reminder", text="kept", name="Kept", at="1h", to="1")

    session(body)
    assert sorted(r["name"] for r in run.json("list")) == ["Kept", "Old"]
