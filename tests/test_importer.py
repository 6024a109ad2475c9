"""Importing and exporting OpenClaw stores through the CLI, as a user moves over."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminders.app import AppContext
from reminders.clock import FakeClock
from reminders.config import Settings, resolve_paths
from reminders.errors import ImportFormatError
from reminders.transfer import plan_import
from tests.conftest import REPO, Cli, db_rows

pytestmark = pytest.mark.engines("sqlite", "postgresql")

DATA = REPO / "tests" / "data"
SPLIT = DATA / "01-split-store-2026.5" / "jobs.json"
INLINE = DATA / "02-inline-state-2026.3-4.json"
CLOCK_MS = 1795514400000  # 2026-11-24T10:00:00Z


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(CLOCK_MS)


def actions(report: dict[str, Any]) -> dict[str, str]:
    return {(job.get("id") or "-")[:8]: job["action"] for job in report["jobs"]}


def test_split_store_report_is_pinned(run: Cli, clock: FakeClock) -> None:
    """Every job of the 2026.5 split store is imported or refused for a stated reason."""
    report = run.json("import", str(SPLIT), clock=clock)
    assert actions(report) == {
        "3f9c2a71": "refused",
        "8a1d4e2f": "imported",
        "c25e7b90": "imported",
        "e7b04c13": "imported",
        "5d6a8f31": "imported",
        "91c3e5a7": "imported",
        "b4f2a6c8": "imported",
        "0e8d7c6b": "imported",
        # rows OpenClaw had quarantined are reported, not imported
        "f00dbabe": "skipped",
        "-": "skipped",
    }
    reasons = {
        (job.get("id") or "-")[:8]: job.get("reason", "") for job in report["jobs"]
    }
    assert "quarantined by OpenClaw (invalid-schedule)" in reasons["f00dbabe"]
    assert "quarantined by OpenClaw (non-object-row)" in reasons["-"]
    assert "--default-to" in reasons["3f9c2a71"]
    notes = {
        (job.get("id") or "-")[:8]: " ".join(job.get("notes", []))
        for job in report["jobs"]
    }
    assert "webhook: POSTed to hooks.example.com" in notes["91c3e5a7"]
    assert "failureDestination kept but inert" in notes["91c3e5a7"]
    assert "webhook: POSTed to hooks.example.com" in notes["b4f2a6c8"]
    assert "delivered as written" in notes["e7b04c13"]
    assert "configured zone UTC" in notes["5d6a8f31"]
    assert "nothing is sent" in notes["c25e7b90"]
    assert report["runs"] == 7 and report["runsAdded"] == 7
    stored = {r["id"][:8]: r for r in run.json("list", "--all", clock=clock)}
    assert stored["8a1d4e2f"]["enabled"] is False  # a kept one-shot that already ran
    assert stored["5d6a8f31"]["schedule"]["staggerMs"] == 300000
    assert (
        stored["e7b04c13"]["state"]["lastRunStatus"] == "error"
    )  # merged sidecar state
    assert stored["e7b04c13"]["delivery"]["to"] == "-1001234567890:topic:42"


def test_inline_store_with_default_to(run: Cli, clock: FakeClock) -> None:
    """The inline-state era imports; --default-to gives target-less jobs a chat."""
    report = run.json("import", str(INLINE), "--default-to", "555", clock=clock)
    assert actions(report) == {
        "3f9c2a71": "imported",
        "c25e7b90": "imported",
        "e7b04c13": "imported",
        "5d6a8f31": "imported",
        "91c3e5a7": "imported",
        "b4f2a6c8": "imported",
    }
    dentist = run.json("show", "3f9c2a71-5b8e-4d2a-9c41-7e1f0b6d2a11", clock=clock)
    assert dentist["delivery"]["to"] == "555"
    past = next(job for job in report["jobs"] if job["id"].startswith("3f9c2a71"))
    assert any("fires at once" in note for note in past["notes"])


def test_second_import_changes_nothing(run: Cli, clock: FakeClock, home: Path) -> None:
    """Importing the same store twice leaves the database exactly as the first time."""
    run("import", str(SPLIT), clock=clock)
    before = db_rows(home)
    report = run.json("import", str(SPLIT), clock=clock)
    assert report["summary"]["imported"] == 0 and report["summary"]["unchanged"] == 7
    assert report["runsAdded"] == 0
    assert db_rows(home) == before


def test_replace_updates_changed_jobs(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """A changed job is reported, and updated only with --replace."""
    run("import", str(SPLIT), clock=clock)
    data = json.loads(SPLIT.read_text())
    data["jobs"][4]["schedule"]["expr"] = "15 * * * *"
    changed = tmp_path / "jobs.json"
    changed.write_text(json.dumps(data))
    held = run.json("import", str(changed), clock=clock)
    assert "--replace" in held["jobs"][4]["reason"]
    updated = run.json("import", str(changed), "--replace", clock=clock)
    assert updated["jobs"][4]["action"] == "updated"
    assert (
        run.json("show", data["jobs"][4]["id"], clock=clock)["schedule"]["expr"]
        == "15 * * * *"
    )


def test_dry_run_writes_nothing(run: Cli, clock: FakeClock, home: Path) -> None:
    """--dry-run reports what would happen and stores nothing."""
    run("list")
    before = db_rows(home)
    result = run("import", str(SPLIT), "--dry-run", clock=clock)
    assert "Dry run: nothing was changed." in result.stdout
    assert "would" in result.stdout.lower()
    assert db_rows(home) == before


def test_import_export_import_is_a_fixed_point(
    run: Cli, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import → export → import gives the same reminders, ids and schedules."""
    run("import", str(SPLIT), clock=clock)
    first = tmp_path / "first.json"
    run("export", str(first), clock=clock)
    monkeypatch.setenv("REMINDERS_HOME", str(tmp_path / "second-home"))
    run("import", str(first), clock=clock)
    second = tmp_path / "second.json"
    run("export", str(second), clock=clock)
    assert first.read_text() == second.read_text()
    jobs = json.loads(first.read_text())["jobs"]
    assert {job["id"][:8] for job in jobs} == {
        "8a1d4e2f",
        "c25e7b90",
        "e7b04c13",
        "5d6a8f31",
        "91c3e5a7",
        "b4f2a6c8",
        "0e8d7c6b",
    }
    # webhook jobs go back out in OpenClaw's own delivery shape
    source = {job["id"]: job for job in json.loads(SPLIT.read_text())["jobs"]}
    for job in jobs:
        if job["id"][:8] in ("91c3e5a7", "b4f2a6c8"):
            assert job["delivery"] == source[job["id"]]["delivery"]


def test_export_is_private_and_shaped_like_openclaw(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """The export is 0600, 2-space JSON without a trailing newline, in OpenClaw key order."""
    run(
        "add",
        "--name",
        "Tea",
        "--every",
        "1h",
        "--message",
        "tea",
        "--to",
        "1",
        "--silent",
        "--catch-up",
        "2h",
        clock=clock,
    )
    path = tmp_path / "jobs.json"
    run("export", str(path), clock=clock)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert not text.endswith("\n") and text.startswith(
        '{\n  "version": 1,\n  "jobs": ['
    )
    [job] = json.loads(text)["jobs"]
    assert list(job) == [
        "id",
        "name",
        "enabled",
        "createdAtMs",
        "updatedAtMs",
        "schedule",
        "sessionTarget",
        "wakeMode",
        "payload",
        "delivery",
        "state",
    ]
    assert "silent" not in job["delivery"] and "catchUpMs" not in job
    assert job["sessionTarget"] == "isolated" and job["wakeMode"] == "now"


LEGACY = [
    {
        "jobId": "legacy-1",
        "schedule": {"atMs": "1800000000000"},
        "message": "old at",
        "channel": "Telegram",
        "to": "42",
        "enabled": "true",
    },
    {
        "id": "legacy-2",
        "schedule": "0 9 * * 1",
        "payload": {
            "kind": "systemevent",
            "text": "weekly",
            "deliver": True,
            "channel": "telegram",
            "to": "-1001",
            "threadId": 5,
        },
    },
    {
        "id": "legacy-3",
        "kind": "every",
        "everyMs": "60000",
        "text": "every minute",
        "delivery": {"mode": "deliver", "channel": "tg", "to": "7"},
        "deleteAfterRun": "false",
    },
    {
        "id": "legacy-4",
        "schedule": {"cron": "*/5 * * * *", "tz": "Asia/Tokyo"},
        "payload": {"message": "tokyo", "model": "x"},
        "delivery": {"to": "telegram:99"},
    },
]


def test_legacy_rows_are_normalised_as_openclaw_does(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """jobId, atMs, string schedules, top-level and in-payload delivery, string booleans."""
    path = tmp_path / "jobs.json"
    path.write_text("// an old hand-edited store\n" + json.dumps(LEGACY)[:-1] + ",]")
    report = run.json("import", str(path), clock=clock)
    assert [job["action"] for job in report["jobs"]] == ["imported"] * 4
    stored = {r["id"]: r for r in run.json("list", "--all", clock=clock)}
    assert stored["legacy-1"]["schedule"] == {
        "kind": "at",
        "at": "2027-01-15T08:00:00.000Z",
    }
    assert stored["legacy-1"]["payload"] == {"kind": "agentTurn", "message": "old at"}
    assert (
        stored["legacy-1"]["name"] == "old at" and stored["legacy-1"]["deleteAfterRun"]
    )
    assert stored["legacy-2"]["schedule"]["expr"] == "0 9 * * 1"
    assert stored["legacy-2"]["delivery"]["threadId"] == 5
    assert stored["legacy-2"]["payload"] == {"kind": "systemEvent", "text": "weekly"}
    assert stored["legacy-3"]["schedule"]["everyMs"] == 60000
    assert stored["legacy-3"]["deleteAfterRun"] is False
    assert stored["legacy-4"]["schedule"]["tz"] == "Asia/Tokyo"
    assert stored["legacy-4"]["delivery"]["to"] == "telegram:99"


def test_channel_last_needs_a_prefix_or_the_flag(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """channel 'last' with an unprefixed target is refused unless --last-is-telegram."""
    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "x",
                    "schedule": "0 9 * * *",
                    "message": "m",
                    "delivery": {"channel": "last", "to": "123"},
                }
            ]
        )
    )
    assert (
        "--last-is-telegram"
        in run.json("import", str(path), clock=clock)["jobs"][0]["reason"]
    )
    report = run.json("import", str(path), "--last-is-telegram", clock=clock)
    assert report["jobs"][0]["action"] == "imported"


def _openclaw_home(root: Path) -> Path:
    state = root / ".openclaw" / "state"
    state.mkdir(parents=True)
    with sqlite3.connect(state / "openclaw.sqlite") as conn:
        conn.execute(
            "CREATE TABLE cron_jobs (job_id TEXT PRIMARY KEY, enabled INTEGER, "
            "job_json TEXT, state_json TEXT)"
        )
        rows = [
            (
                "s-1",
                1,
                {
                    "id": "s-1",
                    "name": "Stretch",
                    "schedule": {"kind": "cron", "expr": "0 * * * *", "tz": "UTC"},
                    "payload": {"kind": "systemEvent", "text": "stretch"},
                    "delivery": {"mode": "announce", "channel": "telegram", "to": "12"},
                },
                {"lastRunStatus": "ok"},
            ),
            (
                "s-2",
                1,
                {
                    "id": "s-2",
                    "name": "heartbeat",
                    "declarationKey": "core:hb",
                    "schedule": {"kind": "every", "everyMs": 60000},
                    "payload": {"kind": "heartbeat"},
                },
                None,
            ),
            (
                "s-3",
                0,
                {
                    "id": "s-3",
                    "name": "Script",
                    "schedule": {"kind": "every", "everyMs": 60000},
                    "payload": {"kind": "script", "argv": ["x"]},
                },
                None,
            ),
        ]
        conn.executemany(
            "INSERT INTO cron_jobs VALUES (?, ?, ?, ?)",
            [
                (i, e, json.dumps(j), json.dumps(s) if s else None)
                for i, e, j, s in rows
            ],
        )
    return root / ".openclaw"


def test_openclaw_folder_with_sqlite_state(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """A ~/.openclaw folder with the 2026.6+ database imports; system jobs are skipped."""
    folder = _openclaw_home(tmp_path)
    database = folder / "state" / "openclaw.sqlite"
    before = database.read_bytes()
    report = run.json("import", str(folder), clock=clock)
    assert actions(report) == {"s-1": "imported", "s-2": "skipped", "s-3": "skipped"}
    assert run.json("show", "Stretch", clock=clock)["state"]["lastRunStatus"] == "ok"
    assert database.read_bytes() == before  # opened read-only


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": 1, "jobs": [{"id": "a", "schedule": ', "not valid JSON"),
        (
            '{"version": 1, "jobs": [{"id": "a", "schedule": "0 9 * * *", "message": "m"}, 7]}',
            "job 1: not a JSON object",
        ),
        (
            '[{"id": "a", "schedule": {"kind": "every", "everyMs": "soon"}, "message": "m"}]',
            "job 0 (a): field 'schedule.everyMs'",
        ),
        (
            '[{"id": "a", "schedule": "0 9 * * *", "payload": {"kind": "agentTurn", "message": 5}}]',
            "job 0 (a): field 'payload.message'",
        ),
        ('{"version": 1, "jobs": {"a": 1}}', "holds no job list"),
    ],
)
def test_malformed_store_changes_nothing(
    run: Cli, clock: FakeClock, home: Path, tmp_path: Path, content: str, message: str
) -> None:
    """A broken file is refused whole (exit 65), naming the job and the field."""
    run("import", str(SPLIT), clock=clock)
    before = db_rows(home)
    path = tmp_path / "jobs.json"
    path.write_text(content)
    result = run("import", str(path), code=65, clock=clock)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert db_rows(home) == before


def test_missing_path_is_not_found(run: Cli, tmp_path: Path) -> None:
    """A path that does not exist exits 66."""
    assert (
        "does not exist" in run("import", str(tmp_path / "nope.json"), code=66).stderr
    )


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**13) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "jobId",
                    "name",
                    "schedule",
                    "kind",
                    "at",
                    "atMs",
                    "everyMs",
                    "expr",
                    "tz",
                    "payload",
                    "message",
                    "text",
                    "delivery",
                    "mode",
                    "channel",
                    "to",
                    "threadId",
                    "enabled",
                    "state",
                    "deliver",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(JSONISH, max_size=4))
def test_any_jobs_give_a_report_or_our_error(tmp_path: Path, jobs: list[Any]) -> None:
    """Arbitrary JSON as jobs gives a report or ImportFormatError, never another error."""
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(jobs))
    ctx = AppContext(Settings(), resolve_paths(), FakeClock(CLOCK_MS))
    try:
        plan = plan_import(ctx, path)
    except ImportFormatError:
        return
    assert len(plan.reports) == len(jobs)


def test_an_unreadable_quarantine_sidecar_is_reported_not_a_crash(
    run: Cli, clock: FakeClock, tmp_path: Path
) -> None:
    """A quarantine file OpenClaw left half-written is one line in the report; the
    jobs beside it still import."""
    store = tmp_path / "jobs.json"
    store.write_text(SPLIT.read_text())
    (tmp_path / "jobs-quarantine.json").write_text('{"jobs": [')
    report = run.json("import", str(store), clock=clock)
    skipped = [job for job in report["jobs"] if job["action"] == "skipped"]
    assert len(skipped) == 1
    assert "jobs-quarantine.json is unreadable" in skipped[0]["reason"]
    assert sum(job["action"] == "imported" for job in report["jobs"]) == 7
