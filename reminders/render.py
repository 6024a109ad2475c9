"""How reminders, runs and instants look on a terminal. Every instant shows its zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from reminders.timeparse import format_duration, iso_to_ms

if TYPE_CHECKING:
    from reminders.schema import Reminder, Run


def instant(ms: int | None, zone: str) -> str:
    """2026-04-06 11:50:00 CEST (+02:00)."""
    if ms is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=_zone(zone))
    except (ValueError, OverflowError, OSError):  # beyond the years 1 to 9999
        return f"{ms} ms (out of range)"
    suffix = _suffix(zone, moment.utcoffset(), moment.tzname())
    return moment.isoformat(" ", "seconds")[:19] + suffix


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=256)
def _suffix(zone: str, offset: timedelta | None, abbreviation: str | None) -> str:
    """' CEST (+02:00)': the zone's abbreviation, or its name when the abbreviation
    has no letters (it would read "-03"), and the offset."""
    seconds = int((offset or timedelta()).total_seconds())
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}" + (f"{secs:02d}" if secs else "")
    name = abbreviation if (abbreviation or "")[:1].isalpha() else zone
    return f" {name} ({text})"


def relative(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return ""
    delta = ms - now_ms
    amount = format_duration(abs(delta) // 1000 * 1000) if abs(delta) >= 1000 else "0s"
    return f"in {amount}" if delta >= 0 else f"{amount} ago"


def schedule_text(reminder: Reminder, zone: str) -> str:
    return schedule_json_text(reminder.schedule.model_dump(exclude_none=True), zone)


def schedule_json_text(schedule: dict[str, Any], zone: str) -> str:
    """A schedule as stored (OpenClaw JSON), in words."""
    kind = schedule.get("kind")
    if kind == "at":
        return f"at {instant(iso_to_ms(schedule['at']), zone)}"
    if kind == "every":
        return f"every {format_duration(schedule['everyMs'])}"
    text = f"cron {schedule.get('expr')} ({schedule.get('tz') or zone})"
    if schedule.get("staggerMs"):
        text += f" stagger {format_duration(schedule['staggerMs'])}"
    return text


def why_no_next(job: dict[str, Any]) -> str:
    """Why a reminder (its OpenClaw JSON) has no next fire, as a sentence naming
    the fix."""
    short = job["id"][:8]
    if not job.get("enabled", True):
        return f"never (disabled; `reminders enable {short}` resumes it)"
    if job["schedule"].get("kind") == "at":
        return (
            "none: this one-shot has already run. Give it a new time with "
            f"`reminders edit {short} --at TIME`"
        )
    return "none: the schedule has no further fire time"


def shortest_prefixes(ids: list[str], minimum: int) -> dict[str, str]:
    """Each id's shortest prefix (at least `minimum` characters) no other id shares."""
    ordered = sorted(ids)
    shared = [0] * (len(ordered) + 1)  # shared[i]: common prefix of ids i-1 and i
    for i in range(1, len(ordered)):
        a, b = ordered[i - 1], ordered[i]
        if a[:minimum] != b[:minimum]:
            continue  # shorter than `minimum`: any such length gives `minimum`
        n = minimum
        while n < len(a) and n < len(b) and a[n] == b[n]:
            n += 1
        shared[i] = n
    return {
        rid: rid[: max(minimum, shared[i] + 1, shared[i + 1] + 1)]
        for i, rid in enumerate(ordered)
    }


def target_text(reminder: Reminder) -> str:
    delivery = reminder.delivery
    return target_json_text(None if delivery is None else delivery.model_dump())


def target_json_text(delivery: dict[str, Any] | None) -> str:
    """A delivery as stored (OpenClaw JSON), as the chat it goes to."""
    if delivery is None or delivery.get("mode") == "none":
        return "(no delivery)"
    text = str(delivery.get("to") or "?")
    if delivery.get("mode") == "webhook":
        # without user:password@ (`export` and `--json` keep it, for a restore)
        from reminders.targets import shown_url

        text = shown_url(text)
    if delivery.get("threadId") is not None:
        text += f" thread {delivery['threadId']}"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, no trailing spaces."""
    widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths).format
    return "\n".join(line(*row).rstrip() for row in (headers, *rows))


def run_status(run: Run) -> str:
    status: str = run.status
    if run.trigger in ("late", "catch-up") and status == "sent":
        status = f"sent ({run.trigger})"
    if run.response:
        status = f"{status}, {run.response}"
    return status
