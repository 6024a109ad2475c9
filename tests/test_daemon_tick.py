"""The daemon in-process, one `tick(now_ms)` at a time on a fake clock: the job
store rebuilt and kept in sync with the table, the heartbeat `status` reads,
clock jumps, and runs left `sending` recovered at start. No subprocess, no sleep."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest

from reminders import jobsync
from reminders.app import AppContext
from reminders.cli.common import Runtime
from reminders.clock import FakeClock
from reminders.daemon import Daemon
from reminders.errors import EX_CONFIG
from reminders.liveness import META_HEARTBEAT, META_PID, read_meta, take_daemon_lock
from reminders.schema import Reminder, ms_to_iso
from tests.conftest import Cli
from tests.fake_bot_api import TOKEN, FakeBotApi

# 2099-01-01T00:00:00Z: ahead of the real clock, which APScheduler itself reads,
# so no job fires by itself; the tests fire reminders by calling the job target.
T0 = 4_070_908_800_000
MINUTE = 60_000
HOUR = 3_600_000


class Monotonic:
    """A monotonic clock for tests, in seconds: it moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    """A fake wall clock and a fake monotonic clock, moved together or apart."""

    def __init__(self) -> None:
        self.wall = FakeClock(T0)
        self.mono = Monotonic()

    def advance(self, ms: int, mono_ms: int | None = None) -> None:
        self.wall.advance(ms)
        self.mono.now += (ms if mono_ms is None else mono_ms) / 1000


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def cli(world: World) -> Cli:
    return Cli(clock=world.wall)


@pytest.fixture
def context(home: Path, telegram: FakeBotApi, world: World) -> AppContext:
    config = home / "config.toml"
    config.write_text(
        "[telegram]\n"
        f'bot_token = "{TOKEN}"\n'
        f'api_base_url = "{telegram.base_url}"\n'
        "read_timeout = 2\nconnect_timeout = 2\n"
    )
    config.chmod(0o600)
    return Runtime(clock=world.wall).app


def go(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@asynccontextmanager
async def started(context: AppContext, world: World) -> AsyncIterator[Daemon]:
    """A daemon started and ready (its recoveries begun), shut down afterwards."""
    daemon = Daemon(context, monotonic=world.mono)
    try:
        daemon.ready(await daemon.start())
        yield daemon
    finally:
        await daemon.shutdown()


async def tick(daemon: Daemon, world: World) -> int | None:
    return await daemon.tick(world.wall.now_ms())


def jobs(daemon: Daemon) -> dict[str, int]:
    """Each job in APScheduler's job store and the instant it fires, epoch-ms."""
    assert daemon.jobs.jobstore is not None
    return {
        job.id: round(job.next_run_time.timestamp() * 1000)
        for job in daemon.jobs.jobstore.get_all_jobs()
    }


def due(cli: Cli, reminder_id: str) -> int:
    return int(cli.json("show", reminder_id)["state"]["nextRunAtMs"])


def add(cli: Cli, *flags: str, to: str = "5") -> str:
    return str(cli.json("add", *flags, "--message", "hi", "--to", to)["id"])


# -- the job store, rebuilt at start and synced each tick --------------------------


def test_start_rebuilds_the_job_store_from_the_table(
    cli: Cli, context: AppContext, world: World
) -> None:
    """Start makes one job per enabled reminder at its next fire; a reminder removed
    while the daemon was stopped loses its job; a restart rewrites no row."""
    gone = add(cli, "--at", "3h")

    async def first() -> None:
        async with started(context, world) as daemon:
            assert jobs(daemon) == {gone: T0 + 3 * HOUR}

    go(first)
    cli("rm", gone)
    one_shot = add(cli, "--at", "1h")
    recurring = add(cli, "--every", "10m")
    paused = add(cli, "--every", "1h")
    cli("disable", paused)

    async def second() -> None:
        async with started(context, world) as daemon:
            assert jobs(daemon) == {
                one_shot: T0 + HOUR,
                recurring: due(cli, recurring),
            }
            assert daemon.jobs.rewritten == 2

        async with started(context, world) as daemon:
            assert daemon.jobs.rewritten == 0  # the job store already matches

    go(second)


def test_each_tick_syncs_what_the_cli_changed(
    cli: Cli, context: AppContext, world: World
) -> None:
    """Adds, edits, disables and removals reach the job store at the next tick,
    not before."""

    async def scenario() -> None:
        async with started(context, world) as daemon:
            assert jobs(daemon) == {}
            added = add(cli, "--at", "1h")
            assert jobs(daemon) == {}
            await tick(daemon, world)
            assert jobs(daemon) == {added: T0 + HOUR}
            cli("edit", added, "--at", "2h")
            await tick(daemon, world)
            assert jobs(daemon) == {added: T0 + 2 * HOUR}
            cli("disable", added)
            await tick(daemon, world)
            assert jobs(daemon) == {}
            cli("enable", added)
            await tick(daemon, world)
            assert jobs(daemon) == {added: T0 + 2 * HOUR}
            cli("rm", added)
            await tick(daemon, world)
            assert jobs(daemon) == {}

    go(scenario)


def test_a_fired_reminder_gets_its_next_job_on_the_next_tick(
    cli: Cli, context: AppContext, world: World, telegram: FakeBotApi
) -> None:
    """The job target sends, then the next tick moves a recurring reminder's job
    to its next slot and drops a one-shot's."""

    async def scenario() -> None:
        async with started(context, world) as daemon:
            recurring = add(cli, "--every", "10m")
            one_shot = add(cli, "--at", "10m", to="6")  # another chat: no pacing
            await tick(daemon, world)
            first = due(cli, recurring)
            world.advance(first - T0)
            await daemon.fire(recurring)
            await daemon.fire(one_shot)
            assert telegram.texts() == ["hi", "hi"]
            await tick(daemon, world)
            assert jobs(daemon) == {recurring: first + 10 * MINUTE}

    go(scenario)


def import_1200(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "jobs.json"
    store.write_text(
        json.dumps(
            {
                "version": 1,
                "jobs": [
                    {
                        "id": f"00000000-0000-4000-8000-{i:012d}",
                        "name": f"job {i}",
                        "schedule": {"kind": "at", "at": ms_to_iso(T0 + HOUR + i)},
                        "payload": {"kind": "systemEvent", "text": "hi"},
                        "delivery": {"channel": "telegram", "to": "5"},
                    }
                    for i in range(1200)
                ],
            }
        )
    )

    cli("import", str(store))


def test_a_large_import_syncs_page_by_page_with_the_loop_free_between(
    cli: Cli, context: AppContext, world: World, tmp_path: Path
) -> None:
    """1,200 reminders imported beside a running daemon reach the job store in one
    tick, a page of changes at a time, with other work on the event loop (fires
    due meanwhile) running between the pages."""

    async def scenario() -> None:
        async with started(context, world) as daemon:
            import_1200(cli, tmp_path)
            seen: list[int] = []
            assert daemon.jobs.jobstore is not None
            ids = daemon.jobs.jobstore.ids

            async def watch() -> None:
                while True:
                    seen.append(len(ids()))
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            await tick(daemon, world)
            watcher.cancel()
            assert len(ids()) == 1200
            assert any(0 < count < 1200 for count in seen), seen

    go(scenario)


def test_a_change_set_longer_than_a_round_goes_on_at_the_next_round(
    cli: Cli,
    context: AppContext,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A round syncs at most PAGES_PER_ROUND pages, then beats and asks for the
    next round at once, which syncs the rest."""
    monkeypatch.setattr(jobsync, "PAGES_PER_ROUND", 2)

    async def scenario() -> None:
        async with started(context, world) as daemon:
            import_1200(cli, tmp_path)
            daemon.poke.clear()
            await tick(daemon, world)
            assert len(jobs(daemon)) == 2 * jobsync.RECONCILE_PAGE
            assert daemon.jobs.behind and daemon.poke.is_set()
            daemon.poke.clear()
            await tick(daemon, world)
            assert len(jobs(daemon)) == 1200
            assert not daemon.jobs.behind and not daemon.poke.is_set()

    go(scenario)


# -- liveness: the heartbeat `status` reads ----------------------------------------


def test_heartbeat_is_stamped_every_interval_and_status_reads_it(
    cli: Cli, context: AppContext, world: World
) -> None:
    """Start records the pid and a heartbeat; ticks stamp it every 5 s; `status`
    says running while it is fresh and stale 30 s after the last one."""

    def heartbeat() -> int:
        return int(read_meta(context.store, META_HEARTBEAT) or 0)

    async def scenario() -> None:
        lock = take_daemon_lock(context)
        try:
            async with started(context, world) as daemon:
                assert read_meta(context.store, META_PID) == str(os.getpid())
                assert heartbeat() == T0
                world.advance(1000)
                await tick(daemon, world)  # the first round always beats
                assert heartbeat() == T0 + 1000
                world.advance(3000)
                await tick(daemon, world)
                assert heartbeat() == T0 + 1000
                world.advance(2000)
                await tick(daemon, world)
                assert heartbeat() == T0 + 6000
                state = cli.json("status")
                assert (state["daemon"], state["pid"]) == ("running", os.getpid())
                assert state["heartbeatMs"] == T0 + 6000
                world.advance(31_000)
                assert cli("status", "--json", code=69).stdout.count('"stale"') == 1
        finally:
            lock.release()
        assert cli("status", "--json", code=69).stdout.count('"stopped"') == 1

    go(scenario)


def changes(context: AppContext) -> list[str]:
    with context.store.read() as tx:
        return [change.reminder_id for change in tx.changes_since(0)]


def test_change_rows_older_than_a_day_are_pruned_once_an_hour(
    cli: Cli, context: AppContext, world: World
) -> None:
    """The first heartbeat prunes change rows older than a day; the next prune
    waits an hour whatever the heartbeats in between."""
    two_days_ago = Cli(clock=FakeClock(T0 - 48 * HOUR))
    old = add(two_days_ago, "--at", "60h")

    async def scenario() -> None:
        async with started(context, world) as daemon:
            assert changes(context) == [old]
            await tick(daemon, world)
            assert changes(context) == []
            again = add(two_days_ago, "--at", "60h")
            world.advance(30 * MINUTE, mono_ms=5000)
            await tick(daemon, world)
            assert changes(context) == [again]
            world.advance(31 * MINUTE, mono_ms=5000)
            await tick(daemon, world)
            assert changes(context) == []

    go(scenario)


def test_a_scheduler_that_stopped_ticking_stops_the_daemon(
    context: AppContext, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler's own interval job proves it runs; 30 s without it, the tick
    asks for exit 1 so the supervisor restarts the daemon."""

    async def scenario() -> None:
        async with started(context, world) as daemon:
            for _ in range(10):  # 50 s, the scheduler ticking meanwhile
                world.advance(5000)
                daemon.life.ticked()
                assert await tick(daemon, world) is None
            world.advance(31_000)
            with caplog.at_level(logging.ERROR, logger="reminders.daemon"):
                assert await tick(daemon, world) == 1
            assert "stopped ticking" in caplog.text

    go(scenario)


def test_a_start_longer_than_the_watchdog_does_not_stop_the_daemon(
    context: AppContext, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilding a large job store may take longer than the watchdog's 30 s; the
    scheduler was not stuck meanwhile, so the first tick goes on."""
    from reminders.jobsync import JobSync

    real = JobSync.reconcile_all

    async def slow(self: JobSync) -> int:
        world.advance(45_000)
        return await real(self)

    monkeypatch.setattr(JobSync, "reconcile_all", slow)

    async def scenario() -> None:
        async with started(context, world) as daemon:
            assert await tick(daemon, world) is None

    go(scenario)


# -- clock jumps ----------------------------------------------------------------


def test_a_clock_jump_wakes_the_scheduler(context: AppContext, world: World) -> None:
    """APScheduler sleeps on monotonic time: a wall-clock jump either way wakes it at
    the next tick, and so does 30 s without a wake-up."""

    async def scenario() -> None:
        async with started(context, world) as daemon:
            wakeups: list[int] = []
            scheduler = daemon.jobs.scheduler
            real_wakeup = scheduler.wakeup

            def wakeup() -> None:
                wakeups.append(world.wall.now_ms())
                real_wakeup()

            scheduler.wakeup = wakeup
            await tick(daemon, world)
            world.advance(5000)
            await tick(daemon, world)
            assert wakeups == []
            world.advance(HOUR, mono_ms=5000)  # a suspended laptop wakes up
            await tick(daemon, world)
            assert wakeups == [T0 + 5000 + HOUR]
            world.advance(-10 * MINUTE, mono_ms=5000)  # the clock set back
            await tick(daemon, world)
            assert len(wakeups) == 2
            for _ in range(6):  # 30 s of steady time, then one safety wake-up
                world.advance(5000)
                daemon.life.ticked()
                await tick(daemon, world)
            assert len(wakeups) == 2
            world.advance(1000)
            await tick(daemon, world)
            assert len(wakeups) == 3

    go(scenario)


def test_a_replaced_database_file_stops_the_daemon(
    context: AppContext, world: World, home: Path
) -> None:
    """A database file deleted or swapped under the daemon stops it with 78."""

    async def scenario() -> None:
        async with started(context, world) as daemon:
            assert await tick(daemon, world) is None
            database = home / "reminders.db"
            shutil.copy(database, home / "other.db")
            os.replace(home / "other.db", database)
            assert await tick(daemon, world) == EX_CONFIG

    go(scenario)


# -- recovery of runs left `sending` ---------------------------------------------


def crashed_mid_send(context: AppContext, text: str) -> str:
    """A one-shot whose send a stop cut off: its run is still `sending`."""
    sent_at = T0 - MINUTE
    reminder = Reminder.model_validate(
        {
            "id": "cut-off",
            "name": "cut off",
            "createdAtMs": sent_at - HOUR,
            "updatedAtMs": sent_at,
            "schedule": {"kind": "at", "at": ms_to_iso(sent_at)},
            "payload": {"kind": "systemEvent", "text": text},
            "delivery": {"to": "7"},
            "state": {"nextRunAtMs": sent_at, "runningAtMs": sent_at},
        }
    )
    with context.store.write() as tx:
        tx.save(reminder, sent_at)
        tx.insert_run(
            reminder_id=reminder.id,
            scheduled_for_ms=sent_at,
            status="sending",
            started_at_ms=sent_at,
        )
    return reminder.id


@pytest.mark.parametrize(
    ("policy", "texts", "outcome"),
    [
        ("resend", ["cut off"], ("sent", None)),
        ("skip", [], ("failed", "AmbiguousSend")),
    ],
)
def test_runs_left_sending_are_recovered_at_start(
    policy: Literal["resend", "skip"],
    texts: list[str],
    outcome: tuple[str, str | None],
    cli: Cli,
    context: AppContext,
    world: World,
    telegram: FakeBotApi,
) -> None:
    """At start a run left `sending` is resent (or closed, with on_ambiguous =
    "skip") beside firing; its reminder's job does not fire meanwhile, and is
    synced once the recovery ends."""
    context.settings.delivery.on_ambiguous = policy
    reminder_id = crashed_mid_send(context, "cut off")

    async def scenario() -> None:
        daemon = Daemon(context, monotonic=world.mono)
        try:
            count = await daemon.start()
            assert count == 1
            assert daemon.recovering == {reminder_id}
            await daemon.fire(reminder_id)  # APScheduler fires the overdue job
            assert telegram.texts() == []  # ...which waits for the recovery
            daemon.ready(count)
            await asyncio.gather(*daemon.inflight)
            assert telegram.texts() == texts
            assert daemon.recovering == set()
            await tick(daemon, world)
            assert jobs(daemon) == {}  # a one-shot, deleted after its run
        finally:
            await daemon.shutdown()

    go(scenario)
    runs = cli.json("runs", reminder_id)
    assert [(r["status"], r.get("errorClass")) for r in runs] == [outcome]
