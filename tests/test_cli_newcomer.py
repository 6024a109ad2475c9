"""A new user's first steps with the CLI: each command behaves as its words promise."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path

import pytest

from reminders.cli.common import Runtime
from reminders.clock import FakeClock
from reminders.delivery import make_sender
from reminders.firing import make_firer
from reminders.render import shortest_prefixes
from reminders.settings import validate_settings
from tests.conftest import Cli, Setup, db_rows, reminders_cmd
from tests.fake_bot_api import TOKEN, FakeBotApi, slow

pytestmark = pytest.mark.engines("sqlite", "postgresql")

MINUTE = 60_000


def add_cron(run: Cli, clock: FakeClock, *extra: str) -> dict[str, object]:
    return run.json(
        "add",
        "--name",
        "Standup",
        "--cron",
        "0 9 * * 1-5",
        "--tz",
        "Europe/Berlin",
        "--stagger",
        "5m",
        "--message",
        "Standup",
        "--to",
        "42",
        *extra,
        clock=clock,
    )


def test_edit_cron_keeps_the_zone_and_stagger(run: Cli, clock: FakeClock) -> None:
    """`edit --cron` alone changes the expression only: zone and stagger stay."""
    add_cron(run, clock)
    edited = run.json("edit", "Standup", "--cron", "30 8 * * 1-5", clock=clock)
    assert edited["schedule"] == {
        "kind": "cron",
        "expr": "30 8 * * 1-5",
        "tz": "Europe/Berlin",
        "staggerMs": 300_000,
    }
    named = run.json(
        "edit", "Standup", "--cron", "0 7 * * *", "--tz", "Asia/Tokyo", "--exact",
        clock=clock,
    )  # fmt: skip
    assert named["schedule"] == {
        "kind": "cron",
        "expr": "0 7 * * *",
        "tz": "Asia/Tokyo",
        "staggerMs": 0,
    }


def test_edit_without_flags_says_nothing_changed(
    run: Cli, clock: FakeClock, home: Path
) -> None:
    """`edit ID` with no flag is a usage error (64), not a silent "Updated"."""
    add_cron(run, clock)
    before = db_rows(home)
    result = run("edit", "Standup", code=64, clock=clock)
    assert "Updated" not in result.stdout
    assert result.stderr.startswith("Error: Nothing to change")
    assert len(result.stderr.strip().splitlines()) == 1
    assert db_rows(home) == before


def test_enable_rearms_a_one_shot_that_failed_without_a_token(
    run: Cli, clock: FakeClock
) -> None:
    """A one-shot that fell due before a token was set is disabled by its failed run;
    `enable` then shows when it fires (at once, late) instead of no next fire."""
    added = run.json(
        "add", "--name", "Tea", "--at", "20m", "--system-event", "Tea", "--to", "7",
        "--keep-after-run", clock=clock,
    )  # fmt: skip
    clock.advance(21 * MINUTE)
    runtime = Runtime(clock=clock)

    async def fire() -> None:
        async with make_sender(runtime.settings) as sender:
            firer = make_firer(runtime.app.store, sender, runtime.settings, clock)
            await firer.fire(added["id"])

    asyncio.run(fire())
    runtime.close()
    [failed] = run.json("list", "--all", clock=clock)
    assert failed["enabled"] is False and failed["state"]["lastRunStatus"] == "error"
    clock.advance(MINUTE)
    result = run("enable", "Tea", clock=clock)
    assert "next: 2026-11-24 10:22:00 UTC (+00:00), due now" in result.stdout
    [armed] = run.json("list", clock=clock)
    assert armed["state"]["nextRunAtMs"] == clock.now_ms()


def test_enable_says_why_a_sent_one_shot_has_no_next_fire(
    run: Cli, clock: FakeClock
) -> None:
    """A one-shot already sent and kept has no next fire; `enable` says how to give
    it one rather than printing a bare "no further fire"."""
    added = run.json(
        "add", "--name", "Tea", "--at", "20m", "--system-event", "Tea", "--to", "7",
        "--keep-after-run", "--disabled", clock=clock,
    )  # fmt: skip
    runtime = Runtime(clock=clock)
    with runtime.app.store.write() as conn:
        reminder = conn.get(added["id"])
        assert reminder is not None
        reminder.state.lastRunAtMs = clock.now_ms() + 20 * MINUTE
        reminder.state.lastRunStatus = "ok"
        conn.save(reminder, clock.now_ms())
    runtime.close()
    result = run("enable", "Tea", clock=clock)
    assert "next: none: this one-shot has already run" in result.stdout
    assert f"reminders edit {added['id'][:8]} --at TIME" in result.stdout


def test_shortest_prefixes_are_unique_and_at_least_four() -> None:
    ids = ["abcdef12", "abcdff34", "b0000000", "abcdef19"]
    assert shortest_prefixes(ids, 4) == {
        "abcdef12": "abcdef12",
        "abcdef19": "abcdef19",
        "abcdff34": "abcdf",
        "b0000000": "b000",
    }


def test_list_shows_short_ids_that_every_command_accepts(
    run: Cli, clock: FakeClock
) -> None:
    """`list` shows each id's shortest unique prefix (4+ characters), and `show`,
    `edit` and `rm` accept it."""
    for n in range(3):
        run("add", "--every", "1h", "--message", f"m{n}", "--to", "1", clock=clock)
    listed = run("list", clock=clock).stdout.splitlines()[1:]
    shorts = [line.split()[0] for line in listed]
    assert all(4 <= len(short) < 36 for short in shorts)
    stored = {r["id"] for r in run.json("list", clock=clock)}
    for short in shorts:
        [full] = [i for i in stored if i.startswith(short)]
        assert run.json("show", short, clock=clock)["id"] == full
    run.json("edit", shorts[0], "--name", "renamed", clock=clock)
    run("rm", shorts[1], clock=clock)
    assert len(run.json("list", clock=clock)) == 2
    run("show", "abc", code=66, clock=clock)  # under 4 characters: not a prefix


def test_openclaw_cron_verbs_work_as_aliases(
    run: Cli, clock: FakeClock, telegram: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cron add/list/edit/run/runs --id/status/rm`, typed as `openclaw cron` takes
    them, run our commands."""
    monkeypatch.setenv("REMINDERS_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("REMINDERS_TELEGRAM_API_BASE_URL", telegram.base_url)
    added = run.json(
        "cron", "add", "--name", "Tea", "--every", "1h", "--message", "Tea",
        "--to", "31", clock=clock,
    )  # fmt: skip
    assert [r["id"] for r in run.json("cron", "list", clock=clock)] == [added["id"]]
    run("cron", "edit", added["id"], "--message", "Green tea", clock=clock)
    assert "Sent 'Tea'" in run("cron", "run", added["id"], clock=clock).stdout
    assert telegram.texts() == ["Green tea"]
    [history] = run.json("cron", "runs", "--id", added["id"], clock=clock)
    assert history["status"] == "sent" and history["trigger"] == "manual"
    assert run.json("runs", "--id", added["id"][:4], clock=clock) == [history]
    run("runs", added["id"], "--id", "other", code=64, clock=clock)
    status = run("cron", "status", code=69, clock=clock)
    assert "daemon:     stopped" in status.stdout
    run("cron", "rm", added["id"], clock=clock)
    assert run.json("cron", "list", "--all", clock=clock) == []


def test_config_show_prints_toml_that_parses(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config show` is TOML: it parses, holds every effective value, and the token
    in it is masked."""
    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    monkeypatch.setenv("REMINDERS_TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("REMINDERS_DAEMON_POLL_INTERVAL", "2s")
    out = run("config", "show").stdout
    parsed = tomllib.loads(out)
    assert token not in out
    assert parsed["telegram"]["bot_token"] == "1234…YZ"
    assert parsed["telegram"]["link_preview"] is False
    assert parsed["telegram"]["read_timeout"] == 10.0
    assert parsed["daemon"]["poll_interval"] == "2s"
    assert parsed["general"]["timezone"] == "UTC"
    shown = {k: v for k, v in parsed.items()}
    shown["telegram"]["bot_token"] = ""
    validate_settings(shown)  # a valid config file, too
    monkeypatch.delenv("REMINDERS_TELEGRAM_BOT_TOKEN")
    assert tomllib.loads(run("config", "show").stdout)["telegram"]["bot_token"] == ""


def test_a_bad_environment_variable_is_named(
    run: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value from the environment names the variable, not the config file."""
    monkeypatch.setenv("REMINDERS_DELIVERY_DEADLINE", "soon")
    result = run("list", code=78)
    assert result.stderr.startswith(
        "Error: Environment variable REMINDERS_DELIVERY_DEADLINE: Invalid duration"
    )
    assert "config.toml" not in result.stderr
    monkeypatch.setenv("REMINDERS_GENERAL_TIMEZONE", "Mars/Olympus")
    monkeypatch.delenv("REMINDERS_DELIVERY_DEADLINE")
    assert "REMINDERS_GENERAL_TIMEZONE" in run("list", code=78).stderr
    monkeypatch.delenv("REMINDERS_GENERAL_TIMEZONE")
    (home / "config.toml").write_text('[delivery]\ndeadline = "soon"\n')
    assert "config.toml" in run("list", code=78).stderr


def test_send_test_without_a_token_is_a_config_error(run: Cli) -> None:
    """No token is configuration (78), with the way to set one; `run` agrees."""
    result = run("send-test", "--to", "42", code=78)
    assert "REMINDERS_TELEGRAM_BOT_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    added = run.json("add", "--every", "1h", "--message", "m", "--to", "42")
    result = run("run", added["id"], code=78)
    assert "REMINDERS_TELEGRAM_BOT_TOKEN" in result.stderr


@pytest.mark.slow
def test_doctor_warns_without_a_service_and_passes(
    setup: Setup, tmp_path: Path
) -> None:
    """With the daemon run by hand and no service installed, `doctor` WARNs about
    the service and exits 0."""
    setup.env["HOME"] = str(tmp_path)
    setup.start()
    result = reminders_cmd(setup.home, "doctor", env=setup.env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert lines["service"].startswith("WARN") and "service install" in lines["service"]
    assert lines["daemon"].startswith("ok") and lines["token"].startswith("ok")
    checks = json.loads(
        reminders_cmd(setup.home, "doctor", "--json", env=setup.env).stdout
    )
    service = next(c for c in checks if c["check"] == "service")
    assert service["ok"] is True and service["level"] == "warn"


BARE_JOBS = [
    {  # no createdAtMs, fields we have no use for
        "id": "bare-every",
        "name": "Water",
        "schedule": {"kind": "every", "everyMs": 3_600_000},
        "payload": {"kind": "systemEvent", "text": "Drink"},
        "delivery": {"mode": "announce", "channel": "telegram", "to": "7"},
        "isolation": {"postToMainPrefix": "Cron"},
        "notify": True,
        "scheduledToolPolicy": {"allow": ["read"]},
    },
    {  # no id and no createdAtMs: OpenClaw's loader gives it one
        "name": "Standup",
        "schedule": {"kind": "cron", "expr": "0 9 * * 1-5", "tz": "Europe/Berlin"},
        "payload": {"kind": "systemEvent", "text": "Standup"},
        "delivery": {"mode": "announce", "channel": "telegram", "to": "8"},
    },
    {
        "id": "bare-at",
        "schedule": {"kind": "at", "at": "2027-01-01T09:00:00.000Z"},
        "payload": {"kind": "systemEvent", "text": "New year"},
        "delivery": {"mode": "announce", "channel": "telegram", "to": "9"},
    },
]


def test_import_without_created_at_is_idempotent(
    run: Cli, clock: FakeClock, home: Path, tmp_path: Path
) -> None:
    """Jobs without createdAtMs (or without an id) import once; importing the same
    file later, with or without --replace, reports each unchanged and writes nothing."""
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"version": 1, "jobs": BARE_JOBS}))
    first = run.json("import", str(path), clock=clock)
    assert [job["action"] for job in first["jobs"]] == ["imported"] * 3
    before = db_rows(home)
    for flags in ([], ["--replace"]):
        clock.advance(3 * MINUTE)
        again = run.json("import", str(path), *flags, clock=clock)
        assert [job["action"] for job in again["jobs"]] == ["unchanged"] * 3
        assert all("reason" not in job for job in again["jobs"])
        assert db_rows(home) == before
    text = run("import", str(path), clock=clock).stdout
    assert "3 unchanged" in text and "exists here" not in text


def test_import_report_says_one_thing_per_job(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """A job that differs from the stored one is `kept` (not "unchanged ... with
    changes") until --replace updates it."""
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"version": 1, "jobs": BARE_JOBS}))
    run("import", str(path), clock=clock)
    changed = [dict(BARE_JOBS[0], name="Water!"), *BARE_JOBS[1:]]
    path.write_text(json.dumps({"version": 1, "jobs": changed}))
    held = run.json("import", str(path), clock=clock)
    assert [job["action"] for job in held["jobs"]] == ["kept", "unchanged", "unchanged"]
    assert held["summary"]["kept"] == 1 and "--replace" in held["jobs"][0]["reason"]
    line = next(
        line for line in run("import", str(path), clock=clock).stdout.splitlines()
        if "bare-every" in line
    )  # fmt: skip
    assert line.split()[0] == "kept" and "unchanged" not in line
    updated = run.json("import", str(path), "--replace", clock=clock)
    assert updated["jobs"][0]["action"] == "updated"


def test_import_lists_the_fields_it_drops(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """OpenClaw fields with no place here are named in that job's report."""
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"version": 1, "jobs": BARE_JOBS}))
    report = run.json("import", str(path), "--dry-run", clock=clock)
    notes = [" ".join(job.get("notes", [])) for job in report["jobs"]]
    assert "dropped" in notes[0]
    for key in ("isolation", "notify", "scheduledToolPolicy"):
        assert key in notes[0]
    assert "dropped" not in notes[1] and "dropped" not in notes[2]
    text = run("import", str(path), "--dry-run", clock=clock).stdout
    assert "isolation, notify, scheduledToolPolicy" in text


@pytest.mark.slow
def test_agenda_says_where_it_cut_and_how_to_see_more(
    run: Cli, clock: FakeClock
) -> None:
    """A reminder firing more than 500 times in the window is cut, and said so."""
    run("add", "--name", "Tick", "--every", "1m", "--message", "t", "--to", "1",
        clock=clock)  # fmt: skip
    run("add", "--name", "Daily", "--cron", "0 8 * * *", "--message", "d", "--to", "1",
        clock=clock)  # fmt: skip
    out = run("agenda", "--days", "1", clock=clock).stdout.splitlines()
    assert sum(line.endswith("  Tick") for line in out) == 500
    assert out[-1] == (
        "Cut: 'Tick' fires more than 500 times in 1 day(s); shown up to "
        "2026-11-24 18:20:00 UTC (+00:00). See more with --limit 5000 or fewer --days."
    )
    full = run("agenda", "--days", "1", "--limit", "5000", clock=clock).stdout
    assert sum(line.endswith("  Tick") for line in full.splitlines()) == 1440
    assert "Cut:" not in full
    result = run("agenda", "--days", "1", "--json", clock=clock)
    assert len(json.loads(result.stdout)) == 501 and "Cut: 'Tick'" in result.stderr
    assert "Cut:" not in run("agenda", "--days", "1", "--limit", "1440",
                             clock=clock).stdout  # fmt: skip


@pytest.mark.slow
def test_runs_shows_lateness_at_delivery(
    run: Cli, telegram: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send that takes 1.5 s shows LATE as measured when Telegram accepted it;
    `--json` keeps both the start and the delivery instants."""
    monkeypatch.setenv("REMINDERS_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("REMINDERS_TELEGRAM_API_BASE_URL", telegram.base_url)
    added = run.json("add", "--every", "1h", "--message", "Tea", "--to", "31")
    telegram.fail_next(slow(1.5))
    run("run", added["id"])
    [sent] = run.json("runs")
    assert sent["status"] == "sent"
    assert sent["deliveredAtMs"] - sent["startedAtMs"] >= 1500
    row = run("runs").stdout.splitlines()[1]
    late = next(cell for cell in row.split() if cell.endswith("s") and "." in cell)
    assert late == f"{(sent['deliveredAtMs'] - sent['scheduledForMs']) / 1000:.3f}s"
    assert float(late[:-1]) >= 1.5


def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("reminders.service.is_macos", lambda: False)


def test_service_install_carries_the_token_in_a_private_file(
    run: Cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token set in the shell reaches the unit through a 0600 EnvironmentFile,
    never through the unit text; a home under /tmp is warned about and the unit
    drops PrivateTmp so it can still see it."""
    fake_systemctl(tmp_path, monkeypatch)
    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    monkeypatch.setenv("REMINDERS_TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("REMINDERS_DELIVERY_DEADLINE", "5m")
    result = run("service", "install")
    unit = (tmp_path / ".config/systemd/user/reminders.service").read_text()
    env_file = home.resolve() / "service.env"
    assert f"EnvironmentFile={env_file}" in unit.splitlines()
    assert "Environment=REMINDERS_DELIVERY_DEADLINE=5m" in unit.splitlines()
    assert token not in unit and token not in result.stdout + result.stderr
    assert env_file.read_text() == f"REMINDERS_TELEGRAM_BOT_TOKEN={token}\n"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "PrivateTmp=no" in unit.splitlines()
    assert "temporary folder" in result.stderr and str(home) in result.stderr
    run("service", "uninstall")
    assert not env_file.exists()


def test_service_unit_keeps_private_tmp_for_a_lasting_home(
    run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a home outside /tmp the unit stays sandboxed and nothing is warned."""
    fake_systemctl(tmp_path, monkeypatch)
    monkeypatch.setenv("REMINDERS_HOME", "/srv/reminders-home")
    monkeypatch.setenv("REMINDERS_TELEGRAM_BOT_TOKEN", "123456:ABCDEFGHIJKLMNOP")
    result = run("service", "install", "--print")
    lines = result.stdout.splitlines()
    assert "PrivateTmp=yes" in lines
    assert "EnvironmentFile=/srv/reminders-home/service.env" in lines
    assert result.stderr == ""
    assert not Path("/srv/reminders-home").exists()


def test_config_show_hides_a_database_password(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password in database.url is never printed, as TOML or as JSON."""
    monkeypatch.setenv(
        "REMINDERS_DATABASE_URL", "postgresql+psycopg://app:s3cretpw@127.0.0.1:9/x"
    )
    out = run("config", "show").stdout + run("config", "show", "--json").stdout
    assert "s3cretpw" not in out
    assert "postgresql+psycopg://app:***@127.0.0.1:9/x" in out
