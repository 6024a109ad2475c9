"""The fire path's rules, pure: which slot a fire serves, what its outcome does.

`plan_fire` is design decision 5 (late, catch up once, or record missed);
`outcome_effect` says what an outcome does to its reminder: OpenClaw's state
fields, the schedule, a failure alert. Neither reads the clock or the database:
the Firer passes `now` in and applies what they return inside its transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reminders import triggers
from reminders.render import instant
from reminders.schema import AtSchedule, FailureAlert, Reminder, Run
from reminders.timeparse import format_duration
from reminders.triggers import anchor_of, next_run

LATE_AFTER_MS = 60_000


# -- which slot a fire serves -------------------------------------------------------


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
    count, cursor = 0, first - 1
    while count < 10_000:
        slot = triggers.next_fire_ms(
            reminder.schedule,
            reminder_id=reminder.id,
            default_tz=default_tz,
            after_ms=cursor,
            anchor_ms=anchor_of(reminder),
        )
        if slot is None or slot >= last:
            break
        count, cursor = count + 1, slot
    return count


# -- what an outcome is, and when it calls for an alert ------------------------------


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


def alert_due(
    policy: AlertPolicy | None, errors: int, last_alert_ms: int | None, now_ms: int
) -> bool:
    """`errors` failures in a row: is an alert due under `policy`?"""
    if policy is None or errors < policy.after:
        return False
    return last_alert_ms is None or now_ms - last_alert_ms >= policy.cooldown_ms


# -- what an outcome does to its reminder ---------------------------------------------
#
# The run's status sets OpenClaw's state fields (any other status counts as failed):
#
#   status    lastStatus  lastDelivered  lastDeliveryStatus  consecutiveErrors
#   sent      ok          true           delivered           0
#   skipped   ok          false          not-requested       0
#   failed    error       false          not-delivered       one more
#
# A scheduled fire then moves the schedule (a manual `run` keeps it: "keep"):
#
#   one-shot, ok, deleteAfterRun   -> "delete": the reminder goes
#   one-shot, otherwise            -> "disable": disabled, no next run
#   recurring                      -> "advance": to the next slot after the one just
#                                     served (after now when it was edited meanwhile)
#
# A failure alert goes out once the failures in a row reach the policy's count, at
# most once per cooldown; a reply from a migrated group moves the target along.

STATUS_RULES: dict[str, tuple[str, bool, str]] = {
    "sent": ("ok", True, "delivered"),
    "skipped": ("ok", False, "not-requested"),
    "failed": ("error", False, "not-delivered"),
}


@dataclass(frozen=True)
class Effect:
    """What recording an outcome does to its reminder."""

    state: dict[str, Any] = field(default_factory=dict)  # ReminderState fields to set
    schedule: str = "keep"  # keep | advance | disable | delete
    retarget: str | None = None  # the delivery's new `to` (a group that migrated)
    alert: tuple[str, str] | None = None  # (to, text): a failure alert to send

    def apply(self, reminder: Reminder) -> None:
        """Set the fields on `reminder` (a deletion is the caller's to make)."""
        for name, value in self.state.items():
            setattr(reminder.state, name, value)
        if self.retarget is not None and reminder.delivery is not None:
            reminder.delivery.to = self.retarget
        if self.schedule == "disable":
            reminder.enabled = False


def outcome_effect(
    reminder: Reminder,
    run: Run,
    outcome: Outcome,
    *,
    advance: bool,
    now_ms: int,
    default_tz: str,
    alerts: AlertPolicy,
) -> Effect:
    """What `outcome` of `run` does to `reminder` (as stored now), by the rules above."""
    status, delivered, delivery_status = STATUS_RULES.get(
        outcome.status, STATUS_RULES["failed"]
    )
    ok = status == "ok"
    started = run.startedAtMs or now_ms
    errors = 0 if ok else (reminder.state.consecutiveErrors or 0) + 1
    state: dict[str, Any] = {
        "runningAtMs": None,
        "lastRunAtMs": started,
        "lastDurationMs": now_ms - started,
        "lastRunStatus": status,
        "lastStatus": status,
        "lastError": None if ok else f"{outcome.error_class}: {outcome.error_text}",
        "consecutiveErrors": errors,
        "lastDelivered": delivered,
        "lastDeliveryStatus": delivery_status,
        "lastDeliveryError": None if ok else outcome.error_text,
    }
    retarget = None
    if outcome.new_chat_id is not None and reminder.delivery is not None:
        retarget = str(outcome.new_chat_id)
    alert = None
    policy = alerts.for_reminder(reminder)
    last_alert = reminder.state.lastFailureAlertAtMs
    if not ok and policy is not None and alert_due(policy, errors, last_alert, now_ms):
        state["lastFailureAlertAtMs"] = now_ms
        alert = (policy.to, alert_text(reminder, errors, outcome))
    schedule = "keep"
    if advance and isinstance(reminder.schedule, AtSchedule):
        schedule = "delete" if ok and reminder.deleteAfterRun else "disable"
        state["nextRunAtMs"] = None
    elif advance:
        # From the slot just served, not from now: slots that passed meanwhile (a
        # long retry, a crash) then go through plan_fire's catch-up-or-missed rule
        # instead of vanishing. An edit made during the send starts afresh from now.
        after = now_ms if reminder.updatedAtMs > started else run.scheduledForMs
        schedule = "advance"
        state["nextRunAtMs"] = next_run(reminder, default_tz, after)
    return Effect(state, schedule, retarget, alert)


def alert_text(reminder: Reminder, errors: int, outcome: Outcome) -> str:
    error = f"{outcome.error_class}: {outcome.error_text}"
    return (
        f'Reminder "{reminder.name}" failed {errors} times '
        f"in a row.\nLast error: {error[:200]}\n"
        f"See `reminders runs {reminder.id}`."
    )


def join_notes(*parts: str | None) -> str | None:
    return "; ".join(part for part in parts if part) or None
