"""The leader resends runs nobody is sending any more: a claim whose send was cut
off by a lease lost for a moment, after the take-over that would have resent it
had already looked. Only runs older than a lease plus a send's deadline, and not
in flight in this daemon, qualify."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from reminders.clock import monotonic
from reminders.failover import SWEEP_EVERY_MS, Failover
from reminders.schema import Run

NOW = 1_800_000_000_000
AGE = 150_000  # orphan_after_ms below


def run(rid: int, reminder: str, started: int) -> Run:
    return Run(
        id=rid,
        reminderId=reminder,
        scheduledForMs=started,
        startedAtMs=started,
        status="sending",
    )


def failover(stuck: list[Run], firing: set[str]) -> tuple[Failover, list[Run]]:
    recovered: list[Run] = []
    host: Any = SimpleNamespace(
        ctx=SimpleNamespace(store=None),
        firer=SimpleNamespace(stuck_runs=lambda: list(stuck)),
        jobs=SimpleNamespace(firing=firing),
        recover=recovered.extend,
    )
    sweeper = Failover.__new__(Failover)
    sweeper.host = host
    sweeper.leadership = SimpleNamespace(  # type: ignore[assignment]
        holds=lambda: True, epoch=3, valid_until=monotonic() + 60
    )
    sweeper._swept_ms = 0
    sweeper._db_trouble = False
    sweeper.orphan_after_ms = AGE
    return sweeper, recovered


def test_only_old_runs_nobody_sends_are_resent() -> None:
    stuck = [
        run(1, "old", NOW - AGE - 1),  # cut off long ago: resent
        run(2, "recent", NOW - AGE + 1000),  # may still be on its way
        run(3, "busy", NOW - AGE - 1),  # this daemon is still sending it
    ]
    firing = {"busy"}
    sweeper, recovered = failover(stuck, firing)
    asyncio.run(sweeper._sweep(NOW))
    assert [r.id for r in recovered] == [1]
    assert firing == {"busy", "old"}  # its job waits for the recovery


def test_nothing_is_resent_without_the_lease() -> None:
    sweeper, recovered = failover([run(1, "old", NOW - AGE - 1)], set())
    sweeper.leadership.holds = lambda: False  # type: ignore[method-assign]
    asyncio.run(sweeper._sweep(NOW))
    assert recovered == []


def test_the_sweep_runs_every_half_minute_of_leading() -> None:
    sweeper, recovered = failover([run(1, "old", NOW - AGE - 1)], set())
    sweeper.elector = SimpleNamespace()  # type: ignore[assignment]
    sweeper._reconciling = asyncio.Lock()
    sweeper.host.jobs.reconcile_changes = lambda: asyncio.sleep(0)
    asyncio.run(sweeper.step(NOW))
    asyncio.run(sweeper.step(NOW + SWEEP_EVERY_MS - 1))  # not yet again
    assert len(recovered) == 1
    asyncio.run(sweeper.step(NOW + SWEEP_EVERY_MS))
    assert len(recovered) == 1  # its recovery is still under way: not twice
    sweeper.host.jobs.firing.clear()  # the recovery ended (and left it sending)
    asyncio.run(sweeper.step(NOW + 2 * SWEEP_EVERY_MS))
    assert len(recovered) == 2  # looked at again; recovery checks it is sending


def test_a_long_take_over_rebuild_is_alive_while_its_pages_move() -> None:
    """While a take-over rebuilds the job store (100,000 reminders can take longer
    than the watchdog's 30 s), the scheduler is paused on purpose: a round in
    which the rebuild synced another page counts as alive, one in which it did
    not leaves the watchdog to judge."""
    ticks: list[int] = []
    sweeper, _ = failover([], set())
    sweeper.elector = SimpleNamespace()  # type: ignore[assignment]
    sweeper.host.life = SimpleNamespace(ticked=lambda: ticks.append(1))
    sweeper.host.jobs.pages_done = 0
    sweeper._pages_seen = -1

    async def rebuilding() -> None:
        sweeper._reconciling = asyncio.Lock()
        async with sweeper._reconciling:
            await sweeper.step(NOW)  # the first round: alive
            await sweeper.step(NOW + 1000)  # no page since: not counted
            sweeper.host.jobs.pages_done = 3
            await sweeper.step(NOW + 2000)  # pages moved: alive

    asyncio.run(rebuilding())
    assert ticks == [1, 1]
