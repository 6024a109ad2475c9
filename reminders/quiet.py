"""Quiet hours: a daily window, in one zone, when reminders arrive without a sound
and nags wait. Pure: instants are handed in.

`"22:00-07:00"` spans midnight; `"13:00-14:00"` does not; an empty string is off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    def _local(self, now_ms: int) -> datetime:
        return datetime.fromtimestamp(now_ms / 1000, tz=self.zone)

    def contains(self, now_ms: int) -> bool:
        clock = self._local(now_ms).time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def end_after(self, now_ms: int) -> int:
        """When the quiet hours holding `now_ms` end (`now_ms` itself when outside)."""
        if not self.contains(now_ms):
            return now_ms
        local = self._local(now_ms)
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)
        end = datetime.combine(day, self.end, tzinfo=self.zone)
        return max(now_ms, round(end.timestamp() * 1000))


def parse_quiet_hours(text: str, zone: str = "UTC") -> QuietHours | None:
    """`"22:00-07:00"` in `zone`; None when empty. Raises ValueError when unreadable."""
    if not text.strip():
        return None
    match = _WINDOW.match(text)
    hours = [int(part) for part in match.groups()] if match else []
    if not match or hours[0] > 23 or hours[2] > 23 or hours[1] > 59 or hours[3] > 59:
        raise ValueError(
            f'quiet hours {text!r} are not a window like "22:00-07:00" (HH:MM-HH:MM)'
        )
    start, end = time(hours[0], hours[1]), time(hours[2], hours[3])
    if start == end:
        raise ValueError(f"quiet hours {text!r} start and end at the same time")
    return QuietHours(start, end, ZoneInfo(zone))
