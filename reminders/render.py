"""How reminders, runs and instants look on a terminal. Every instant shows its zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reminders.schema import Reminder, Run, iso_to_ms
from reminders.timeparse import format_duration


def instant(ms: int | None, zone: str) -> str:
    """2026-04-06 11:50:00 CEST (+02:00)."""
    if ms is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone))
    except (ValueError, OverflowError, OSError):  # beyond the years 1 to 9999
        return f"{ms} ms (out of range)"
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


def target_text(reminder: Reminder) -> str:
    delivery = reminder.delivery
    return target_json_text(None if delivery is None else delivery.model_dump())


def target_json_text(delivery: dict[str, Any] | None) -> str:
    """A delivery as stored (OpenClaw JSON), as the chat it goes to."""
    if delivery is None or delivery.get("mode") == "none":
        return "(no delivery)"
    text = str(delivery.get("to") or "?")
    if delivery.get("threadId") is not None:
        text += f" thread {delivery['threadId']}"
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
    status = run.status
    if run.trigger in ("late", "catch-up") and status == "sent":
        status = f"sent ({run.trigger})"
    return status
