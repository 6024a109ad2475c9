"""Shared fixtures: an isolated REMINDERS_HOME for every test, and CLI runners."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from reminders.cli import cli
from reminders.cli.common import Runtime
from reminders.clock import FakeClock, SystemClock
from tests.fake_bot_api import TOKEN, FakeBotApi

REPO = Path(__file__).resolve().parent.parent


# Fixtures that start processes or a daemon against the fake Telegram: a test that
# asks for one is `slow` without saying so, and `-m "not slow"` (the quick loop)
# leaves it out.
SLOW_FIXTURES = frozenset(
    {
        "setup",  # `reminders` subprocesses (the daemon among them) on a fake Telegram
        "stopper",  # any process the test starts and must stop by pid
    }
)


# Telegram delivery tests that still wait on real time: a read timeout, a
# deadline of retries against a dead server or a poison reply, a reply trickled a
# byte a second. Remove a name here once its test runs on the fake clock.
REAL_TIME_TESTS = {
    "test_delivery.py": {
        "test_read_timeout_is_ambiguous",
        "test_unreachable_server_during_send_is_temporary",
        "test_dropped_connection_is_resent_at_least_once",
    },
    "test_poison.py": {
        "test_ambiguous_reply_with_resend_is_retried_then_fails",
        "test_reply_that_is_not_a_delivery_fails_without_ambiguity",
        "test_trickled_reply_is_cut_off_by_the_request_deadline",
        "test_bad_get_me_reply_fails_sends_temporarily",
        "test_recovery_never_raises_and_closes_every_run",
        "test_closing_the_limiter_stops_queued_sends_before_they_go_out",
    },
}


# Cases too heavy for the quick loop that a marker line cannot reach (a row of a
# parametrised table): a 10 MB store built and parsed.
HEAVY_CASES = {
    "test_refused_with_one_line_and_the_store_untouched[import 10 MB malformed]",
}


# Generated examples per property test in the quick loop; the full run keeps each
# test's own count (and every run replays the failures Hypothesis has saved).
QUICK_EXAMPLES = 25


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Mark `slow` by mechanism (and the lists above), before `-m` selects; in a
    run that leaves out `slow`, property tests try fewer examples."""
    quick = "not slow" in (config.getoption("markexpr") or "")
    for item in items:
        real_time = REAL_TIME_TESTS.get(item.path.name, set())
        if (
            SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or getattr(item, "originalname", item.name) in real_time
            or item.name in HEAVY_CASES
        ):
            item.add_marker(pytest.mark.slow)
        if quick:
            fewer_examples(item)


def fewer_examples(item: pytest.Item) -> None:
    """Cap a Hypothesis test's examples at QUICK_EXAMPLES (its settings live on
    the test function, where Hypothesis's own pytest plugin adjusts them too)."""
    function: Any = getattr(item, "obj", None)
    function = getattr(function, "__func__", function)
    own = getattr(function, "_hypothesis_internal_use_settings", None)
    if hasattr(function, "hypothesis") and own and own.max_examples > QUICK_EXAMPLES:
        function._hypothesis_internal_use_settings = settings(
            own, max_examples=QUICK_EXAMPLES
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `engines(...)` run once per engine named (the store fixture)."""
    marker = metafunc.definition.get_closest_marker("engines")
    if marker is not None and "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", engine_params(marker.args), indirect=True)


def engine_params(names: tuple[str, ...]) -> list[Any]:
    """A test run on both engines has its PostgreSQL half marked `slow`: the quick
    loop checks the behaviour on SQLite, the full run on both. Tests written for
    PostgreSQL alone (the lease, the change feed) stay in the quick loop."""
    if len(names) < 2:
        return list(names)
    return [
        pytest.param(name, marks=pytest.mark.slow) if name != "sqlite" else name
        for name in names
    ]


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The database URL a test runs on: "" for SQLite in REMINDERS_HOME (the
    default), or a fresh schema of this run's PostgreSQL database."""
    name = getattr(request, "param", "sqlite")
    if name == "sqlite":
        return ""
    database = request.getfixturevalue("pg_database")
    return pg_schema_url(database)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> Path:
    """Every test gets its own REMINDERS_HOME and never sees the real one."""
    for key in list(os.environ):
        if key.startswith("REMINDERS_") or key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            monkeypatch.delenv(key)
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("REMINDERS_HOME", str(path))
    monkeypatch.setenv("REMINDERS_GENERAL_TIMEZONE", "UTC")
    if engine:
        monkeypatch.setenv("REMINDERS_DATABASE_URL", engine)
    return path


# -- PostgreSQL -------------------------------------------------------------------

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def pg_admin(sql: str, database: str = "postgres", server: str = PG_SERVER) -> None:
    import psycopg

    with psycopg.connect(
        f"{server}/{database}", autocommit=True, connect_timeout=3
    ) as c:
        c.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database with a unique name for this test run, dropped after it."""
    import uuid

    import psycopg

    name = f"reminders_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        pg_admin(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable on {PG_SERVER}: {str(exc).strip()}")
    yield name
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_schema_url(database: str, server: str = PG_SERVER) -> str:
    """A URL whose connections see only a schema of their own: one per test."""
    import uuid

    schema = f"t_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE SCHEMA {schema}", database, server)
    host = server.removeprefix("postgresql://")
    return f"postgresql+psycopg://{host}/{database}?options=-csearch_path%3D{schema}"


@dataclass
class Cli:
    """Runs `reminders` in-process, with an optional fake clock."""

    clock: Any = None

    def __call__(self, *args: str, code: int | None = 0, clock: Any = None) -> Result:
        """Run the command; check its exit code unless `code` is None."""
        runtime = Runtime(clock=clock or self.clock or SystemClock())
        result = CliRunner().invoke(cli, list(args), obj=runtime)
        if code is not None and result.exit_code != code:
            raise AssertionError(
                f"reminders {' '.join(args)} exited {result.exit_code}, wanted {code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
                f"exception: {result.exception!r}"
            )
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self(*args, "--json", **kwargs).stdout)


@pytest.fixture
def run() -> Cli:
    return Cli()


@pytest.fixture
def clock() -> FakeClock:
    # 2026-11-24T10:00:00Z, a Tuesday.
    return FakeClock(1795514400000)


def query(home: Path, sql: str) -> list[dict[str, Any]]:
    """The rows of one read-only statement on the test's database, either engine."""
    url = os.environ.get("REMINDERS_DATABASE_URL")
    if url:
        from reminders.store import Store

        store = Store(url)
        try:
            with store.read() as db:
                return [dict(row) for row in db.rows(sql)]
        finally:
            store.close()
    with contextlib.closing(sqlite3.connect(home / "reminders.db")) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql)]


def db_rows(home: Path) -> list[tuple[Any, ...]]:
    """Every stored reminder and run, to prove a refused command changed nothing."""
    url = os.environ.get("REMINDERS_DATABASE_URL")
    if url:
        from reminders.store import Store

        store = Store(url)
        try:
            with store.read() as db:
                tables = db.rows("SELECT to_regclass('reminders') AS t")[0]["t"]
                if tables is None:
                    return []
                found = db.rows("SELECT * FROM reminders ORDER BY id")
                found += db.rows("SELECT * FROM runs ORDER BY id")
        finally:
            store.close()
        return [tuple(row.values()) for row in found]
    path = home / "reminders.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        reminders = conn.execute("SELECT * FROM reminders ORDER BY id").fetchall()
        runs = conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
    return reminders + runs


def store_url(home: Path) -> str:
    """The database URL the test's CLI and daemon use."""
    return (
        os.environ.get("REMINDERS_DATABASE_URL") or f"sqlite:///{home / 'reminders.db'}"
    )


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env.update({"REMINDERS_HOME": str(home), "PYTHONUNBUFFERED": "1"}, **extra)
    if (
        os.environ.get("REMINDERS_DATABASE_URL")
        and "REMINDERS_DATABASE_URL" not in extra
    ):
        env["REMINDERS_DATABASE_URL"] = os.environ["REMINDERS_DATABASE_URL"]
    return env


def reminders_cmd(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real `reminders` executable as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "reminders", *args],
        env=env or subprocess_env(home, REMINDERS_GENERAL_TIMEZONE="UTC"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; each is stopped by its pid even when the test fails."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class DaemonProcess:
    """`reminders daemon` as a real subprocess, its stderr collected line by line."""

    def __init__(self, home: Path, env: dict[str, str], procs: list[Any]) -> None:
        import threading

        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reminders", "daemon"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(self.proc)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"daemon never logged {text!r}; log:\n{self.log}")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


def wait_until(predicate: Any, timeout: float = 15, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; fail with a clear message if it never is."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# -- a daemon set up against a fake Telegram ------------------------------------


@pytest.fixture
def telegram() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


class Setup:
    def __init__(self, home: Path, api: FakeBotApi, procs: list[Any]) -> None:
        self.home = home
        self.api = api
        self.procs = procs
        self.env = subprocess_env(home, REMINDERS_GENERAL_TIMEZONE="UTC")
        (home / "config.toml").write_text(
            "[telegram]\n"
            f'bot_token = "{TOKEN}"\n'
            f'api_base_url = "{api.base_url}"\n'
            "read_timeout = 2\nconnect_timeout = 2\n"
            "[daemon]\n"
            'poll_interval = "0.5s"\n'
            'lease = "3s"\n'  # PostgreSQL: a restarted daemon takes over soon
            "[delivery]\n"
            'deadline = "5s"\n'
        )
        (home / "config.toml").chmod(0o600)  # it holds the token

    def cli(self, *args: str, code: int = 0) -> str:
        result = reminders_cmd(self.home, *args, env=self.env)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result.stdout

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json"))

    def start(self) -> DaemonProcess:
        daemon = DaemonProcess(self.home, self.env, self.procs)
        daemon.wait_for("daemon ready")
        return daemon

    def runs(self, ref: str | None = None) -> list[dict[str, Any]]:
        return self.cli_json("runs", *([ref] if ref else []), "--limit", "1000")

    def finished(self, ref: str | None = None, timeout: float = 30) -> list[Any]:
        """The runs once there are some and none is `sending` (a message reaches
        the chat a moment before its run is recorded)."""

        def done() -> list[dict[str, Any]]:
            runs = self.runs(ref)
            return runs if all(run["status"] != "sending" for run in runs) else []

        return wait_until(done, timeout=timeout)


@pytest.fixture
def setup(home: Path, telegram: FakeBotApi, stopper: list[Any]) -> Setup:
    return Setup(home, telegram, stopper)
