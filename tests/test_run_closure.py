"""Every claimed run reaches a final status: a bug while recording a fire's outcome
closes the run as failed with the error (logged with its traceback), and crash
recovery waits out a database that refuses its writes instead of giving up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from reminders.clock import SystemClock
from reminders.db import sqlite_url
from reminders.errors import StoreBusy, TransientError
from reminders.firing import Firer
from reminders.migrate import open_store
from reminders.schema import Reminder, Run
from reminders.store import Store
from reminders.targets import parse_target
from tests.fake_bot_api import FakeBotApi
from tests.test_poison import BOUND_S, sender_for, stuck_runs

HOUR_MS = 3_600_000


def hourly_due(home: Path) -> tuple[Store, int]:
    """An hourly reminder to chat 7 whose slot is now; returns the store and slot."""
    store = open_store(sqlite_url(home / "reminders.db"))
    slot = int(time.time() * 1000) - 1000
    reminder = Reminder.model_validate(
        {
            "id": "hourly",
            "name": "hourly",
            "createdAtMs": slot,
            "updatedAtMs": slot,
            "schedule": {"kind": "every", "everyMs": HOUR_MS},
            "payload": {"kind": "systemEvent", "text": "stretch"},
            "delivery": {"to": "7"},
            "state": {"nextRunAtMs": slot},
        }
    )
    with store.write() as db:
        db.save(reminder, slot)
    return store, slot


def firer_for(store: Store, sender: Any) -> Firer:
    return Firer(
        store,
        sender,
        default_tz="UTC",
        catch_up_ms=HOUR_MS,
        parse_mode=None,
        on_ambiguous="resend",
        clock=SystemClock(),
    )


def fire(store: Store, api: FakeBotApi) -> tuple[Run | None, Reminder]:
    async def main() -> Run | None:
        async with sender_for(api) as sender:
            firer = firer_for(store, sender)
            return await asyncio.wait_for(firer.fire("hourly"), BOUND_S)

    done = asyncio.run(main())
    with store.read() as db:
        reminder = db.get("hourly")
        [run] = db.runs("hourly")
    assert reminder is not None
    assert done is not None and done.status == run.status
    return run, reminder


def broken_next_run(monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
    """Make working out the next slot raise `failures` times (a bug in our code)."""
    import reminders.fire_rules

    real = reminders.fire_rules.next_run
    left = [failures]

    def next_run(*args: Any) -> int | None:
        if left[0] > 0:
            left[0] -= 1
            raise RuntimeError("next slot exploded")
        return real(*args)

    monkeypatch.setattr(reminders.fire_rules, "next_run", next_run)


@pytest.mark.parametrize("failures", [1, 2])
def test_a_bug_recording_the_outcome_fails_the_run(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failures: int,
) -> None:
    """Recording the sent outcome raises: the run is recorded as failed with the
    error and the schedule moves on as after any failure; if that raises too, the
    run is still closed as failed. Each error is logged with its traceback."""
    store, slot = hourly_due(home)
    broken_next_run(monkeypatch, failures)
    with FakeBotApi() as api, caplog.at_level(logging.ERROR):
        run, reminder = fire(store, api)
        assert api.texts() == ["stretch"]
    assert (run.status, run.errorClass) == ("failed", "RuntimeError"), run
    assert run.errorText == "next slot exploded" and run.finishedAtMs is not None
    assert len([r for r in caplog.records if r.exc_info]) == failures
    assert "next slot exploded" in caplog.text
    if failures == 1:
        assert run.messageIds == [1] and "sent outcome hit a bug" in (run.note or "")
        assert reminder.state.nextRunAtMs == slot + HOUR_MS
        assert reminder.state.consecutiveErrors == 1
        assert reminder.state.runningAtMs is None


# -- crash recovery while the database refuses writes ------------------------------


@pytest.mark.parametrize("case", ["resend", "orphan"])
def test_recovery_waits_for_a_refused_write_instead_of_leaving_the_run(
    home: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Recovery's own writes (marking a run before its resend, closing an orphan)
    hit a database that refuses them: they go through the same pause-and-retry as
    a fire's, and the run ends final once writes work again, resent at most once."""
    import sqlite3

    import reminders.db

    monkeypatch.setattr(reminders.db, "BUSY_TIMEOUT_MS", 100)
    store = stuck_runs(home, 1)
    if case == "orphan":
        with store.write() as db:
            db.delete("stuck-0", int(time.time() * 1000))
    locker = sqlite3.connect(home / "reminders.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the database
    faults: list[Exception] = []

    async def on_store_fault(exc: Exception) -> None:
        faults.append(exc)
        if len(faults) == 2:  # refused twice, then the database takes writes
            locker.execute("COMMIT")

    with FakeBotApi() as api:

        async def main() -> None:
            async with sender_for(api) as sender:
                firer = firer_for(store, sender)
                firer.on_store_fault = on_store_fault
                await asyncio.wait_for(firer.recover(), BOUND_S)

        asyncio.run(main())
        texts = api.texts()
    locker.close()
    with store.read() as db:
        [run] = db.runs(limit=10)
    assert len(faults) == 2 and all(isinstance(f, StoreBusy) for f in faults)
    if case == "orphan":
        assert (run.status, run.errorClass, texts) == ("failed", "Orphaned", [])
    else:
        assert (run.status, run.messageIds, texts) == ("sent", [1], ["stuck 0"])


@pytest.mark.parametrize("case", ["resend", "orphan"])
def test_recovery_leaves_a_run_finished_after_it_was_listed(
    home: Path, case: str
) -> None:
    """The daemon that claimed a run records its outcome after recovery listed it
    `sending` (it was paused, or its connection came back late): recovery neither
    resends it nor closes it over that outcome."""
    store = stuck_runs(home, 1)
    with store.read() as db:
        [listed] = db.runs_with_status("sending")
    now = int(time.time() * 1000)
    with store.write() as db:
        db.update_run(listed.id, status="sent", message_ids=[77], finished_at_ms=now)
        if case == "orphan":  # a one-shot goes once it was sent
            db.delete("stuck-0", now)
    with FakeBotApi() as api:

        async def main() -> None:
            async with sender_for(api) as sender:
                firer = firer_for(store, sender)
                await asyncio.wait_for(firer.recover_run(listed), BOUND_S)

        asyncio.run(main())
        texts = api.texts()
    with store.read() as db:
        [run] = db.runs(limit=10)
    assert (run.status, run.messageIds, texts) == ("sent", [77], [])


async def resend_while_queued(
    store: Store,
    api: FakeBotApi,
    run: Run,
    then: Callable[[Firer, asyncio.Task[Any]], Awaitable[None]],
) -> None:
    """Recovery's resend of `run`, held waiting for its turn behind another send
    to its chat (which takes the lane for about a second), then `then`."""
    async with sender_for(api) as sender:
        await sender.send(parse_target("100"), "earlier")
        firer = firer_for(store, sender)
        task = asyncio.create_task(firer.recover_run(run))
        await asyncio.sleep(0.2)
        assert not task.done()
        await then(firer, task)


def test_a_resend_stopped_while_waiting_its_turn_is_resent_next_time(
    home: Path,
) -> None:
    """A crash while recovery's resend still waits for its turn (the chat's lane is
    busy) leaves the resend uncounted: nothing went out, so the next start resends
    it without spending one of the run's MAX_RESENDS."""
    store = stuck_runs(home, 1)
    with store.read() as db:
        [listed] = db.runs_with_status("sending")
    with FakeBotApi() as api:

        async def crash(firer: Firer, task: asyncio.Task[Any]) -> None:
            task.cancel()  # the process dies here: no clean-up writes
            with contextlib.suppress(asyncio.CancelledError):
                await task

        asyncio.run(resend_while_queued(store, api, listed, crash))
        with store.read() as db:
            [left] = db.runs_with_status("sending")
        assert (left.errorClass, api.texts()) == (None, ["earlier"])

        async def next_start() -> Run | None:
            async with sender_for(api) as sender:
                firer = firer_for(store, sender)
                return await asyncio.wait_for(firer.recover_run(left), BOUND_S)

        done = asyncio.run(next_start())
        texts = api.texts()
    assert done is not None and done.status == "sent"
    assert texts == ["earlier", "stuck 0"]
    assert "resent after the daemon stopped mid-send" in (done.note or "")


def test_a_database_that_refuses_a_part_id_does_not_fail_the_send(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sent part's id is written at once, for crash recovery only. A server
    restarting at that moment is no reason to call a delivered message failed:
    the outcome, written after, carries the ids anyway."""
    import reminders.fire_records

    def refused(*_args: Any) -> None:
        raise TransientError("Cannot reach the database server (restarting)")

    monkeypatch.setattr(reminders.fire_records.FireRecords, "record_parts", refused)
    store, _slot = hourly_due(home)
    with FakeBotApi() as api:
        run, _ = fire(store, api)
        texts = api.texts()
    assert run is not None
    assert (run.status, run.messageIds, texts) == ("sent", [1], ["stretch"])


def test_sent_ids_are_on_disk_when_noted_and_a_burst_shares_transactions(
    home: Path,
) -> None:
    """Each message id is on disk when `note` returns (a crash after it resends
    nothing); the ids of a burst that arrive while a write is on its way share the
    next transaction instead of queueing one each."""
    from reminders.fire_records import FireRecords, PartLog

    store = stuck_runs(home, 30)
    with store.read() as db:
        runs = db.runs_with_status("sending")
    records = FireRecords(store, SystemClock())
    batches: list[int] = []
    real = records.record_parts

    def counted(parts: dict[int, tuple[list[int], int]]) -> None:
        batches.append(len(parts))
        real(parts)

    records.record_parts = counted  # type: ignore[method-assign]
    log = PartLog(records)

    async def burst() -> None:
        await asyncio.gather(
            *(log.note(run.id, [1000 + n]) for n, run in enumerate(runs))
        )

    asyncio.run(burst())
    log.close()  # a send still finishing after its firer closed
    asyncio.run(log.note(runs[0].id, [1000, 2000]))
    with store.read() as db:
        noted = {run.id: run.messageIds for run in db.runs_with_status("sending")}
    wanted = {run.id: [1000 + n] for n, run in enumerate(runs)}
    assert noted == wanted | {runs[0].id: [1000, 2000]}
    assert batches[-1] == 1 and sum(batches[:-1]) == 30, batches
    assert len(batches) <= 3, batches


def test_a_resend_released_at_a_stop_keeps_its_count(home: Path) -> None:
    """A resend still waiting for its turn when the daemon stops is released: the
    run goes back to what it was, its count of resends begun included, so clean
    stops between crashes cannot reset MAX_RESENDS."""
    from reminders.fire_records import RESENDING

    store = stuck_runs(home, 1, error_class=RESENDING)
    with store.write() as db:
        [stuck] = db.runs_with_status("sending")
        db.update_run(stuck.id, attempts=1)
    with store.read() as db:
        [listed] = db.runs_with_status("sending")
    with FakeBotApi() as api:

        async def stop(firer: Firer, task: asyncio.Task[Any]) -> None:
            firer.sender.limiter.close()  # the daemon stops: queued sends give up
            await asyncio.wait_for(task, BOUND_S)
            assert firer.release_stopped() == 1

        asyncio.run(resend_while_queued(store, api, listed, stop))
        texts = api.texts()
    with store.read() as db:
        [left] = db.runs_with_status("sending")
    assert texts == ["earlier"]
    assert (left.errorClass, left.attempts) == (RESENDING, 1)
