"""Cron fields read the way croner (OpenClaw's parser) reads them, before croniter.

croniter 7 accepts two things croner refuses and misreads one croner reads right:

- a range that runs backwards (`5-1`) is refused here, naming the field;
- a step wider than the field (`0-59/1000`, `*/100` in hours) is refused;
- a one-value range (`9-9`, `1-1`, `MON-MON`) is rewritten as that value: croniter
  reads it as `*`, so `0 9 * * 1-1` would fire every day instead of on Mondays.

Everything else (lists, `L`, `#`, `W`, `?`) passes through unchanged to croniter.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re

from reminders.errors import ScheduleError

# (name, lowest, highest) of each field in the 6-field form; the 5-field form
# drops the first.
FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "JAN",
            "FEB",
            "MAR",
            "APR",
            "MAY",
            "JUN",
            "JUL",
            "AUG",
            "SEP",
            "OCT",
            "NOV",
            "DEC",
        ],
        start=1,
    )
}
_DAYS = {
    name: number
    for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
}
_RANGE = re.compile(r"^([0-9A-Za-z]+)-([0-9A-Za-z]+)(?:/([0-9]+))?$")
_STEP = re.compile(r"^(\*|[0-9A-Za-z]+)/([0-9]+)$")


def normalise(fields: list[str], expr: str, *, strict: bool = True) -> list[str]:
    """The fields with one-value ranges rewritten; ScheduleError for what croner
    refuses (a backward range, a step wider than its field). With strict=False
    (a schedule stored before these were refused) such items pass through to
    croniter as before, so a stored reminder keeps firing as it did."""
    specs = FIELDS if len(fields) == 6 else FIELDS[1:]
    items = []
    for field, spec in zip(fields, specs, strict=True):
        parts = []
        for item in field.split(","):
            try:
                parts.append(_item(item, spec, expr))
            except ScheduleError:
                if strict:
                    raise
                parts.append(item)
        items.append(",".join(parts))
    return items


def _value(text: str, spec: tuple[str, int, int], upper: bool) -> int | None:
    name = spec[0]
    word = text.upper()
    if name == "month" and word in _MONTHS:
        return _MONTHS[word]
    if name == "day of week" and word in _DAYS:
        # croner reads SUN as 7 at the top of a range (FRI-SUN), else as 0.
        return 7 if upper and word == "SUN" else _DAYS[word]
    return int(text) if text.isascii() and text.isdigit() else None


def _item(item: str, spec: tuple[str, int, int], expr: str) -> str:
    name = spec[0]
    if match := _RANGE.match(item):
        first = _value(match.group(1), spec, upper=False)
        last = _value(match.group(2), spec, upper=True)
        if first is None or last is None:
            return item  # croniter's own check names what is wrong
        if first > last:
            raise ScheduleError(
                f"Invalid cron expression {expr!r}: the {name} range {item} runs "
                f"backwards. Write the lower value first ({last}-{first}), or list "
                "both ends with a comma."
            )
        step = match.group(3)
        _check_step(step, spec, item, expr)
        if first == last or match.group(1).upper() == match.group(2).upper():
            return str(first)
        return item
    if match := _STEP.match(item):
        _check_step(match.group(2), spec, item, expr)
    return item


def _check_step(
    step: str | None, spec: tuple[str, int, int], item: str, expr: str
) -> None:
    name, low, high = spec
    width = (6 if name == "day of week" else high) - low + 1
    if step is not None and int(step) > width:
        raise ScheduleError(
            f"Invalid cron expression {expr!r}: the {name} step in {item} is wider "
            f"than the field (at most {width})."
        )
