"""Pure schedule maths: when does a reminder fire. No I/O, no clock reads.

Every public function takes and returns epoch milliseconds (UTC). Three kinds:

- `at`: one instant.
- `every`: `anchor + k * everyMs`; the grid never drifts.
- `cron`: OpenClaw's (croner's) semantics, computed with croniter: 5 fields, or 6
  with seconds first; day-of-week 0 and 7 are Sunday; when day-of-month and
  day-of-week are both restricted either one matches; names (MON, JAN). Evaluated
  in the reminder's IANA zone. Daylight saving time as cronie does it: a local
  time that a spring gap skips fires once, right after the gap (croniter's own
  behaviour); in the autumn overlap an expression with a *fixed* hour (an hour
  field with no `*` and no `/`) fires once, at the first occurrence, while one
  whose hour field is `*` or a step follows real time and fires in both passes.
- stagger: a fixed per-reminder offset, `uint32_be(sha256(id)[:4]) % staggerMs`,
  added to every cron slot (OpenClaw's rule).

The APScheduler trigger classes that wrap these functions for the daemon are in
`reminders.aps_triggers`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias
from zoneinfo import ZoneInfo

from reminders.errors import ScheduleError
from reminders.timeparse import iso_to_ms

if TYPE_CHECKING:
    from reminders.schema import AtSchedule, CronSchedule, EverySchedule, Reminder

    # A schedule as its model or as its stored OpenClaw JSON object.
    Schedule: TypeAlias = AtSchedule | EverySchedule | CronSchedule | dict[str, Any]
CRON_HELP = "Use 5 fields (minute hour day month weekday) or 6 with seconds first."
# A date far from any DST change, used to prove an expression ever fires.
_PROBE = datetime(2026, 1, 1, tzinfo=UTC)
_SEARCH_LIMIT = 2000


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def validate_tz(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or a ScheduleError naming the fix."""
    text = name.strip() if isinstance(name, str) else ""
    try:
        if not text:
            raise ValueError(text)
        return _zone(text)
    except Exception:  # ZoneInfoNotFoundError, ValueError, OSError for odd keys
        raise ScheduleError(
            f"Unknown time zone {name!r}. Use an IANA name such as Europe/Berlin or UTC."
        ) from None


@lru_cache(maxsize=4096)
def _parse_cron(expr: str, strict: bool = True) -> tuple[str, bool, bool]:
    """(croniter expression, has seconds, fixed hour) or ScheduleError. Not strict:
    for stored schedules, which keep firing even if written before a rule."""
    fields = str(expr).split()
    if len(fields) not in (5, 6):
        raise ScheduleError(
            f"Invalid cron expression {expr!r}: it has {len(fields)} fields. {CRON_HELP}"
        )
    seconds = len(fields) == 6
    day, weekday = (3, 5) if seconds else (2, 4)
    for index in (day, weekday):
        if fields[index] == "?":
            fields[index] = "*"
    if any("/0" in field and not field.split("/")[-1].strip("0") for field in fields):
        raise ScheduleError(
            f"Invalid cron expression {expr!r}: a step of 0. {CRON_HELP}"
        )
    from reminders import cronfields

    fields = cronfields.normalise(fields, expr, strict=strict)
    normalised = " ".join(fields)
    from croniter import croniter
    from croniter.croniter import CroniterError

    if not croniter.is_valid(normalised, second_at_beginning=seconds):
        raise ScheduleError(
            f"Invalid cron expression {expr!r}: a field is out of range or unreadable. "
            f"{CRON_HELP}"
        )
    hour = fields[2 if seconds else 1]
    fixed_hour = "*" not in hour and "/" not in hour
    try:
        croniter(
            normalised,
            _PROBE,
            day_or=True,
            second_at_beginning=seconds,
            max_years_between_matches=30,
        ).get_next(datetime)
    except (CroniterError, ValueError, KeyError, IndexError, OverflowError):
        raise ScheduleError(
            f"Cron expression {expr!r} never fires. {CRON_HELP}"
        ) from None
    return normalised, seconds, fixed_hour


def validate_cron(expr: str) -> None:
    """Raise ScheduleError unless `expr` is a cron expression that fires."""
    if not isinstance(expr, str) or not expr.strip():
        raise ScheduleError(f"Empty cron expression. {CRON_HELP}")
    try:
        _parse_cron(" ".join(expr.split()))
    except ScheduleError:
        raise
    except Exception:  # croniter raises assorted errors on garbage
        raise ScheduleError(f"Invalid cron expression {expr!r}. {CRON_HELP}") from None


def field_of(schedule: Schedule, name: str) -> Any:
    """A schedule's field (None when it has none), from its model or its JSON."""
    if isinstance(schedule, dict):
        return schedule.get(name)
    return getattr(schedule, name, None)


def at_ms_of(schedule: Schedule) -> int:
    """A one-shot schedule's instant."""
    return iso_to_ms(field_of(schedule, "at"))


def stagger_offset_ms(reminder_id: str, stagger_ms: int | None) -> int:
    if not stagger_ms or stagger_ms <= 1:
        return 0
    import hashlib

    digest = hashlib.sha256(reminder_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % stagger_ms


def _second_pass(moment: datetime, zone: ZoneInfo) -> bool:
    """True for the later of two identical wall times in an autumn overlap."""
    naive = moment.replace(tzinfo=None)
    first = naive.replace(tzinfo=zone, fold=0).utcoffset()
    second = naive.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second and moment.utcoffset() == second


def _cron_iter(
    schedule: Schedule, default_tz: str, start_ms: int
) -> tuple[Any, ZoneInfo, bool]:
    expr, seconds, fixed_hour = _parse_cron(
        " ".join(str(field_of(schedule, "expr")).split()), False
    )
    zone = validate_tz(field_of(schedule, "tz") or default_tz)
    start = datetime.fromtimestamp(start_ms // 1000, tz=zone)
    from croniter import croniter

    it = croniter(
        expr,
        start,
        day_or=True,
        second_at_beginning=seconds,
        max_years_between_matches=30,
    )
    return it, zone, fixed_hour


def _cron_next(schedule: Schedule, default_tz: str, after_ms: int) -> int | None:
    it, zone, fixed_hour = _cron_iter(schedule, default_tz, after_ms)
    for _ in range(_SEARCH_LIMIT):
        moment = it.get_next(datetime)
        ms = round(moment.timestamp() * 1000)
        if ms <= after_ms or (fixed_hour and _second_pass(moment, zone)):
            continue
        return int(ms)
    return None


def _cron_previous(schedule: Schedule, default_tz: str, bound_ms: int) -> int | None:
    # Slots are whole seconds, so "<= bound" is "< the next whole second".
    it, zone, fixed_hour = _cron_iter(
        schedule, default_tz, bound_ms - bound_ms % 1000 + 1000
    )
    for _ in range(_SEARCH_LIMIT):
        moment = it.get_prev(datetime)
        if fixed_hour and _second_pass(moment, zone):
            continue
        slot: int = round(moment.timestamp() * 1000)
        return slot
    return None


def next_fire_ms(
    schedule: Schedule,
    *,
    reminder_id: str,
    default_tz: str,
    after_ms: int,
    anchor_ms: int | None = None,
) -> int | None:
    """The first fire time strictly after `after_ms`, or None when there is none."""
    kind = field_of(schedule, "kind")
    if kind == "at":
        at_ms = at_ms_of(schedule)
        return at_ms if at_ms > after_ms else None
    if kind == "every":
        anchor, step = (
            grid_anchor(schedule, anchor_ms or 0),
            int(field_of(schedule, "everyMs")),
        )
        if after_ms < anchor:
            return anchor
        return anchor + ((after_ms - anchor) // step + 1) * step
    offset = stagger_offset_ms(reminder_id, field_of(schedule, "staggerMs"))
    slot = _cron_next(schedule, default_tz, after_ms - offset)
    return None if slot is None else slot + offset


def previous_fire_ms(
    schedule: Schedule,
    *,
    reminder_id: str,
    default_tz: str,
    at_or_before_ms: int,
    anchor_ms: int | None = None,
) -> int | None:
    """The latest fire time at or before `at_or_before_ms`, or None."""
    kind = field_of(schedule, "kind")
    if kind == "at":
        at_ms = at_ms_of(schedule)
        return at_ms if at_ms <= at_or_before_ms else None
    if kind == "every":
        anchor, step = (
            grid_anchor(schedule, anchor_ms or 0),
            int(field_of(schedule, "everyMs")),
        )
        if at_or_before_ms < anchor:
            return None
        return anchor + ((at_or_before_ms - anchor) // step) * step
    offset = stagger_offset_ms(reminder_id, field_of(schedule, "staggerMs"))
    slot = _cron_previous(schedule, default_tz, at_or_before_ms - offset)
    return None if slot is None else slot + offset


def upcoming_ms(
    schedule: Schedule,
    *,
    reminder_id: str,
    default_tz: str,
    after_ms: int,
    count: int,
    anchor_ms: int | None = None,
) -> list[int]:
    """The next `count` fire times after `after_ms` (fewer when the schedule ends)."""
    times: list[int] = []
    cursor = after_ms
    while len(times) < count:
        found = next_fire_ms(
            schedule,
            reminder_id=reminder_id,
            default_tz=default_tz,
            after_ms=cursor,
            anchor_ms=anchor_ms,
        )
        if found is None:
            break
        times.append(found)
        cursor = found
    return times


# -- APScheduler triggers ---------------------------------------------------------
#
# The classes subclass APScheduler's BaseTrigger, which only the daemon needs: they
# are built on first access (module __getattr__), so the CLI never imports
# APScheduler. Pickle finds them by their module-level names all the same.


# -- a reminder's schedule -------------------------------------------------------


def grid_anchor(schedule: Schedule, created_at_ms: int) -> int:
    """The anchor rule, for a schedule model or its stored JSON object: an `every`
    grid starts at its own anchorMs, else at the reminder's creation time."""
    own = (
        field_of(schedule, "anchorMs")
        if field_of(schedule, "kind") == "every"
        else None
    )
    return created_at_ms if own is None else int(own)


def anchor_of(reminder: Reminder) -> int:
    """Where the reminder's `every` grid starts (the anchor rule above)."""
    return grid_anchor(reminder.schedule, reminder.createdAtMs)


def next_run(reminder: Reminder, default_tz: str, after_ms: int) -> int | None:
    """When an enabled reminder fires next, strictly after `after_ms`.

    A one-shot keeps its time even when that has passed, until it has run.
    """
    return _next_run(
        reminder.enabled,
        reminder.schedule,
        reminder.state.lastRunAtMs,
        reminder.id,
        anchor_of(reminder),
        default_tz,
        after_ms,
    )


def next_run_of_job(job: dict[str, Any], default_tz: str, after_ms: int) -> int | None:
    """next_run for a reminder's OpenClaw JSON (as `Reminder.to_json()` gives it)."""
    return _next_run(
        job.get("enabled", True),
        job["schedule"],
        job.get("state", {}).get("lastRunAtMs"),
        job["id"],
        job["createdAtMs"],  # an `every` schedule's own anchorMs comes first
        default_tz,
        after_ms,
    )


def _next_run(
    enabled: bool,
    schedule: Schedule,
    last_run_ms: int | None,
    reminder_id: str,
    anchor_ms: int,
    default_tz: str,
    after_ms: int,
) -> int | None:
    if not enabled:
        return None
    if field_of(schedule, "kind") == "at":
        at_ms = at_ms_of(schedule)
        return at_ms if last_run_ms is None or at_ms > last_run_ms else None
    return next_fire_ms(
        schedule,
        reminder_id=reminder_id,
        default_tz=default_tz,
        after_ms=after_ms,
        anchor_ms=anchor_ms,
    )


def __getattr__(name: str) -> type:
    """The APScheduler trigger classes live in `reminders.aps_triggers`; job rows
    stored by APScheduler name them here, so they resolve here too."""
    from reminders import aps_triggers

    return aps_triggers.trigger_class(name)
