"""The fire path's rules as pure functions, table-driven: which slot a fire serves
(late, catch up once, or record missed), and what an outcome does to its reminder
(OpenClaw's state fields, the schedule, failure alerts)."""

from __future__ import annotations

from typing import Any

import pytest

from reminders.fire_rules import AlertPolicy, Outcome, outcome_effect, plan_fire
from reminders.schema import Reminder, Run

T0 = 1795514400000  # 2026-11-24T10:00:00Z
HOUR = 3_600_000


def reminder(schedule: dict[str, Any], due: int | None, **extra: Any) -> Reminder:
    return Reminder.model_validate(
        {
            "id": "r1",
            "name": "r",
            "createdAtMs": T0 - 10 * HOUR,
            "updatedAtMs": T0,
            "schedule": schedule,
            "payload": {"kind": "systemEvent", "text": "x"},
            "state": {"nextRunAtMs": due},
            **extra,
        }
    )


EVERY_10M = {"kind": "every", "everyMs": 600_000, "anchorMs": T0 - 10 * HOUR}
ONE_SHOT = {"kind": "at", "at": "2026-11-24T10:00:00Z"}


@pytest.mark.parametrize(
    ("item", "now", "started", "expected"),
    [
        # a one-shot on time, a minute late, and after downtime however late
        (reminder(ONE_SHOT, T0), T0 + 5, None, (T0, "schedule", None)),
        (reminder(ONE_SHOT, T0), T0 + 61_000, None, (T0, "late", None)),
        (reminder(ONE_SHOT, T0), T0 + 48 * HOUR, T0 + 48 * HOUR, (T0, "late", None)),
        # a recurring reminder on its slot
        (reminder(EVERY_10M, T0), T0 + 20, None, (T0, "schedule", None)),
        # down for 35 minutes: catch up once at the latest slot, one missed row
        (
            reminder(EVERY_10M, T0),
            T0 + 35 * 60_000,
            T0 + 35 * 60_000,
            (T0 + 30 * 60_000, "catch-up", T0),
        ),
        # down for 3 hours: the latest slot is inside the 1 h window
        (
            reminder(EVERY_10M, T0),
            T0 + 3 * HOUR + 60_000,
            None,
            (T0 + 3 * HOUR, "catch-up", T0),
        ),
    ],
)
def test_plan_fire(
    item: Reminder, now: int, started: int | None, expected: tuple
) -> None:
    """Each situation gets the slot, the trigger and the missed row the policy says."""
    plan = plan_fire(item, now, "UTC", HOUR, started)
    assert plan is not None
    assert (plan.slot, plan.trigger, plan.missed_slot) == expected


def test_daily_reminder_outside_its_window_is_missed() -> None:
    """A daily slot two hours gone (window 1 h) is recorded missed, not sent."""
    daily = reminder({"kind": "cron", "expr": "0 10 * * *", "tz": "UTC"}, T0)
    plan = plan_fire(daily, T0 + 2 * HOUR, "UTC", HOUR)
    assert plan is not None and plan.slot is None and plan.missed_slot == T0
    assert "catch-up window" in (plan.missed_note or "")


def test_per_reminder_window_wins() -> None:
    """catchUpMs on the reminder overrides the global window."""
    daily = reminder(
        {"kind": "cron", "expr": "0 10 * * *", "tz": "UTC"}, T0, catchUpMs=3 * HOUR
    )
    plan = plan_fire(daily, T0 + 2 * HOUR, "UTC", HOUR)
    assert plan is not None and plan.slot == T0 and plan.trigger == "late"


def test_the_notes_count_the_slots_missed() -> None:
    """The missed row says how many slots went by: caught up once after 35
    minutes (three earlier slots), or all four missed past the window."""
    plan = plan_fire(reminder(EVERY_10M, T0), T0 + 35 * 60_000, "UTC", HOUR)
    assert plan is not None and plan.missed_note is not None
    assert plan.missed_note.startswith("3 earlier slot(s) missed; caught up once")
    plan = plan_fire(reminder(EVERY_10M, T0), T0 + 35 * 60_000, "UTC", 60_000)
    assert plan is not None and plan.missed_note is not None
    assert plan.missed_note.startswith("4 slot(s) from 2026-11-24 10:00:00 UTC")


@pytest.mark.parametrize(
    "item",
    [
        reminder(EVERY_10M, T0 + 60_000),
        reminder(EVERY_10M, None),
        reminder(EVERY_10M, T0, enabled=False),
    ],
)
def test_nothing_due(item: Reminder) -> None:
    """Not yet due, no next run, or disabled: nothing to do."""
    assert plan_fire(item, T0, "UTC", HOUR) is None


# -- what an outcome does to its reminder -----------------------------------------

SENT_AT = T0 + 5_000  # the send started 5 s after the slot it serves (T0)
NOW = T0 + 65_000  # when its outcome is recorded
EVERY_HOUR = {"kind": "every", "everyMs": HOUR, "anchorMs": T0 - 10 * HOUR}
ALERTS = AlertPolicy(after=3, to="99", cooldown_ms=HOUR)
KEPT = "kept"  # nextRunAtMs is left as it was


def effect_of(
    schedule: dict[str, Any],
    status: str,
    *,
    scheduled: bool = True,
    errors: int = 0,
    now: int = NOW,
    state: dict[str, Any] | None = None,
    new_chat_id: int | None = None,
    **extra: Any,
) -> Any:
    item = Reminder.model_validate(
        {
            "id": "r1",
            "name": "r",
            "createdAtMs": T0 - 10 * HOUR,
            "updatedAtMs": T0 - HOUR,
            "schedule": schedule,
            "payload": {"kind": "systemEvent", "text": "x"},
            "delivery": {"to": "7"},
            "state": {"nextRunAtMs": T0, "consecutiveErrors": errors, **(state or {})},
            **extra,
        }
    )
    run = Run(
        id=1, reminderId="r1", scheduledForMs=T0, startedAtMs=SENT_AT, status="sending"
    )
    error = (None, None) if status != "failed" else ("Forbidden", "bot was blocked")
    outcome = Outcome(status, [], *error, new_chat_id=new_chat_id)
    return outcome_effect(
        item,
        run,
        outcome,
        advance=scheduled,
        now_ms=now,
        default_tz="UTC",
        alerts=ALERTS,
    )


@pytest.mark.parametrize(
    ("schedule", "status", "scheduled", "extra", "expected"),
    [
        # status decides the state fields; a scheduled fire moves on to the next slot
        (EVERY_HOUR, "sent", True, {}, ("ok", "delivered", 0, "advance", T0 + HOUR)),
        (EVERY_HOUR, "skipped", True, {}, ("ok", "not-requested", 0, "advance", T0 + HOUR)),
        (EVERY_HOUR, "failed", True, {}, ("error", "not-delivered", 3, "advance", T0 + HOUR)),
        # a manual `run` keeps the schedule as it was
        (EVERY_HOUR, "sent", False, {}, ("ok", "delivered", 0, "keep", KEPT)),
        (EVERY_HOUR, "failed", False, {}, ("error", "not-delivered", 3, "keep", KEPT)),
        # a one-shot: deleted after a good run when asked, else disabled
        (ONE_SHOT, "sent", True, {"deleteAfterRun": True}, ("ok", "delivered", 0, "delete", None)),
        (ONE_SHOT, "skipped", True, {"deleteAfterRun": True}, ("ok", "not-requested", 0, "delete", None)),
        (ONE_SHOT, "failed", True, {"deleteAfterRun": True}, ("error", "not-delivered", 3, "disable", None)),
        (ONE_SHOT, "sent", True, {}, ("ok", "delivered", 0, "disable", None)),
        (ONE_SHOT, "sent", False, {"deleteAfterRun": True}, ("ok", "delivered", 0, "keep", KEPT)),
    ],
)  # fmt: skip
def test_outcome_rules(
    schedule: dict[str, Any],
    status: str,
    scheduled: bool,
    extra: dict[str, Any],
    expected: tuple[Any, ...],
) -> None:
    """Each outcome sets lastStatus, lastDeliveryStatus and the failures in a row
    (two before this run), then keeps, advances, disables or deletes the reminder."""
    effect = effect_of(schedule, status, scheduled=scheduled, errors=2, **extra)
    state = effect.state
    found = (
        state["lastStatus"],
        state["lastDeliveryStatus"],
        state["consecutiveErrors"],
        effect.schedule,
        state.get("nextRunAtMs", KEPT),
    )
    assert found == expected
    assert state["lastRunAtMs"] == SENT_AT and state["runningAtMs"] is None
    assert state["lastDurationMs"] == NOW - SENT_AT
    assert state["lastDelivered"] is (status == "sent")
    if status == "failed":
        assert state["lastError"] == "Forbidden: bot was blocked"
        assert state["lastDeliveryError"] == "bot was blocked"
    else:
        assert state["lastError"] is None and state["lastDeliveryError"] is None


@pytest.mark.parametrize(
    ("status", "errors", "state", "extra", "alert_to"),
    [
        ("failed", 1, {}, {}, None),  # the second failure in a row: not yet
        ("failed", 2, {}, {}, "99"),  # the third: the configured chat is told
        ("failed", 5, {"lastFailureAlertAtMs": NOW - 600_000}, {}, None),  # cooldown
        ("failed", 5, {"lastFailureAlertAtMs": NOW - HOUR}, {}, "99"),  # cooldown over
        ("failed", 2, {}, {"failureAlert": False}, None),  # off for this reminder
        ("failed", 2, {}, {"delivery": {"to": "7", "bestEffort": True}}, None),
        ("failed", 0, {}, {"failureAlert": {"after": 1, "to": "42"}}, "42"),  # its own
        ("sent", 5, {}, {}, None),  # a good run ends the streak
    ],
)
def test_failure_alert_rules(
    status: str,
    errors: int,
    state: dict[str, Any],
    extra: dict[str, Any],
    alert_to: str | None,
) -> None:
    """An alert goes out once the failures in a row reach the policy's count, at
    most once per cooldown, unless the reminder turns it off or is best-effort."""
    effect = effect_of(EVERY_HOUR, status, errors=errors, state=state, **extra)
    assert (effect.alert[0] if effect.alert else None) == alert_to
    if alert_to is not None:
        assert effect.state["lastFailureAlertAtMs"] == NOW
        assert f"failed {errors + 1} times in a row" in effect.alert[1]
        assert "Forbidden: bot was blocked" in effect.alert[1]
    else:
        assert "lastFailureAlertAtMs" not in effect.state


def test_next_slot_counts_from_the_slot_served() -> None:
    """Recorded three hours after its slot (a long retry), the next run is the slot
    after the one served, so plan_fire's catch-up-or-missed rule sees the gap."""
    effect = effect_of(EVERY_HOUR, "sent", now=T0 + 3 * HOUR)
    assert effect.state["nextRunAtMs"] == T0 + HOUR


def test_an_edit_during_the_send_starts_afresh_from_now() -> None:
    """Edited while its send was in flight: the next run counts from now."""
    effect = effect_of(EVERY_HOUR, "sent", now=T0 + 3 * HOUR, updatedAtMs=SENT_AT + 1)
    assert effect.state["nextRunAtMs"] == T0 + 4 * HOUR


def test_a_migrated_group_moves_the_target() -> None:
    """A group that became a supergroup answered from its new id: the target follows."""
    assert effect_of(EVERY_HOUR, "sent", new_chat_id=-100123).retarget == "-100123"
    assert effect_of(EVERY_HOUR, "sent").retarget is None
