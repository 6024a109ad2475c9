"""Firing one reminder: decide the slot, claim the run, send, record the outcome.

The decision (`plan_fire`) is pure. The rest keeps to design decision 6: a run is
claimed (`sending`) in its own transaction before the HTTP call, becomes `sent`
only with Telegram message ids, and no transaction is held open across a send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from reminders import triggers
from reminders.errors import (
    ReminderError,
    StoreBusy,
    StoreUnwritable,
    TransientError,
    ValidationError,
)
from reminders.ratelimit import Stopped
from reminders.render import instant
from reminders.schema import AtSchedule, FailureAlert, Reminder, Run
from reminders.store import Store
from reminders.targets import parse_target
from reminders.timeparse import format_duration
from reminders.transaction import Transaction
from reminders.triggers import anchor_of, next_run
from reminders.webhook import WebhookSender, make_webhook_sender

if TYPE_CHECKING:
    from reminders.delivery import SendResult

log = logging.getLogger("reminders.fire")
T = TypeVar("T")
LATE_AFTER_MS = 60_000
# error_class of a `sending` run while crash recovery resends it (at most once)
RESENDING = "Resending"


class Sender(Protocol):
    async def send(self, target: Any, text: str, **options: Any) -> SendResult: ...


class FireHooks(Protocol):
    """What the daemon adds to a scheduled send: quiet hours, the chat's buttons."""

    def send_options(self, reminder: Reminder, run: Run) -> dict[str, Any]: ...

    async def delivered(
        self, reminder: Reminder, run: Run, target: Any, result: SendResult
    ) -> None: ...


@dataclass(frozen=True)
class FirePlan:
    """What to do when a reminder's job runs at `now`."""

    slot: int | None  # the slot to deliver for; None: deliver nothing
    trigger: str = "schedule"  # schedule | late | catch-up
    missed_slot: int | None = None  # a `missed` run to record, if any
    missed_note: str | None = None


def plan_fire(
    reminder: Reminder,
    now_ms: int,
    default_tz: str,
    catch_up_ms: int,
    started_ms: int | None = None,
) -> FirePlan | None:
    """Design decision 5 as a pure function. None: nothing is due (a stale job).

    A run is late when its slot passed before the daemon started (it was down) or
    when it starts more than a minute after its slot.
    """
    due = reminder.state.nextRunAtMs
    if not reminder.enabled or due is None or due > now_ms:
        return None

    def kind(slot: int) -> str:
        down = started_ms is not None and slot < started_ms
        return "late" if down or now_ms - slot > LATE_AFTER_MS else "schedule"

    if isinstance(reminder.schedule, AtSchedule):
        return FirePlan(due, kind(due))
    latest = triggers.previous_fire_ms(
        reminder.schedule,
        reminder_id=reminder.id,
        default_tz=default_tz,
        at_or_before_ms=now_ms,
        anchor_ms=anchor_of(reminder),
    )
    latest = max(latest or due, due)
    window = reminder.catchUpMs if reminder.catchUpMs is not None else catch_up_ms
    skipped = _count_slots(reminder, default_tz, due, latest)
    if now_ms - latest > window:
        note = (
            f"{skipped + 1} slot(s) from {instant(due, 'UTC')} missed; the latest was "
            f"{format_duration(now_ms - latest)} ago, past the "
            f"{format_duration(window)} catch-up window"
        )
        return FirePlan(None, missed_slot=latest, missed_note=note)
    if latest == due:
        return FirePlan(due, kind(due))
    note = (
        f"{skipped} earlier slot(s) missed; caught up once at {instant(latest, 'UTC')}"
    )
    return FirePlan(latest, "catch-up", missed_slot=due, missed_note=note)


def _count_slots(reminder: Reminder, default_tz: str, first: int, last: int) -> int:
    """How many slots lie in [first, last), counting at most 10,000."""
    if last <= first:
        return 0
    times = triggers.upcoming_ms(
        reminder.schedule,
        reminder_id=reminder.id,
        default_tz=default_tz,
        after_ms=first - 1,
        count=10_000,
        anchor_ms=anchor_of(reminder),
    )
    return sum(1 for ms in times if ms < last)


@dataclass(frozen=True)
class AlertPolicy:
    """After `after` failures in a row, tell `to`, at most once per cooldown."""

    after: int = 3
    to: str = ""
    cooldown_ms: int = 3_600_000

    def for_reminder(self, reminder: Reminder) -> AlertPolicy | None:
        """The policy for one reminder: its OpenClaw failureAlert wins; off when 0."""
        custom = reminder.failureAlert
        if custom is False or (reminder.delivery and reminder.delivery.bestEffort):
            return None
        policy = self
        if isinstance(custom, FailureAlert):
            policy = AlertPolicy(
                after=self.after if custom.after is None else custom.after,
                to=str(custom.to or self.to),
                cooldown_ms=(
                    self.cooldown_ms if custom.cooldownMs is None else custom.cooldownMs
                ),
            )
        return policy if policy.after > 0 and policy.to else None


def alert_due(reminder: Reminder, policy: AlertPolicy | None, now_ms: int) -> bool:
    state = reminder.state
    if policy is None or (state.consecutiveErrors or 0) < policy.after:
        return False
    last = state.lastFailureAlertAtMs
    return last is None or now_ms - last >= policy.cooldown_ms


@dataclass
class Outcome:
    # sent | failed | skipped; released (a claim to undo) or interrupted (left
    # `sending`) when the daemon stopped before the send was done
    status: str
    message_ids: list[int]
    error_class: str | None = None
    error_text: str | None = None
    attempts: int = 0
    note: str | None = None
    new_chat_id: int | str | None = None


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

    # -- scheduled fires -------------------------------------------------------

    async def fire(self, reminder_id: str) -> Run | None:
        now = self.clock.now_ms()
        claimed = await asyncio.to_thread(self._claim_scheduled, reminder_id, now)
        if claimed is None:
            return None
        reminder, run = claimed
        return await self._deliver(reminder, run, advance=True)

    def _claim_scheduled(
        self, reminder_id: str, now: int
    ) -> tuple[Reminder, Run] | None:
        if self.stopping:  # queued before the stop: leave it for the next start
            return None
        fence = self.leadership.fence() if self.leadership is not None else None
        with self.store.write() as tx:
            reminder = tx.get(reminder_id)
            if reminder is None:
                return None
            plan = plan_fire(
                reminder, now, self.default_tz, self.catch_up_ms, self.started_ms
            )
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
                reminder.state.nextRunAtMs = next_run(reminder, self.default_tz, now)
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
                reminder.state.nextRunAtMs = next_run(reminder, self.default_tz, now)
                tx.save(reminder, now)
                return None
            reminder.state.runningAtMs = now
            tx.save(reminder, now)
            run = tx.get_run(run_id)
            assert run is not None
            return reminder, run

    # -- manual fires ----------------------------------------------------------

    async def run_now(self, reminder: Reminder) -> Run:
        """Deliver now without moving the schedule."""
        now = self.clock.now_ms()

        def claim() -> Run:
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

        run = await asyncio.to_thread(claim)
        return await self._deliver(reminder, run, advance=False)

    # -- crash recovery --------------------------------------------------------

    async def recover(self) -> list[Run]:
        """Finish the runs a crash left `sending`, all at once (the rate limiter
        paces their sends). Never raises: a run that cannot be finished is closed
        with the reason, and the others go on."""
        stuck = await asyncio.to_thread(self.stuck_runs)
        done = await asyncio.gather(*(self.recover_run(run) for run in stuck))
        return [run for run in done if run is not None]

    async def recover_run(self, run: Run) -> Run | None:
        """Resend one `sending` run once, or close it; never raises."""
        try:
            return await self._recover_run(run)
        except Exception as exc:
            if self.leadership is not None and isinstance(exc, ReminderError):
                # The lease or the connection went: whoever leads resends it.
                log.warning("run %s not recovered now: %s", run.id, exc)
                return None
            log.exception("recovering run %s of %s failed", run.id, run.reminderId)
            why = f"recovery failed ({type(exc).__name__}: {exc})"
            await self._write(self._close_run, run, "RecoveryFailed", why)
            return None

    async def _recover_run(self, run: Run) -> Run | None:
        if run.trigger == "nag":  # the chat's re-send: its chain's next nag follows
            why = "the daemon stopped mid-nag"
            await asyncio.to_thread(self._close_run, run, "Orphaned", why)
            return None
        reminder = await asyncio.to_thread(self._load, run.reminderId)
        if reminder is None:
            await self._write(
                self._close_run, run, "Orphaned", "the reminder was deleted meanwhile"
            )
            return None
        advance = run.trigger != "manual"
        if run.errorClass == RESENDING or self.on_ambiguous == "skip":
            why = "the daemon stopped again while resending it; not resent twice"
            if run.errorClass != RESENDING:
                why = "the daemon stopped mid-send; not resent (on_ambiguous = skip)"
            outcome = Outcome(
                "failed", run.messageIds, "AmbiguousSend", why, run.attempts
            )
            return await self._complete(reminder, run, outcome, advance)
        log.warning(
            "resending %s (%s) for %s: the daemon stopped mid-send",
            reminder.name,
            reminder.id,
            instant(run.scheduledForMs, "UTC"),
        )
        # Marked first, so a crash during this resend does not lead to another.
        await self._write(self._mark_resending, run.id)
        return await self._deliver(reminder, run, advance=advance, resent=True)

    def _mark_resending(self, run_id: int) -> None:
        with self.store.write() as tx:
            tx.update_run(
                run_id,
                error_class=RESENDING,
                error_text="being resent after the daemon stopped mid-send",
            )

    def stuck_runs(self) -> list[Run]:
        with self.store.read() as tx:
            return tx.runs_with_status("sending")

    def _load(self, reminder_id: str) -> Reminder | None:
        with self.store.read() as tx:
            return tx.get(reminder_id)

    def _close_run(self, run: Run, error_class: str, why: str) -> None:
        with self.store.write() as tx:
            tx.update_run(
                run.id,
                status="failed",
                finished_at_ms=self.clock.now_ms(),
                error_class=error_class,
                error_text=why,
            )

    def release_stopped(self) -> int:
        """Undo the claims of runs the daemon stopped before sending anything (in
        one transaction, as the daemon stops): a scheduled run is deleted so its
        reminder fires again on start, a resend goes back to plain `sending`.
        Returns how many."""
        runs, self.released = self.released, []
        if not runs:
            return 0
        with self.store.write() as tx:
            for run, resent in runs:
                if resent:
                    tx.update_run(run.id, error_class=None, error_text=None)
                else:
                    tx.delete_run(run.id)
        return len(runs)

    # -- delivery --------------------------------------------------------------

    async def _deliver(
        self, reminder: Reminder, run: Run, *, advance: bool, resent: bool = False
    ) -> Run:
        try:
            outcome = await self._send(reminder, run)
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
            outcome.note = _join(
                outcome.note, "resent after the daemon stopped mid-send"
            )
        return await self._complete(reminder, run, outcome, advance)

    async def _complete(
        self, reminder: Reminder, run: Run, outcome: Outcome, advance: bool
    ) -> Run:
        """Record the outcome. A bug while recording it still ends the run: failed
        with the error (the schedule moves on as after any failure), or, if that
        fails too, closed as failed on its own."""
        for last_try in (False, True):
            try:
                done, alert = await self._write(
                    self._finish, reminder, run, outcome, advance
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
                    await self._write(
                        self._close_run, run, str(outcome.error_class), why
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
                    note=_join(outcome.note, f"its {outcome.status} outcome hit a bug"),
                )
        if alert is not None:
            await self._send_alert(*alert)
        return done

    async def _write(self, write: Callable[..., T], *args: Any) -> T:
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

    async def _send_alert(self, to: str, text: str) -> None:
        from reminders.delivery import DeliveryFailure

        try:
            await self.sender.send(parse_target(to), text)
        except (DeliveryFailure, ValidationError) as exc:
            log.warning("failure alert to %s not delivered: %s", to, exc)

    async def _send(self, reminder: Reminder, run: Run) -> Outcome:
        if not reminder.delivers:
            return Outcome("skipped", [], note="delivery mode none: nothing sent")
        if reminder.webhook_url is not None:  # each channel sends on its own
            return await self._send_webhook(reminder, run)
        delivery = reminder.delivery
        try:
            target = parse_target(
                delivery.to if delivery else None,
                delivery.threadId if delivery else None,
            )
        except ValidationError as exc:
            return Outcome(
                "failed",
                [],
                "NoTarget",
                f"{exc} Fix it with `reminders edit {reminder.id} --to CHAT`.",
            )
        sent_ids = list(run.messageIds)
        if self.leadership is not None:
            self.leadership.fence()  # a leader paused past its lease sends nothing

        async def on_part(index: int, message_id: int) -> None:
            sent_ids.append(message_id)
            # Only a crash needs it on disk; the outcome carries the ids anyway.
            with contextlib.suppress(StoreBusy, StoreUnwritable):
                await asyncio.to_thread(self._record_part, run.id, list(sent_ids))

        from reminders.delivery import DeliveryFailure

        parse_mode = (
            (delivery.parseMode if delivery else None) or self.parse_mode or None
        )
        extra = self.hooks.send_options(reminder, run) if self.hooks else {}
        try:
            result = await self.sender.send(
                target,
                reminder.text,
                parse_mode=parse_mode,
                silent=bool(delivery and delivery.silent) or extra.pop("silent", False),
                skip_parts=len(run.messageIds),
                on_part=on_part,
                **extra,
            )
        except DeliveryFailure as failure:
            if failure.error_class == Stopped.__name__:
                # Nothing of it may have gone out: undo the claim. Otherwise the run
                # stays `sending`, for crash recovery.
                unsent = len(sent_ids) == len(run.messageIds) and not failure.ambiguous
                return Outcome("released" if unsent else "interrupted", sent_ids)
            return Outcome(
                "failed",
                sent_ids,
                failure.error_class,
                failure.text,
                len(failure.attempts),
                note="; ".join(failure.attempts) or None,
            )
        if self.hooks is not None:
            await self.hooks.delivered(reminder, run, target, result)
        notes = list(result.warnings)
        if len(result.attempts) > 1:  # every attempt's outcome stays on the run
            notes.append("attempts: " + "; ".join(result.attempts))
        if result.plain_fallback:
            notes.append("markup rejected; sent as plain text")
        return Outcome(
            "sent",
            list(run.messageIds) + list(result.message_ids),
            attempts=len(result.attempts),
            note="; ".join(notes) or None,
            new_chat_id=result.chat_id if result.chat_id != target.chat_id else None,
        )

    async def _send_webhook(self, reminder: Reminder, run: Run) -> Outcome:
        from reminders.delivery import DeliveryFailure

        try:
            result = await self.webhook.deliver(reminder, run)
        except ValidationError as exc:
            return Outcome(
                "failed",
                [],
                "NoTarget",
                f"{exc} Fix it with `reminders edit {reminder.id} --webhook URL`.",
            )
        except DeliveryFailure as failure:
            return Outcome(
                "failed",
                [],
                failure.error_class,
                failure.text,
                len(failure.attempts),
                note="; ".join(failure.attempts) or None,
            )
        return Outcome("sent", [], attempts=len(result.attempts), note=result.note)

    def _record_part(self, run_id: int, ids: list[int]) -> None:
        values: dict[str, Any] = {"message_ids": ids}
        if len(ids) == 1:  # the first message reached Telegram: delivered
            values["delivered_at_ms"] = self.clock.now_ms()
        with self.store.write() as tx:
            tx.update_run(run_id, **values)

    def _finish(
        self, reminder: Reminder, run: Run, outcome: Outcome, advance: bool
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
                alert = self._apply_outcome(tx, current, run, outcome, advance, now)
            done = tx.get_run(run.id)
        assert done is not None
        self._log(reminder, done)
        return done, alert

    def _apply_outcome(
        self,
        tx: Transaction,
        reminder: Reminder,
        run: Run,
        outcome: Outcome,
        advance: bool,
        now: int,
    ) -> tuple[str, str] | None:
        """Update the reminder's state and schedule; returns an alert to send."""
        state = reminder.state
        ok = outcome.status in ("sent", "skipped")
        state.runningAtMs = None
        state.lastRunAtMs = run.startedAtMs or now
        state.lastDurationMs = now - (run.startedAtMs or now)
        state.lastRunStatus = state.lastStatus = "ok" if ok else "error"
        state.lastError = None if ok else f"{outcome.error_class}: {outcome.error_text}"
        state.consecutiveErrors = 0 if ok else (state.consecutiveErrors or 0) + 1
        state.lastDelivered = outcome.status == "sent"
        state.lastDeliveryStatus = (
            "delivered"
            if outcome.status == "sent"
            else "not-requested"
            if outcome.status == "skipped"
            else "not-delivered"
        )
        state.lastDeliveryError = None if ok else outcome.error_text
        if outcome.new_chat_id is not None and reminder.delivery is not None:
            reminder.delivery.to = str(outcome.new_chat_id)
        alert = None
        policy = self.alerts.for_reminder(reminder)
        if not ok and policy is not None and alert_due(reminder, policy, now):
            state.lastFailureAlertAtMs = now
            alert = (policy.to, _alert_text(reminder, outcome))
        if advance:
            if isinstance(reminder.schedule, AtSchedule):
                if ok and reminder.deleteAfterRun:
                    tx.delete(reminder.id, now)
                    return None
                reminder.enabled = False
                state.nextRunAtMs = None
            else:
                # From the slot just served, not from now: slots that passed
                # meanwhile (a long retry, a crash) then go through plan_fire's
                # catch-up-or-missed rule instead of vanishing. An edit made
                # during the send starts afresh from now.
                edited = reminder.updatedAtMs > (run.startedAtMs or now)
                after = now if edited else run.scheduledForMs
                state.nextRunAtMs = next_run(reminder, self.default_tz, after)
        tx.save(reminder, now)
        return alert

    @staticmethod
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


def _alert_text(reminder: Reminder, outcome: Outcome) -> str:
    error = f"{outcome.error_class}: {outcome.error_text}"
    return (
        f'Reminder "{reminder.name}" failed {reminder.state.consecutiveErrors} times '
        f"in a row.\nLast error: {error[:200]}\n"
        f"See `reminders runs {reminder.id}`."
    )


def _join(*parts: str | None) -> str | None:
    return "; ".join(part for part in parts if part) or None


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
