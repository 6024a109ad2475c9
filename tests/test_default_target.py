"""`delivery.default_to`: the chat a reminder goes to when none is named."""

from __future__ import annotations

from pathlib import Path

from reminders.clock import FakeClock
from tests.conftest import REPO, Cli, db_rows

INLINE = REPO / "tests" / "data" / "02-inline-state-2026.3-4.json"


def _config(home: Path, default_to: str) -> None:
    (home / "config.toml").write_text(f'[delivery]\ndefault_to = "{default_to}"\n')


def test_add_without_to_uses_the_default(run: Cli, home: Path) -> None:
    """`add` without --to sends to delivery.default_to; --to still wins."""
    _config(home, "-1001234567890:topic:42")
    added = run.json("add", "--at", "20m", "--system-event", "Tea")
    assert added["delivery"]["to"] == "-1001234567890:topic:42"
    named = run.json("add", "--at", "20m", "--system-event", "Tea", "--to", "7")
    assert named["delivery"]["to"] == "7"


def test_add_without_to_or_default_names_both_fixes(run: Cli, home: Path) -> None:
    """With no default either, the error names --to and the config key."""
    result = run("add", "--at", "20m", "--system-event", "Tea", code=65)
    assert "--to" in result.stderr and "delivery.default_to" in result.stderr
    assert db_rows(home) == []


def test_bad_default_is_a_config_error(run: Cli, home: Path) -> None:
    """A default_to that is no Telegram chat is refused by `config check` (78)."""
    _config(home, "not a chat!")
    result = run("config", "check", code=78)
    assert "delivery.default_to" in result.stderr


def test_import_uses_the_default_for_target_less_jobs(
    run: Cli, home: Path, clock: FakeClock
) -> None:
    """The import's --default-to defaults to delivery.default_to."""
    _config(home, "555")
    report = run.json("import", str(INLINE), clock=clock)
    dentist = next(job for job in report["jobs"] if job["id"].startswith("3f9c2a71"))
    assert dentist["action"] == "imported"
    shown = run.json("show", dentist["id"], clock=clock)
    assert shown["delivery"]["to"] == "555"
