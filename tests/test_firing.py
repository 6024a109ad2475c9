"""The missed-run policy as a pure function: late, catch up once, or record missed."""

from __future__ import annotations

from typing import Any

import pytest

from reminders.firing import plan_fire
from reminders.schema import Reminder

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
