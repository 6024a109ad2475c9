"""Managing reminders through the CLI, as a user types the commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from reminders.clock import FakeClock
from tests.conftest import Cli, db_rows

pytestmark = pytest.mark.engines("sqlite", "postgresql")

SEED = [
    "cron",
    "add",
    "--name",
    "Test",
    "--at",
    "2027-04-06T11:50:00+02:00",
    "--system-event",
    "Test message",
    "--channel",
    "telegram",
    "--to",
    "1539169764",
    "--delete-after-run",
]


def test_seed_example_stores_a_one_shot(run: Cli, clock: FakeClock) -> None:
    """OpenClaw's own `cron add` line works verbatim and stores a one-shot reminder."""
    result = run(*SEED, clock=clock)
    assert "2027-04-06 09:50:00 UTC (+00:00)" in result.stdout
    [stored] = run.json("list", clock=clock)
    assert stored["name"] == "Test"
    assert stored["schedule"] == {"kind": "at", "at": "2027-04-06T09:50:00.000Z"}
    assert stored["payload"] == {"kind": "systemEvent", "text": "Test message"}
    assert stored["delivery"] == {
        "mode": "announce",
        "channel": "telegram",
        "to": "1539169764",
    }
    assert stored["deleteAfterRun"] is True
    assert stored["state"]["nextRunAtMs"] == 1807005000000


def test_add_prints_id_and_first_fire_in_its_zone(run: Cli, clock: FakeClock) -> None:
    """`add` prints the new id and the first fire time with its zone."""
    result = run(
        "add",
        "--cron",
        "0 9 * * 1-5",
        "--tz",
        "Europe/Berlin",
        "--message",
        "Standup",
        "--to",
        "42",
        clock=clock,
    )
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith("Added ") and len(first_line.split()[1]) == 36
    assert "next: 2026-11-25 09:00:00 CET (+01:00), in 22h" in result.stdout


def test_add_then_list_round_trips_every_field(run: Cli, clock: FakeClock) -> None:
    """Every flag given to `add` comes back from `list --json`."""
    added = run.json(
        "add",
        "--name",
        "Pills",
        "--description",
        "the blue ones",
        "--cron",
        "30 8 * * *",
        "--tz",
        "America/New_York",
        "--stagger",
        "90s",
        "--message",
        "Take the pills",
        "--to",
        "-1001234567890",
        "--thread-id",
        "42",
        "--silent",
        "--parse-mode",
        "HTML",
        "--catch-up",
        "2h",
        "--keep-after-run",
        clock=clock,
    )
    listed = run.json("list", clock=clock)
    assert listed == [added]
    assert added["schedule"] == {
        "kind": "cron",
        "expr": "30 8 * * *",
        "tz": "America/New_York",
        "staggerMs": 90000,
    }
    assert added["payload"] == {"kind": "agentTurn", "message": "Take the pills"}
    assert added["delivery"] == {
        "mode": "announce",
        "channel": "telegram",
        "to": "-1001234567890",
        "threadId": "42",
        "silent": True,
        "parseMode": "HTML",
    }
    assert added["description"] == "the blue ones"
    assert added["catchUpMs"] == 7_200_000
    assert added["deleteAfterRun"] is False
    assert added["createdAtMs"] == added["updatedAtMs"] == clock.now_ms()


def test_next_crosses_spring_dst_in_berlin(run: Cli) -> None:
    """`next -n 5` for 0 9 * * 1-5 in Berlin keeps 09:00 local across 2026-03-29."""
    clock = FakeClock(1774512000000)  # 2026-03-26T08:00:00Z, a Thursday
    reminder = run.json(
        "add",
        "--cron",
        "0 9 * * 1-5",
        "--tz",
        "Europe/Berlin",
        "--message",
        "m",
        "--to",
        "1",
        clock=clock,
    )
    times = run.json("next", reminder["id"], "-n", "5", clock=clock)
    assert [t["atMs"] for t in times] == [
        1774598400000,  # Fri 27 08:00Z (CET)
        1774854000000,  # Mon 30 07:00Z (CEST)
        1774940400000,  # Tue 31
        1775026800000,  # Wed 1 Apr
        1775113200000,  # Thu 2 Apr
    ]
    assert [t["at"][:16] for t in times] == [
        "2026-03-27 09:00",
        "2026-03-30 09:00",
        "2026-03-31 09:00",
        "2026-04-01 09:00",
        "2026-04-02 09:00",
    ]
    assert times[0]["at"].endswith("CET (+01:00)")
    assert times[1]["at"].endswith("CEST (+02:00)")


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("20m", 1_200_000),
        ("+20m", 1_200_000),
        ("in 20m", 1_200_000),
        ("1h30m", 5_400_000),
        ("18:00", 8 * 3_600_000),
        ("tomorrow 9:00", 23 * 3_600_000),
        ("2026-11-24T12:00", 2 * 3_600_000),
        ("2026-11-24T12:00:00+01:00", 3_600_000),
        ("1795518000000", 3_600_000),
    ],
)
def test_at_accepts_every_documented_form(
    run: Cli, clock: FakeClock, text: str, expected_ms: int
) -> None:
    """Each --at form lands on the right instant (the zone here is UTC)."""
    added = run.json("add", "--at", text, "--message", "m", "--to", "1", clock=clock)
    assert added["state"]["nextRunAtMs"] == clock.now_ms() + expected_ms


def test_at_without_offset_reads_the_given_zone(run: Cli, clock: FakeClock) -> None:
    """An offset-less --at is read in --tz, never silently as UTC."""
    added = run.json(
        "add",
        "--at",
        "2026-12-01T09:00",
        "--tz",
        "Asia/Tokyo",
        "--message",
        "m",
        "--to",
        "1",
        clock=clock,
    )
    assert added["schedule"]["at"] == "2026-12-01T00:00:00.000Z"


def test_show_edit_disable_enable_rm(run: Cli, clock: FakeClock) -> None:
    """A reminder can be found by name, changed, paused, resumed and removed."""
    added = run.json(
        "add",
        "--name",
        "Water",
        "--every",
        "2h",
        "--message",
        "Drink",
        "--to",
        "7",
        clock=clock,
    )
    assert run.json("show", "Water", clock=clock)["id"] == added["id"]
    assert "Water" in run("show", added["id"][:8], clock=clock).stdout
    edited = run.json(
        "edit", "Water", "--every", "30m", "--message", "Sip", clock=clock
    )
    assert edited["schedule"]["everyMs"] == 1_800_000
    assert edited["payload"]["message"] == "Sip"
    assert edited["state"]["nextRunAtMs"] == clock.now_ms() + 1_800_000
    disabled = run.json("disable", "Water", clock=clock)
    assert disabled["enabled"] is False and "nextRunAtMs" not in disabled["state"]
    assert run.json("list", clock=clock) == []
    assert len(run.json("list", "--all", clock=clock)) == 1
    enabled = run.json("enable", "Water", clock=clock)
    assert enabled["state"]["nextRunAtMs"] == clock.now_ms() + 1_800_000
    run("rm", "Water", clock=clock)
    assert run.json("list", "--all", clock=clock) == []


def test_openclaw_only_flags_warn_and_are_kept(run: Cli, clock: FakeClock) -> None:
    """--session, --agent, --model ... are accepted with a warning and kept inert."""
    result = run(
        "add",
        "--every",
        "1h",
        "--message",
        "m",
        "--to",
        "1",
        "--session",
        "isolated",
        "--agent",
        "ops",
        "--model",
        "openai/gpt",
        "--light-context",
        "--json",
        clock=clock,
    )
    assert "only mean something inside OpenClaw" in result.stderr
    [stored] = run.json("list", clock=clock)
    assert stored["sessionTarget"] == "isolated" and stored["agentId"] == "ops"


BAD_INPUT = [
    (
        ["add", "--at", "20m", "--message", "m", "--to", "1", "--tz", "Mars/Olympus"],
        65,
        "Unknown time zone",
    ),
    (["add", "--cron", "0 9 * * MONDAY", "--message", "m", "--to", "1"], 65, "cron"),
    (
        ["add", "--cron", "0 0 9 * * 1 2026", "--message", "m", "--to", "1"],
        65,
        "fields",
    ),
    (["add", "--cron", "*/0 * * * *", "--message", "m", "--to", "1"], 65, "cron"),
    (
        ["add", "--at", "2020-01-01T00:00:00Z", "--message", "m", "--to", "1"],
        65,
        "in the past",
    ),
    (
        ["add", "--at", "20m", "--every", "1h", "--message", "m", "--to", "1"],
        65,
        "exactly one schedule",
    ),
    (["add", "--message", "m", "--to", "1"], 65, "exactly one schedule"),
    (["add", "--every", "0", "--message", "m", "--to", "1"], 65, "duration"),
    (["add", "--every", "0s", "--message", "m", "--to", "1"], 65, "greater than zero"),
    (["add", "--at", "20m", "--message", "   ", "--to", "1"], 65, "empty"),
    (["add", "--at", "20m", "--message", "m"], 65, "Missing --to"),
    (
        ["add", "--at", "20m", "--message", "m", "--to", "not a chat!"],
        65,
        "Telegram chat",
    ),
    (
        ["add", "--at", "20m", "--message", "m", "--to", "1", "--channel", "slack"],
        65,
        "--channel telegram",
    ),
    (["add", "--at", "soon-ish", "--message", "m", "--to", "1"], 65, "Invalid time"),
    (["show", "nope"], 66, "reminders list"),
    (["edit", "nope", "--name", "x"], 66, "reminders list"),
    (["rm", "nope"], 66, "reminders list"),
    (["next", "nope"], 66, "reminders list"),
]


def add_keep(run: Cli, clock: FakeClock) -> None:
    """The reminder a refused command must leave alone."""
    run(
        "add",
        "--name",
        "Keep",
        "--every",
        "1h",
        "--message",
        "m",
        "--to",
        "1",
        clock=clock,
    )


@pytest.mark.parametrize(("args", "code", "hint"), BAD_INPUT)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    run: Cli, clock: FakeClock, home: Path, args: list[str], code: int, hint: str
) -> None:
    """Each mistake exits with its code, says what to do in one line, stores nothing."""
    add_keep(run, clock)
    before = db_rows(home)
    result = run(*args, code=code, clock=clock)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert hint in lines[0]
    assert "Traceback" not in result.stderr
    assert db_rows(home) == before


def test_edit_with_bad_input_keeps_the_reminder(
    run: Cli, clock: FakeClock, home: Path
) -> None:
    """A refused edit leaves the stored reminder exactly as it was."""
    add_keep(run, clock)
    before = db_rows(home)
    run("edit", "Keep", "--cron", "bad", code=65, clock=clock)
    run("edit", "Keep", "--tz", "Nowhere/Else", code=65, clock=clock)
    run("edit", "Keep", "--to", "", code=65, clock=clock)
    assert db_rows(home) == before


def test_malformed_config_is_a_config_error(run: Cli, home: Path) -> None:
    """A config file that is not TOML stops every command with exit 78."""
    (home / "config.toml").write_text("[telegram\nbot_token = 1")
    result = run("list", code=78)
    assert "not valid TOML" in result.stderr and len(result.stderr.splitlines()) == 1


def test_unknown_config_key_is_a_config_error(run: Cli, home: Path) -> None:
    """A misspelt key is refused, naming the key."""
    (home / "config.toml").write_text('[telegram]\nbot_tokn = "x"\n')
    result = run("list", code=78)
    assert "telegram.bot_tokn" in result.stderr


def test_list_shows_a_first_screen_and_says_how_to_see_more(
    run: Cli, clock: FakeClock
) -> None:
    """`list --limit N` shows the soonest N and a line saying how many there are."""
    for hour in (3, 1, 2):
        run("add", "--name", f"h{hour}", "--cron", f"0 {hour} * * *",
            "--message", "m", "--to", "1", clock=clock)  # fmt: skip
    run("add", "--name", "off", "--every", "1h", "--message", "m", "--to", "1",
        "--disabled", clock=clock)  # fmt: skip
    lines = run("list", "--limit", "2", clock=clock).stdout.splitlines()
    assert [line.split()[1] for line in lines[1:3]] == ["h1", "h2"]
    assert lines[3] == (
        "Showing the first 2 of 3: `--limit N` shows more, `--limit 0` every one."
    )
    every = run("list", "--all", "--limit", "0", clock=clock).stdout.splitlines()
    assert [line.split()[1] for line in every[1:]] == ["h1", "h2", "h3", "off"]
    assert len(run.json("list", "--limit", "1", clock=clock)) == 1
    assert len(run.json("list", "--all", clock=clock)) == 4


@pytest.mark.parametrize("last", ["\U0010ffff", "\ud7ff", "9", "z"])
def test_an_odd_last_character_in_a_reference_is_just_not_found(
    run: Cli, last: str
) -> None:
    """An id prefix is matched by its characters, whatever its last one is (the
    highest code point, the one before the surrogates) and on either engine."""
    added = run.json("add", "--every", "1h", "--message", "m", "--to", "42")
    assert "No reminder with id or name" in run("show", "abc" + last, code=66).stderr
    assert run.json("show", added["id"][:4])["id"] == added["id"]
