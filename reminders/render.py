"""How reminders, runs and instants look on a terminal. Every instant shows its zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from reminders.schema import AtSchedule, CronSchedule, EverySchedule, Reminder, Run
from reminders.timeparse import format_duration


def instant(ms: int | None, zone: str) -> str:
    """2026-04-06 11:50:00 CEST (+02:00)."""
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone))
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    abbreviation = moment.strftime("%Z")
    # Zones without a lettered abbreviation (it would read "-03") show their name.
    name = abbreviation if abbreviation[:1].isalpha() else zone
    return f"{moment:%Y-%m-%d %H:%M:%S} {name} ({offset})"


def relative(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return ""
    delta = ms - now_ms
    amount = format_duration(abs(delta) // 1000 * 1000) if abs(delta) >= 1000 else "0s"
    return f"in {amount}" if delta >= 0 else f"{amount} ago"


def schedule_text(reminder: Reminder, zone: str) -> str:
    schedule = reminder.schedule
    if isinstance(schedule, AtSchedule):
        return f"at {instant(schedule.at_ms, zone)}"
    if isinstance(schedule, EverySchedule):
        return f"every {format_duration(schedule.everyMs)}"
    assert isinstance(schedule, CronSchedule)
    text = f"cron {schedule.expr} ({schedule.tz or zone})"
    if schedule.staggerMs:
        text += f" stagger {format_duration(schedule.staggerMs)}"
    return text


def why_no_next(reminder: Reminder) -> str:
    """Why a reminder has no next fire, as a sentence naming the fix."""
    if not reminder.enabled:
        return f"never (disabled; `reminders enable {reminder.id[:8]}` resumes it)"
    if isinstance(reminder.schedule, AtSchedule):
        return (
            "none: this one-shot has already run. Give it a new time with "
            f"`reminders edit {reminder.id[:8]} --at TIME`"
        )
    return "none: the schedule has no further fire time"


def shortest_prefixes(ids: list[str], minimum: int) -> dict[str, str]:
    """Each id's shortest prefix (at least `minimum` characters) no other id shares."""
    ordered = sorted(ids)
    shared = [0] * (len(ordered) + 1)  # shared[i]: common prefix of ids i-1 and i
    for i in range(1, len(ordered)):
        a, b = ordered[i - 1], ordered[i]
        n = 0
        while n < len(a) and n < len(b) and a[n] == b[n]:
            n += 1
        shared[i] = n
    return {
        rid: rid[: max(minimum, shared[i] + 1, shared[i + 1] + 1)]
        for i, rid in enumerate(ordered)
    }


def target_text(reminder: Reminder) -> str:
    delivery = reminder.delivery
    if delivery is None or delivery.mode == "none":
        return "(no delivery)"
    text = delivery.to or "?"
    if delivery.threadId is not None:
        text += f" thread {delivery.threadId}"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [
            max(width, len(cell)) for width, cell in zip(widths, row, strict=True)
        ]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    ]
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def run_status(run: Run) -> str:
    status: str = run.status
    if run.trigger in ("late", "catch-up") and status == "sent":
        status = f"sent ({run.trigger})"
    if run.response:
        status = f"{status}, {run.response}"
    return status
