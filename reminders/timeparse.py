"""Reading times and durations as people type them. Pure: `now` is passed in.

`--at` accepts ISO 8601 with an offset; ISO without one (read in the given zone,
never silently UTC); a date alone (midnight in that zone); epoch milliseconds;
relative `20m`, `+20m`, `in 20m`, `1h30m`; a clock time `18:00` (its next
occurrence); and `today 18:00` / `tomorrow 9:00`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders.errors import ScheduleError

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_PART = re.compile(
    r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(ms|s|m|h|d)", re.IGNORECASE
)
_DURATION = re.compile(
    r"^(?:(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:ms|s|m|h|d))+$", re.IGNORECASE
)
_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?$")
_DAY_WORD = re.compile(r"^(today|tomorrow)(?:\s+(?:at\s+)?(.+))?$", re.IGNORECASE)
MAX_DURATION_MS = 100 * 365 * 86_400_000
MIN_EVERY_MS = 1000  # --every: faster than once a second is a mistake, not a reminder


class SkippedTime(ScheduleError):
    """A wall-clock time that a daylight saving gap skips: readable, but not a time."""


def parse_duration(text: str) -> int:
    """`90s`, `1.5h`, `1h30m`, `250ms` → milliseconds (a positive whole number)."""
    compact = str(text).strip().replace(" ", "")
    if not _DURATION.match(compact):
        raise ScheduleError(
            f"Invalid duration {text!r}. Use a number and a unit (ms, s, m, h, d), "
            "for example 10m, 1.5h or 1h30m."
        )
    total = 0.0
    for number, unit in _DURATION_PART.findall(compact):
        total += float(number) * _UNIT_MS[unit.lower()]
    ms = round(total)
    if ms <= 0:
        raise ScheduleError(f"Duration {text!r} must be greater than zero, e.g. 10m.")
    if ms > MAX_DURATION_MS:
        raise ScheduleError(f"Duration {text!r} is longer than 100 years.")
    return ms


def _local_to_ms(moment: datetime, zone: ZoneInfo, original: str) -> int:
    """A wall-clock time in a zone → epoch ms, refusing times a DST gap skips."""
    aware = moment.replace(tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != moment:
        raise SkippedTime(
            f"{original!r} does not exist in {zone.key}: the clocks skip it for "
            "daylight saving time. Pick a time outside the gap."
        )
    return round(aware.timestamp() * 1000)


def _clock(text: str) -> time | None:
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    hour, minute, second = (
        int(match.group(1)),
        int(match.group(2)),
        int(match.group(3) or 0),
    )
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def parse_at(text: str, *, zone: ZoneInfo, now_ms: int) -> int:
    """One instant as epoch ms. Whether it is in the past is the caller's call."""
    raw = str(text)
    value = raw.strip()
    if not value:
        raise ScheduleError(
            "Empty --at. Give a time such as 18:00, 20m or 2026-12-24T09:00."
        )
    lowered = value.lower()
    if re.fullmatch(r"[0-9]+", value):
        return int(value)
    relative = lowered.removeprefix("in ").removeprefix("+").strip()
    if _DURATION.match(relative.replace(" ", "")):
        return now_ms + parse_duration(relative)
    now_local = datetime.fromtimestamp(now_ms / 1000, tz=zone).replace(tzinfo=None)
    if (clock := _clock(value)) is not None:
        candidate = datetime.combine(now_local.date(), clock)
        if _local_to_ms(candidate, zone, raw) <= now_ms:
            candidate += timedelta(days=1)
        return _local_to_ms(candidate, zone, raw)
    if match := _DAY_WORD.match(value):
        day = now_local.date() + timedelta(
            days=1 if match.group(1).lower() == "tomorrow" else 0
        )
        clock = _clock(match.group(2)) if match.group(2) else time(9, 0)
        if clock is None:
            raise ScheduleError(
                f"Invalid time in {raw!r}. Use HH:MM, as in 'tomorrow 9:00'."
            )
        return _local_to_ms(datetime.combine(day, clock), zone, raw)
    return _parse_iso(value, zone, raw)


def _parse_iso(value: str, zone: ZoneInfo, raw: str) -> int:
    normalised = (
        value.replace(" ", "T", 1)
        if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]", value)
        else value
    )
    if normalised[-1:] in ("Z", "z"):
        normalised = normalised[:-1] + "+00:00"
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", normalised):
            return _local_to_ms(
                datetime.combine(date.fromisoformat(normalised), time()), zone, raw
            )
        moment = datetime.fromisoformat(normalised)
    except ValueError:
        raise ScheduleError(
            f"Invalid time {raw!r}. Use an ISO time (2026-12-24T09:00, with or without "
            "an offset), a duration like 20m, a clock time like 18:00, or "
            "'tomorrow 9:00'."
        ) from None
    if moment.tzinfo is None:
        return _local_to_ms(moment, zone, raw)
    return round(moment.timestamp() * 1000)


def ms_to_iso(ms: int) -> str:
    """OpenClaw's `at` form (JavaScript's toISOString): 2026-06-01T07:30:00.000Z."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_to_ms(text: str) -> int:
    """Read an ISO instant with an offset or `Z` as epoch milliseconds."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def format_duration(ms: int) -> str:
    """A short human form: 90000 → 1m30s."""
    if ms % 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
