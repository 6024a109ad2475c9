"""status, doctor and agenda: telling at a glance whether all is well."""

from __future__ import annotations

import pytest

from reminders.clock import FakeClock
from tests.conftest import Cli

pytestmark = pytest.mark.engines("sqlite", "postgresql")


def test_status_without_a_daemon_exits_69_and_says_how(run: Cli) -> None:
    """`status` reports a stopped daemon, the missing token, and exits 69."""
    run("add", "--every", "1h", "--message", "m", "--to", "1")
    result = run("status", code=69)
    assert "daemon:     stopped" in result.stdout
    assert "1 enabled" in result.stdout
    assert "REMINDERS_TELEGRAM_BOT_TOKEN" in result.stdout


def test_doctor_names_each_failure_with_a_fix(run: Cli) -> None:
    """`doctor` prints one line per check, the fix for each failure, and exits 69."""
    result = run("doctor", code=69)
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert lines["config"].startswith("ok")
    assert lines["database"].startswith("ok")
    assert (
        lines["token"].startswith("FAIL")
        and "REMINDERS_TELEGRAM_BOT_TOKEN" in lines["token"]
    )
    assert lines["daemon"].startswith("FAIL") and "reminders daemon" in lines["daemon"]


def test_agenda_groups_by_day(run: Cli, clock: FakeClock) -> None:
    """`agenda --days 2` lists every fire in the window under its local day."""
    run(
        "add",
        "--name",
        "Morning",
        "--cron",
        "0 8 * * *",
        "--message",
        "m",
        "--to",
        "1",
        clock=clock,
    )
    run(
        "add", "--name", "Tea", "--at", "2h", "--message", "m", "--to", "1", clock=clock
    )
    out = run("agenda", "--days", "2", clock=clock).stdout.splitlines()
    assert out == [
        "Tuesday 2026-11-24 (UTC)",
        "  12:00:00  Tea",
        "Wednesday 2026-11-25 (UTC)",
        "  08:00:00  Morning",
        "Thursday 2026-11-26 (UTC)",
        "  08:00:00  Morning",
    ]
    assert len(run.json("agenda", "--days", "1", clock=clock)) == 2
