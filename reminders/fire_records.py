"""Every transaction the fire path makes: claim a run, note its parts, record its
outcome, close or release it.

Design decision 6: a run is claimed (`sending`) in its own transaction before the
HTTP call and becomes `sent` only with Telegram message ids. Each method here is
one short transaction, run in a thread; none is held open across a send.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reminders.fire_rules import AlertPolicy, Outcome, outcome_effect, plan_fire
from reminders.render import instant
from reminders.schema import AtSchedule, Reminder, Run
from reminders.store import Store
from reminders.triggers import next_run

log = logging.getLogger("reminders.fire")
# error_class of a `sending` run while crash recovery resends it; `attempts` counts
# the resends begun. A send cut off by a crash is resent, and so is a resend cut off
# before its request left (telling the two apart is impossible); after MAX_RESENDS
# the run is closed as ambiguous, so a crash loop cannot flood a chat.
RESENDING = "Resending"
MAX_RESENDS = 2


def resends_begun(run: Run) -> int:
    """How many resends of a `sending` run a crash has already cut off."""
    if run.errorClass != RESENDING:
        return 0
    return max(run.attempts, 1)  # marked before resends were counted: one


class FireRecords:
    """The fire path's reads and writes on one store; `clock` times what they record."""

    def __init__(self, store: Store, clock: Any) -> None:
        self.store = store
        self.clock = clock

    # -- claim ---------------------------------------------------------------------

    def claim_scheduled(
        self,
        reminder_id: str,
        now: int,
        *,
        default_tz: str,
        catch_up_ms: int,
        started_ms: int | None,
        fence: Any,
    ) -> tuple[Reminder, Run] | None:
        """Claim the slot plan_fire picks; None when there is nothing to send."""
        with self.store.write() as tx:
            reminder = tx.get(reminder_id)
            if reminder is None:
                return None
            plan = plan_fire(reminder, now, default_tz, catch_up_ms, started_ms)
            if plan is None:
                return None
            if plan.missed_slot is not None:
                tx.insert_run(
                    reminder_id=reminder.id,
                    reminder_name=reminder.name,
                    scheduled_for_ms=plan.missed_slot,
                    status="missed",
                    trigger="schedule",
                    finished_at_ms=now,
                    note=plan.missed_note,
                    fence=fence,
                )
                log.warning("%s (%s): %s", reminder.name, reminder.id, plan.missed_note)
            if plan.slot is None:
                reminder.state.nextRunAtMs = next_run(reminder, default_tz, now)
                tx.save(reminder, now)
                return None
            run_id = tx.insert_run(
                reminder_id=reminder.id,
                reminder_name=reminder.name,
                scheduled_for_ms=plan.slot,
                status="sending",
                trigger=plan.trigger,
                started_at_ms=now,
                fence=fence,
            )
            if run_id is None:
                # This slot already has a run (a crash between claim and finish is
                # recovered separately): move the reminder past it.
                if isinstance(reminder.schedule, AtSchedule):
                    reminder.state.lastRunAtMs = max(
                        reminder.state.lastRunAtMs or 0, plan.slot
                    )
                reminder.state.nextRunAtMs = next_run(reminder, default_tz, now)
                tx.save(reminder, now)
                return None
            reminder.state.runningAtMs = now
            tx.save(reminder, now)
            run = tx.get_run(run_id)
            assert run is not None
            return reminder, run

    def claim_manual(self, reminder: Reminder, now: int) -> Run:
        """Claim a `reminders run`: a slot of its own, now (or the next free ms)."""
        with self.store.write() as tx:
            run_id = tx.insert_run_at_free_slot(
                reminder_id=reminder.id,
                reminder_name=reminder.name,
                scheduled_for_ms=now,
                status="sending",
                trigger="manual",
                started_at_ms=now,
            )
            run = tx.get_run(run_id)
            assert run is not None
            return run

    # -- while sending -------------------------------------------------------------

    def record_parts(self, parts: dict[int, tuple[list[int], int]]) -> None:
        """Note the message ids each run has sent so far, in one transaction:
        {run id: (ids, when the last of them was accepted)}."""
        with self.store.write() as tx:
            for run_id, (ids, at_ms) in parts.items():
                values: dict[str, Any] = {"message_ids": ids}
                if len(ids) == 1:  # the first message reached Telegram: delivered
                    values["delivered_at_ms"] = at_ms
                tx.update_run(run_id, **values)

    # -- record --------------------------------------------------------------------

    def record(
        self,
        reminder: Reminder,
        run: Run,
        outcome: Outcome,
        *,
        advance: bool,
        default_tz: str,
        alerts: AlertPolicy,
    ) -> tuple[Run, tuple[str, str] | None]:
        """Record the outcome; returns the run and an alert (chat, text) to send."""
        now = self.clock.now_ms()
        with self.store.write() as tx:
            delivered = {}
            if outcome.status == "sent" and run.deliveredAtMs is None:
                recorded = tx.get_run(run.id)
                if recorded is None or recorded.deliveredAtMs is None:
                    delivered = {"delivered_at_ms": now}
            tx.update_run(
                run.id,
                **delivered,
                status=outcome.status,
                finished_at_ms=now,
                message_ids=outcome.message_ids,
                error_class=outcome.error_class,
                error_text=outcome.error_text,
                attempts=max(outcome.attempts, 1),
                note=outcome.note,
            )
            current = tx.get(reminder.id)
            alert = None
            if current is not None:
                effect = outcome_effect(
                    current,
                    run,
                    outcome,
                    advance=advance,
                    now_ms=now,
                    default_tz=default_tz,
                    alerts=alerts,
                )
                alert = effect.alert
                if effect.schedule == "delete":
                    tx.delete(current.id, now)
                else:
                    effect.apply(current)
                    tx.save(current, now)
            done = tx.get_run(run.id)
        assert done is not None
        _log(reminder, done)
        return done, alert

    def close(self, run: Run, error_class: str, why: str) -> None:
        """End a run as failed with the reason, touching nothing else, unless its
        outcome was recorded meanwhile (by the daemon that claimed it)."""
        with self.store.write() as tx:
            tx.update_run(
                run.id,
                status_was="sending",
                status="failed",
                finished_at_ms=self.clock.now_ms(),
                error_class=error_class,
                error_text=why,
            )

    def release(self, runs: list[tuple[Run, bool]]) -> None:
        """Undo claims (run, whether it was a resend) in one transaction: a scheduled
        run is deleted so its reminder fires again; a resend goes back to what it
        was before it (its count of resends begun too, so stops cannot reset it)."""
        with self.store.write() as tx:
            for run, resent in runs:
                if resent:
                    tx.update_run(
                        run.id,
                        status_was="sending",
                        error_class=run.errorClass,
                        error_text=run.errorText,
                        attempts=run.attempts,
                    )
                else:
                    tx.delete_run(run.id)

    # -- crash recovery ------------------------------------------------------------

    def stuck_runs(self) -> list[Run]:
        with self.store.read() as tx:
            return tx.runs_with_status("sending")

    def load(self, reminder_id: str) -> Reminder | None:
        with self.store.read() as tx:
            return tx.get(reminder_id)

    def still_sending(self, run_id: int) -> bool:
        with self.store.read() as tx:
            current = tx.get_run(run_id)
        return current is not None and current.status == "sending"

    def mark_resending(self, run: Run) -> bool:
        """Count a resend as its request is about to leave; False when the run is
        no longer `sending`."""
        count = resends_begun(run) + 1
        with self.store.write() as tx:
            return tx.update_run(
                run.id,
                status_was="sending",
                error_class=RESENDING,
                error_text=f"being resent after the daemon stopped mid-send "
                f"(resend {count} of at most {MAX_RESENDS})",
                attempts=count,
            )


def _log(reminder: Reminder, run: Run) -> None:
    lateness = run.lateness_ms or 0
    log.info(
        "fired %s (%s) scheduled %s late %dms: %s%s%s",
        reminder.name,
        reminder.id,
        instant(run.scheduledForMs, "UTC"),
        lateness,
        run.status,
        f" messages {run.messageIds}" if run.messageIds else "",
        f" error {run.errorClass}: {run.errorText}" if run.errorClass else "",
    )


class PartLog:
    """Writes down what reached the chat as it comes back, on a thread of its own
    and never queued behind a burst's claims: until a message's id is on disk, a
    crash resends it. What arrives while a write is on its way goes in the next
    one, so a burst costs a few transactions, not one per message."""

    def __init__(self, records: FireRecords) -> None:
        self.records = records
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="reminders-sent")
        self._pending: dict[int, tuple[list[int], int]] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False  # a send still finishing writes on the loop's pool

    async def note(self, run_id: int, ids: list[int]) -> None:
        """Return once the run's ids are on disk; raises what the write raised."""
        loop = asyncio.get_running_loop()
        self._pending[run_id] = (list(ids), self.records.clock.now_ms())
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append(done)
        if self._writer is None:
            self._writer = loop.create_task(self._write())
        await done

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                waiting, self._waiting = self._waiting, []
                try:
                    await loop.run_in_executor(
                        None if self._closed else self._thread,
                        self.records.record_parts,
                        batch,
                    )
                except asyncio.CancelledError:  # the loop is going away
                    for future in [*waiting, *self._waiting]:
                        future.cancel()
                    self._pending, self._waiting = {}, []
                    raise
                except Exception as exc:  # each waiter decides what it means
                    for future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for future in waiting:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._writer = None

    def close(self) -> None:
        """Let the thread go once it finishes what it was given."""
        self._closed = True
        self._thread.shutdown(wait=False)
