"""Bad input, as an attacker or a slip of the keyboard would give it: each row is
refused with its exit code and one line on stderr, and the store is left exactly
as it was (the database file, byte for byte)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reminders.cli import cli
from reminders.cli.common import Runtime
from reminders.clock import FakeClock
from tests.conftest import Cli

T0 = 1795514400000  # 2026-11-24T10:00:00Z


def _job(**fields: Any) -> dict[str, Any]:
    job = {
        "id": "a",
        "name": "n",
        "schedule": {"kind": "every", "everyMs": 60_000},
        "payload": {"kind": "systemEvent", "text": "hi"},
        "delivery": {"mode": "announce", "channel": "telegram", "to": "1"},
    }
    job.update(fields)
    return job


def _store_text(*jobs: dict[str, Any]) -> str:
    return json.dumps({"version": 1, "jobs": list(jobs)})


def _write(tmp: Path, content: str | bytes, name: str = "jobs.json") -> str:
    path = tmp / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def _fifo(tmp: Path) -> str:
    path = tmp / "jobs.fifo"
    os.mkfifo(path)
    return str(path)


def _huge(tmp: Path) -> str:
    path = tmp / "huge.json"
    with path.open("wb") as handle:  # sparse: 65 MB that take no room
        handle.truncate(65 * 1024 * 1024)
    return str(path)


def _malformed_10mb(tmp: Path) -> str:
    rows = ",".join(json.dumps(_job(id=f"j{i}")) for i in range(60_000))
    return _write(tmp, '{"jobs": [' + rows + ",, ]}")


def _deep(tmp: Path) -> str:
    return _write(tmp, '{"jobs": ' + "[" * 10_000 + "]" * 10_000 + "}")


Args = Callable[[Path], list[str]]


def imp(make: Callable[[Path], str]) -> Args:
    return lambda tmp: ["import", make(tmp)]


# (id, args built in a temp folder, exit code, a fragment of the one line)
ROWS: list[tuple[str, Args, int, str]] = [
    ("import nested 10,000 deep", imp(_deep), 65, "nested too deeply"),
    (
        "import 1e309",
        imp(lambda t: _write(t, '{"jobs": [{"id": "a", "atMs": 1e309}]}')),
        65,
        "jobs[0].atMs is inf",
    ),
    (
        "import NaN",
        imp(lambda t: _write(t, '{"jobs": [{"id": "a", "everyMs": NaN}]}')),
        65,
        "jobs[0].everyMs is nan",
    ),
    (
        "import an integer of 10^30",
        imp(
            lambda t: _write(t, '{"jobs": [{"id": "a", "n": ' + "1" + "0" * 30 + "}]}")
        ),
        65,
        "jobs[0].n is 1e+30, out of range",
    ),
    (
        "import atMs 1e30",
        imp(lambda t: _write(t, '{"jobs": [{"id": "a", "schedule": {"atMs": 1e30}}]}')),
        65,
        "jobs[0].schedule.atMs is 1e+30, out of range",
    ),
    (
        "import atMs past the year 9999",
        imp(lambda t: _write(t, _store_text(_job(schedule={"atMs": 2**52})))),
        65,
        "'schedule.atMs' is not a time between 1970 and 9999",
    ),
    (
        "import createdAtMs before 1970",
        imp(lambda t: _write(t, _store_text(_job(createdAtMs=-5)))),
        65,
        "'createdAtMs' is not a time between 1970 and 9999",
    ),
    (
        "import invalid UTF-8",
        imp(lambda t: _write(t, b'{"jobs": [{"id": "\xff\xfe"}]}')),
        65,
        "is not UTF-8 text (bad byte at offset 18)",
    ),
    (
        "import a lone surrogate",
        imp(lambda t: _write(t, '{"jobs": [{"id": "a", "name": "\\ud800"}]}')),
        65,
        "jobs[0].name holds a lone UTF-16 surrogate",
    ),
    (
        "import /proc/self/mem",
        lambda t: ["import", "/proc/self/mem"],
        66,
        "Cannot read",
    ),
    ("import /dev/zero", lambda t: ["import", "/dev/zero"], 65, "not a regular file"),
    ("import a FIFO", imp(_fifo), 65, "not a regular file"),
    ("import 65 MB", imp(_huge), 65, "the limit is 64 MB"),
    ("import 10 MB malformed", imp(_malformed_10mb), 65, "is not valid JSON (line 1"),
    (
        "import a string number of 10^30",
        imp(lambda t: _write(t, _store_text(_job(createdAtMs="1" + "0" * 30)))),
        65,
        "'createdAtMs' is out of range",
    ),
    (
        "every 1ms",
        lambda t: ["add", "--every", "1ms", "--message", "m", "--to", "1"],
        65,
        "shorter than the minimum of 1s",
    ),
    (
        "every 999ms",
        lambda t: ["add", "--every", "999ms", "--message", "m", "--to", "1"],
        65,
        "minimum of 1s",
    ),
    (
        "cron 5-1",
        lambda t: ["add", "--cron", "5-1 * * * *", "--message", "m", "--to", "1"],
        65,
        "the minute range 5-1 runs backwards",
    ),
    (
        "cron 0-59/1000",
        lambda t: ["add", "--cron", "0-59/1000 * * * *", "--message", "m", "--to", "1"],
        65,
        "the minute step in 0-59/1000 is wider than the field",
    ),
    (
        "cron FRI-MON",
        lambda t: ["add", "--cron", "0 9 * * FRI-MON", "--message", "m", "--to", "1"],
        65,
        "the day of week range FRI-MON runs backwards",
    ),
    (
        "cron hour step 25",
        lambda t: ["add", "--cron", "0 0 */25 * * *", "--message", "m", "--to", "1"],
        65,
        "the hour step in */25",
    ),
    (
        "a text over 16 x 4096 characters",
        lambda t: ["add", "--every", "1h", "--message", "x" * 65_537, "--to", "1"],
        65,
        "65,537 characters; the limit is 65,536",
    ),
    (
        "argv not UTF-8",
        lambda t: ["add", "--at", "20m", "--message", "\udcff\udcfe", "--to", "1"],
        64,
        "is not valid UTF-8 text",
    ),
    ("export .", lambda t: ["export", "."], 64, ". is a folder"),
    ("export ''", lambda t: ["export", ""], 64, "The export path is empty"),
    ("export a folder", lambda t: ["export", str(t)], 64, "is a folder"),
    ("export /proc/version", lambda t: ["export", "/proc/version"], 64, "Cannot write"),
    ("rm ' '", lambda t: ["rm", " "], 64, "The reminder id is empty"),
    ("show ''", lambda t: ["show", ""], 64, "The reminder id is empty"),
    ("runs ''", lambda t: ["runs", ""], 64, "The reminder id is empty"),
    ("runs --id ' '", lambda t: ["runs", "--id", " "], 64, "id is empty"),
    ("edit ' '", lambda t: ["edit", " ", "--name", "x"], 64, "id is empty"),
]


def _seed(home: Path, run: Cli, clock: FakeClock) -> None:
    run("add", "--name", "daily", "--cron", "0 9 * * *", "--message", "m", "--to", "1")
    run("add", "--name", "once", "--at", "2h", "--message", "m", "--to", "2")
    _settle(home)


def _settle(home: Path) -> None:
    """Fold the WAL into the database file, so its bytes are the whole store."""
    with sqlite3.connect(home / "reminders.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _invoke(args: list[str], clock: FakeClock) -> Any:
    from click.testing import CliRunner

    return CliRunner().invoke(cli, args, obj=Runtime(clock=clock))


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [pytest.param(args, code, line, id=name) for name, args, code, line in ROWS],
)
def test_refused_with_one_line_and_the_store_untouched(
    home: Path, tmp_path: Path, clock: FakeClock, args: Args, code: int, line: str
) -> None:
    """Each hostile input exits with its code, one `Error:` line, nothing changed."""
    run = Cli(clock=clock)
    _seed(home, run, clock)
    before = (home / "reminders.db").read_bytes()
    result = _invoke(args(tmp_path), clock)
    _settle(home)
    lines = result.stderr.splitlines()
    assert (result.exit_code, len(lines)) == (code, 1), result.stderr
    assert lines[0].startswith("Error: ") and line in lines[0], lines[0]
    assert (home / "reminders.db").read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_import_of_a_file_it_may_not_read_exits_66(tmp_path: Path, run: Cli) -> None:
    """A jobs.json without read permission is named, with the fix."""
    path = Path(_write(tmp_path, _store_text(_job())))
    path.chmod(0)
    result = run("import", str(path), code=66)
    assert "Check its permissions" in result.stderr


def test_a_name_that_is_another_reminders_id_prefix_is_ambiguous(
    home: Path, clock: FakeClock
) -> None:
    """rm of a name that is also another reminder's id prefix removes neither."""
    run = Cli(clock=clock)
    first = run.json(
        "add", "--name", "one", "--every", "1h", "--message", "m", "--to", "1"
    )
    prefix = first["id"][:8]
    second = run.json(
        "add", "--name", prefix, "--every", "1h", "--message", "m", "--to", "1"
    )
    _settle(home)
    before = (home / "reminders.db").read_bytes()
    result = run("rm", prefix, code=65)
    _settle(home)
    assert f"{first['id']} (one)" in result.stderr
    assert f"{second['id']} ({prefix})" in result.stderr
    assert (home / "reminders.db").read_bytes() == before
    run("rm", second["id"])  # the full id still says which one
    assert [r["id"] for r in run.json("list", "--all")] == [first["id"]]


def test_export_dash_writes_to_stdout(
    tmp_path: Path, run: Cli, monkeypatch: Any
) -> None:
    """`export -` prints the jobs.json instead of writing a file named `-`."""
    monkeypatch.chdir(tmp_path)
    run("add", "--name", "x", "--every", "1h", "--message", "m", "--to", "1")
    result = run("export", "-")
    assert json.loads(result.stdout)["jobs"][0]["name"] == "x"
    assert not (tmp_path / "-").exists()


def test_import_refuses_a_failure_alert_that_is_not_numeric(
    tmp_path: Path, run: Cli
) -> None:
    """A failureAlert with a non-numeric field is refused on import, not at fire time."""
    bad = _job(id="bad", failureAlert={"after": "twice", "to": "5"})
    good = _job(id="good", failureAlert={"after": 2, "cooldownMs": "60000"})
    path = _write(tmp_path, _store_text(bad, good))
    report = run.json("import", path)
    actions = {
        job["id"]: (job["action"], job.get("reason", "")) for job in report["jobs"]
    }
    assert actions["bad"][0] == "refused" and "failureAlert.after" in actions["bad"][1]
    assert actions["good"] == ("imported", "")
    stored = run.json("show", "good")
    assert stored["failureAlert"] == {"after": 2, "cooldownMs": 60000}


def test_import_refuses_an_interval_under_one_second(tmp_path: Path, run: Cli) -> None:
    """An imported everyMs under 1 s is refused in the report, the rest imported."""
    path = _write(
        tmp_path,
        _store_text(_job(id="fast", schedule={"kind": "every", "everyMs": 5}), _job()),
    )
    report = run.json("import", path)
    actions = {job["id"]: job["action"] for job in report["jobs"]}
    assert actions == {"fast": "refused", "a": "imported"}


@pytest.mark.slow
def test_json5_comments_and_trailing_commas_still_import(
    tmp_path: Path, run: Cli
) -> None:
    """Hand-edited stores with comments and trailing commas import, large ones too."""
    rows = ",\n".join(
        f"  // job {i}\n  {json.dumps(_job(id=f'j{i}'))}" for i in range(4000)
    )
    path = _write(tmp_path, '{"version": 1, /* edited */ "jobs": [\n' + rows + ",\n],}")
    assert os.path.getsize(path) > 256 * 1024  # past the JSON5 library's share
    report = run.json("import", path)
    assert report["summary"]["imported"] == 4000


# -- generated hostile input: only our errors, never a traceback (70) -----------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ODD_TEXT = st.text(
    st.characters(categories=["L", "N", "P", "S", "Zs", "Cc", "Cs"]), max_size=8
)
ODD_NUMBER = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [2**53, 2**53 - 1, -1, 0, 1e30, 10**30, 253_402_300_800_000, 2**52, -(2**40)]
    ),
)
KEYS = st.sampled_from(
    [
        "id",
        "name",
        "schedule",
        "kind",
        "at",
        "atMs",
        "everyMs",
        "anchorMs",
        "expr",
        "tz",
        "staggerMs",
        "payload",
        "text",
        "message",
        "delivery",
        "to",
        "threadId",
        "enabled",
        "createdAtMs",
        "state",
        "nextRunAtMs",
        "lastRunAtMs",
        "failureAlert",
        "after",
        "cooldownMs",
    ]
)
HOSTILE_JSON = st.recursive(
    st.none() | st.booleans() | ODD_NUMBER | ODD_TEXT,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6)
    ),
    max_leaves=16,
)
BASE_JOB = {
    "id": "fuzz",
    "name": "n",
    "schedule": {"kind": "at", "at": "2027-01-01T00:00:00Z"},
    "payload": {"kind": "systemEvent", "text": "hi"},
    "delivery": {"mode": "announce", "channel": "telegram", "to": "1"},
}


def _patched(patches: list[tuple[list[str], Any]]) -> dict[str, Any]:
    job = json.loads(json.dumps(BASE_JOB))
    for path, value in patches:
        node = job
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    return job


JOB_PATHS = st.sampled_from(
    [
        ["schedule", "atMs"],
        ["schedule", "everyMs"],
        ["schedule", "expr"],
        ["schedule", "kind"],
        ["schedule", "anchorMs"],
        ["schedule", "tz"],
        ["createdAtMs"],
        ["state"],
        ["state", "lastRunAtMs"],
        ["failureAlert"],
        ["payload", "text"],
        ["delivery", "to"],
        ["delivery", "threadId"],
        ["name"],
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(JOB_PATHS, st.one_of(ODD_NUMBER, ODD_TEXT, HOSTILE_JSON)),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["json", "raw"]),
)
def test_generated_stores_give_a_report_or_our_error(
    home: Path, tmp_path: Path, patches: list[tuple[list[str], Any]], form: str
) -> None:
    """Job-shaped JSON with odd numbers, surrogates and nesting: exit 0, 65 or 66."""
    clock = FakeClock(T0)
    job = _patched(patches)
    raw = form == "raw"  # surrogates and odd characters as bytes, not \u escapes
    text = json.dumps({"jobs": [job]}, allow_nan=True, ensure_ascii=not raw)
    path = tmp_path / "fuzz.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    before = (
        (home / "reminders.db").read_bytes()
        if (home / "reminders.db").exists()
        else b""
    )
    result = _invoke(["import", str(path)], clock)
    assert result.exit_code in (0, 65, 66), result.stderr
    assert "Traceback" not in result.stderr
    if result.exit_code:
        assert len(result.stderr.splitlines()) == 1
        if before:
            _settle(home)
            assert (home / "reminders.db").read_bytes() == before
    else:
        _invoke(["list", "--all"], clock)  # what was stored also lists
        assert _invoke(["show", "fuzz"], clock).exit_code in (0, 66)


NUMBER_TEXT = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"\A[0-9]{0,25}(\.[0-9]{0,6})?\Z"),
)
UNIT = st.sampled_from(["ms", "s", "m", "h", "d", "", "M", "D", "x"])
CRON_ITEM = st.one_of(
    st.sampled_from(["*", "?", "L", "MON", "SUN", "JAN", "DEC", "W", "#"]),
    st.integers(-5, 100).map(str),
    st.tuples(st.integers(-5, 100), st.integers(-5, 100)).map(
        lambda p: f"{p[0]}-{p[1]}"
    ),
    st.tuples(st.integers(-5, 100), st.integers(-5, 100), st.integers(0, 2000)).map(
        lambda p: f"{p[0]}-{p[1]}/{p[2]}"
    ),
    st.integers(0, 2000).map(lambda s: f"*/{s}"),
)
TIME_VALUE = st.one_of(
    st.tuples(NUMBER_TEXT, UNIT).map("".join),
    st.tuples(
        st.sampled_from(["in ", "+", "", "tomorrow ", "today at "]), NUMBER_TEXT, UNIT
    ).map("".join),
    st.tuples(st.integers(-1, 30), st.integers(-1, 70)).map(
        lambda p: f"{p[0]}:{p[1]:02d}"
    ),
    st.from_regex(
        r"\A[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
    ),
    ODD_TEXT,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(["--at", "--every", "--cron", "--stagger", "--catch-up"]),
    st.one_of(TIME_VALUE, st.sampled_from(["1ms", "999ms", "0.5s", "1s", ".9s"])),
    st.lists(CRON_ITEM, min_size=5, max_size=6).map(" ".join),
    st.sampled_from([None, "UTC", "Europe/Berlin", "Nowhere/Else", "", "../etc"]),
)
@example("--at", "\ud800", "0 9 * * *", None)  # a lone surrogate no byte gives
def test_generated_times_give_a_reminder_or_our_error(
    home: Path, flag: str, value: str, cron: str, tz: str | None
) -> None:
    """The time grammar (at, every, cron, zones, durations): exit 0, 64 or 65 only."""
    clock = FakeClock(T0)
    args = ["add", "--json", "--message", "m", "--to", "1"]
    if flag == "--cron":
        args += ["--cron", cron]
    elif flag in ("--stagger", "--catch-up"):
        args += ["--cron", "0 9 * * *", flag, value]
    else:
        args += [flag, value]
    if tz is not None and flag != "--every":
        args += ["--tz", tz]
    result = _invoke(args, clock)
    assert result.exit_code in (0, 64, 65), (args, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code == 0:
        added = json.loads(result.stdout)
        assert added["schedule"].get("everyMs", 1000) >= 1000


# -- run: the exit code says whether trying again may help ----------------------


def _config(home: Path, api: Any) -> None:
    from tests.fake_bot_api import TOKEN

    (home / "config.toml").write_text(
        f'[telegram]\nbot_token = "{TOKEN}"\napi_base_url = "{api.base_url}"\n'
        'read_timeout = 2\nconnect_timeout = 2\n[delivery]\ndeadline = "1s"\n'
    )


@pytest.mark.slow
def test_run_exits_75_when_telegram_is_down_and_69_when_it_refuses(
    home: Path, telegram: Any
) -> None:
    """`run` against a 502 exits 75 (try later); against a blocked chat 69, once."""
    from tests.fake_bot_api import BAD_GATEWAY

    _config(home, telegram)
    run = Cli()
    run("add", "--name", "down", "--every", "1h", "--message", "m", "--to", "7")
    run("add", "--name", "blocked", "--every", "1h", "--message", "m", "--to", "8")
    telegram.chat_faults[7] = BAD_GATEWAY
    telegram.blocked_chats.add(8)
    down = run("run", "down", code=75)
    assert "Try `reminders run" in down.stderr
    blocked = run("run", "blocked", code=69)
    assert "Forbidden: bot was blocked by the user" in blocked.stderr
    assert "Forbidden: Forbidden:" not in blocked.stderr
    (shown,) = [r for r in run.json("list") if r["name"] == "blocked"]
    assert shown["state"]["lastError"] == "Forbidden: bot was blocked by the user"


def test_a_stored_failure_alert_from_before_validation_does_not_block_loading(
    home: Path, run: Cli
) -> None:
    """A bad failureAlert already in the database is ignored, the reminder still loads."""
    added = run.json(
        "add", "--name", "old", "--every", "1h", "--message", "m", "--to", "1"
    )
    with sqlite3.connect(home / "reminders.db") as conn:
        conn.execute(
            "UPDATE reminders SET options = ? WHERE id = ?",
            (json.dumps({"failureAlert": {"after": "twice"}}), added["id"]),
        )
    assert run.json("show", "old")["name"] == "old"
    assert "failureAlert" not in run.json("list")[0]
