"""Firing one reminder, one way: claim -> send -> record.

The Firer orchestrates. What it decides is pure (reminders.fire_rules); claiming
and recording are one short transaction each (reminders.fire_records); the send
is reminders.fire_send; the runs a stop mid-send left `sending` are finished by
reminders.recovery. Design decision 6: a run is claimed before the HTTP call and
no transaction is held open across it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from reminders import fire_send, recovery
from reminders.errors import (
    ReminderError,
    StoreBusy,
    StoreUnwritable,
    TransientError,
)
from reminders.fire_records import FireRecords, PartLog
from reminders.fire_rules import AlertPolicy, Outcome, join_notes
from reminders.fire_send import FireHooks, Sender
from reminders.schema import Reminder, Run
from reminders.store import Store
from reminders.webhook import WebhookSender, make_webhook_sender

log = logging.getLogger("reminders.fire")
T = TypeVar("T")


class Firer:
    """Runs fires against one store and one sender; shared by the daemon and `run`."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        *,
        default_tz: str,
        catch_up_ms: int,
        parse_mode: str | None,
        on_ambiguous: str,
        clock: Any,
        started_ms: int | None = None,
        alerts: AlertPolicy | None = None,
        webhook: WebhookSender | None = None,
        hooks: FireHooks | None = None,
    ) -> None:
        self.store = store
        self.records = FireRecords(store, clock)
        self.hooks = hooks
        self.sender = sender
        self.webhook = webhook or WebhookSender(clock=clock, on_ambiguous=on_ambiguous)
        self.default_tz = default_tz
        self.catch_up_ms = catch_up_ms
        self.parse_mode = parse_mode
        self.on_ambiguous = on_ambiguous
        self.clock = clock
        self.started_ms = started_ms
        self.alerts = alerts or AlertPolicy(after=0)
        # Claims to undo as the daemon stops: (run, whether it was a resend).
        self.released: list[tuple[Run, bool]] = []
        self.stopping = False  # the daemon is stopping: claim nothing more
        # Called when the database refuses to record an outcome; it returns when
        # it is worth trying again. None: the error propagates (`reminders run`).
        self.on_store_fault: Callable[[Exception], Awaitable[None]] | None = None
        # Several daemons on PostgreSQL: the lease this one must hold to claim or
        # send (reminders.lease.Leadership); None when it is the only daemon.
        self.leadership: Any = None
        self.parts = PartLog(self.records)  # what reached the chat, written at once

    def close(self) -> None:
        self.parts.close()

    # -- scheduled fires -------------------------------------------------------

    async def fire(self, reminder_id: str) -> Run | None:
        now = self.clock.now_ms()
        claimed = await asyncio.to_thread(self._claim_scheduled, reminder_id, now)
        if claimed is None:
            return None
        reminder, run = claimed
        return await self.deliver(reminder, run, advance=True)

    def _claim_scheduled(
        self, reminder_id: str, now: int
    ) -> tuple[Reminder, Run] | None:
        if self.stopping:  # queued before the stop: leave it for the next start
            return None
        fence = self.leadership.fence() if self.leadership is not None else None
        return self.records.claim_scheduled(
            reminder_id,
            now,
            default_tz=self.default_tz,
            catch_up_ms=self.catch_up_ms,
            started_ms=self.started_ms,
            fence=fence,
        )

    # -- manual fires ----------------------------------------------------------

    async def run_now(self, reminder: Reminder) -> Run:
        """Deliver now without moving the schedule."""
        now = self.clock.now_ms()
        run = await asyncio.to_thread(self.records.claim_manual, reminder, now)
        return await self.deliver(reminder, run, advance=False)

    # -- crash recovery (reminders.recovery) and stopping ----------------------

    async def recover(self) -> list[Run]:
        """Finish the runs a crash left `sending`; never raises."""
        return await recovery.recover(self)

    async def recover_run(self, run: Run) -> Run | None:
        """Resend one `sending` run (this time), or close it; never raises."""
        return await recovery.recover_run(self, run)

    def stuck_runs(self) -> list[Run]:
        return self.records.stuck_runs()

    def release_stopped(self) -> int:
        """Undo the claims of runs the daemon stopped before sending anything (in
        one transaction, as the daemon stops): a scheduled run is deleted so its
        reminder fires again on start, a resend goes back to plain `sending`.
        Returns how many."""
        runs, self.released = self.released, []
        if not runs:
            return 0
        self.records.release(runs)
        return len(runs)

    # -- delivery --------------------------------------------------------------

    async def deliver(
        self, reminder: Reminder, run: Run, *, advance: bool, resent: bool = False
    ) -> Run:
        try:
            outcome = await fire_send.send_run(self, reminder, run, resent=resent)
        except Exception as exc:
            log.exception("sending %s (%s) failed", reminder.name, reminder.id)
            outcome = Outcome(
                "failed", list(run.messageIds), type(exc).__name__, str(exc)
            )
        if outcome.status in ("released", "interrupted"):
            if outcome.status == "released":
                self.released.append((run, resent))
            return run
        if resent:
            outcome.note = join_notes(
                outcome.note, "resent after the daemon stopped mid-send"
            )
        return await self.complete(reminder, run, outcome, advance)

    async def complete(
        self, reminder: Reminder, run: Run, outcome: Outcome, advance: bool
    ) -> Run:
        """Record the outcome. A bug while recording it still ends the run: failed
        with the error (the schedule moves on as after any failure), or, if that
        fails too, closed as failed on its own."""
        for last_try in (False, True):
            try:
                done, alert = await self.write(
                    self._record, reminder, run, outcome, advance
                )
                break
            except (StoreBusy, StoreUnwritable):
                raise
            except Exception as exc:
                if self.leadership is not None and isinstance(exc, ReminderError):
                    raise  # the connection or the lease went: the leader resends it
                log.exception("recording run %s of %s failed", run.id, reminder.id)
                if last_try:
                    why = str(outcome.error_text)
                    await self.write(
                        self.records.close, run, str(outcome.error_class), why
                    )
                    return run.model_copy(
                        update={
                            "status": "failed",
                            "errorClass": outcome.error_class,
                            "errorText": why,
                        }
                    )
                outcome = Outcome(
                    "failed",
                    outcome.message_ids,
                    type(exc).__name__,
                    str(exc)[:500],
                    outcome.attempts,
                    note=join_notes(
                        outcome.note, f"its {outcome.status} outcome hit a bug"
                    ),
                )
        if alert is not None:
            await fire_send.send_alert(self.sender, *alert)
        return done

    def _record(
        self, reminder: Reminder, run: Run, outcome: Outcome, advance: bool
    ) -> tuple[Run, tuple[str, str] | None]:
        return self.records.record(
            reminder,
            run,
            outcome,
            advance=advance,
            default_tz=self.default_tz,
            alerts=self.alerts,
        )

    async def write(self, write: Callable[..., T], *args: Any) -> T:
        """`write(*args)` in a thread, tried again while the database refuses it
        (what it records, a sent message's outcome, is kept in memory meanwhile)."""
        delay = 0.2
        while True:
            try:
                return await asyncio.to_thread(write, *args)
            except (StoreBusy, StoreUnwritable) as exc:
                if self.on_store_fault is None:
                    raise
                await self.on_store_fault(exc)
            except TransientError:
                # A PostgreSQL connection lost: tried again while this daemon holds
                # the lease; once it does not, the new leader resends the run.
                if self.leadership is None or not self.leadership.holds():
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def make_firer(
    store: Store,
    sender: Sender,
    settings: Any,
    clock: Any,
    started_ms: int | None = None,
) -> Firer:
    """A Firer configured from the settings (the daemon's and `reminders run`'s)."""
    from reminders.config import default_timezone
    from reminders.timeparse import parse_duration

    delivery = settings.delivery
    return Firer(
        store,
        sender,
        default_tz=default_timezone(settings),
        catch_up_ms=parse_duration(settings.general.catch_up),
        parse_mode=settings.telegram.parse_mode or None,
        on_ambiguous=delivery.on_ambiguous,
        clock=clock,
        started_ms=started_ms,
        alerts=AlertPolicy(
            after=delivery.failure_alert_after,
            to=delivery.failure_alert_to,
            cooldown_ms=parse_duration(delivery.failure_alert_cooldown),
        ),
        webhook=make_webhook_sender(settings, clock),
    )
