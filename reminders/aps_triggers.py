"""APScheduler triggers over the schedule maths in `reminders.triggers`.

Only the daemon needs them (they subclass APScheduler's BaseTrigger, loaded when
first asked for). A trigger pickles to its stored schedule object, reminder id,
zone and anchor, so the job store holds no model. The classes are named
`reminders.triggers.AtTrigger` (and Every, Cron) in the job rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from reminders.triggers import at_ms_of, field_of, next_fire_ms

if TYPE_CHECKING:
    from reminders.schema import AtSchedule, CronSchedule, EverySchedule
    from reminders.triggers import Schedule


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class _TriggerMethods:
    """The behaviour of every reminder trigger; mixed into APScheduler's BaseTrigger."""

    def __init__(
        self,
        schedule: dict[str, Any],
        reminder_id: str,
        default_tz: str,
        anchor_ms: int | None,
    ) -> None:
        self.schedule = dict(schedule)
        self.reminder_id = reminder_id
        self.default_tz = default_tz
        self.anchor_ms = anchor_ms

    def _model(self) -> Schedule:
        from reminders.schema import AtSchedule, CronSchedule, EverySchedule

        kind = self.schedule.get("kind")
        model = {"at": AtSchedule, "every": EverySchedule, "cron": CronSchedule}[
            str(kind)
        ]
        return model.model_validate(self.schedule)  # type: ignore[attr-defined,no-any-return]

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        schedule = self._model()
        if previous_fire_time is None:
            if field_of(schedule, "kind") == "at":
                at_ms = at_ms_of(schedule)
                return datetime.fromtimestamp(at_ms / 1000, tz=UTC)
            after = _ms(now) - 1
        else:
            after = _ms(previous_fire_time)
        found = next_fire_ms(
            schedule,
            reminder_id=self.reminder_id,
            default_tz=self.default_tz,
            after_ms=after,
            anchor_ms=self.anchor_ms,
        )
        return None if found is None else datetime.fromtimestamp(found / 1000, tz=UTC)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "schedule": self.schedule,
            "reminder_id": self.reminder_id,
            "default_tz": self.default_tz,
            "anchor_ms": self.anchor_ms,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.schedule = state["schedule"]
        self.reminder_id = state["reminder_id"]
        self.default_tz = state["default_tz"]
        self.anchor_ms = state["anchor_ms"]

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.schedule.items()))
        return (
            f"<{type(self).__name__} ({parts}) id={self.reminder_id!r} "
            f"tz={self.default_tz!r} anchor={self.anchor_ms!r}>"
        )

    __str__ = __repr__


_DOCS = {
    "ReminderTrigger": "An APScheduler trigger over the functions above.",
    "AtTrigger": "Fires once.",
    "EveryTrigger": "Fires on a fixed grid from its anchor.",
    "CronTrigger": "Fires on cron slots in its zone, plus the stagger offset.",
}
_KINDS = {"at": "AtTrigger", "every": "EveryTrigger", "cron": "CronTrigger"}


@lru_cache(maxsize=1)
def _classes() -> dict[str, type]:
    from apscheduler.triggers.base import BaseTrigger

    base = type("ReminderTrigger", (_TriggerMethods, BaseTrigger), {})
    classes = {"ReminderTrigger": base}
    for name in _KINDS.values():
        classes[name] = type(name, (base,), {})
    for name, cls in classes.items():
        cls.__module__ = "reminders.triggers"  # where stored job rows look for it
        cls.__qualname__ = name
        cls.__doc__ = _DOCS[name]
    return classes


def trigger_class(name: str) -> type:
    """One of the trigger classes by name; AttributeError for any other name."""
    if name in _DOCS:
        return _classes()[name]
    raise AttributeError(f"module 'reminders.triggers' has no attribute {name!r}")


def build_trigger(
    schedule: AtSchedule | EverySchedule | CronSchedule,
    *,
    reminder_id: str,
    default_tz: str,
    anchor_ms: int | None = None,
) -> Any:
    """The APScheduler trigger for a schedule (an AtTrigger, EveryTrigger or CronTrigger)."""
    return trigger_from_json(
        schedule.model_dump(exclude_none=True), reminder_id, default_tz, anchor_ms
    )


def trigger_from_json(
    schedule: dict[str, Any], reminder_id: str, default_tz: str, anchor_ms: int | None
) -> Any:
    """The same trigger from a stored, already validated schedule object."""
    cls = _classes()[_KINDS[str(schedule["kind"])]]
    return cls(schedule, reminder_id, default_tz, anchor_ms)
