"""Reading chat commands: `/remind 20m tea` and the rest. Pure: zone and now are
handed in, nothing is stored.

Times are read by the grammar `--at`, `--every` and `--cron` use (timeparse and
triggers); the parser only finds where the time ends and the text begins, taking
the longest leading phrase that grammar reads. A phrase it cannot read is refused
with two examples, never guessed. Bare numbers are not read as times here (`--at`
takes them as epoch milliseconds, which nobody types in a chat).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from reminders import triggers
from reminders.errors import ScheduleError, ValidationError
from reminders.timeparse import SkippedTime, parse_at, parse_duration

MAX_TIME_WORDS = 4
_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "'": "'", "‘": "’"}
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?$", re.DOTALL)
EXAMPLES = {
    "remind": "/remind 20m tea\n/remind tomorrow 9:00 call mom",
    "every": "/every 1d 9:00 standup\n/every 2h stretch",
    "cron": '/cron "0 9 * * 1-5" standup\n/cron "30 18 * * *" walk the dog',
    "cancel": "/cancel 1a2b3c4d\n/cancel Standup",
    "tz": "/tz Europe/Berlin\n/tz America/New_York",
    "snooze": "/snooze (replying to a reminder)\n/snooze 30m",
}
HELP = """I deliver your reminders here. Commands:
/remind WHEN TEXT: once (20m, 18:00, tomorrow 9:00, 2026-12-24 18:00)
/every INTERVAL [FIRST] TEXT: again and again (1d 9:00, 2h)
/cron "EXPR" TEXT: on a cron schedule ("0 9 * * 1-5")
/list: this chat's reminders, with cancel buttons
/cancel ID-or-name
/snooze [WHEN]: reply to a reminder to have it again later
/tz ZONE: the zone for times typed here (Europe/Berlin)
/help: this text"""


class ChatUsageError(ValidationError):
    """A command that cannot be read; the message holds two examples."""

    def __init__(self, what: str, command: str) -> None:
        examples = EXAMPLES.get(command, "/remind 20m tea\n/help")
        super().__init__(f"{what}\nFor example:\n{examples}")


@dataclass(frozen=True)
class Command:
    """One command. `when` is the --at/--every/--cron value, `starting` the first
    slot of an /every, `text` the reminder text (or the id, zone, snooze time)."""

    name: str  # remind | every | cron | list | cancel | snooze | tz | help
    when: str | None = None
    starting: str | None = None
    text: str | None = None


def _words(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\S+", text))


def _reads_as_time(phrase: str, zone: ZoneInfo, now_ms: int) -> bool:
    if re.fullmatch(r"[+-]?[0-9]+", phrase.strip()):
        return False
    try:
        parse_at(phrase, zone=zone, now_ms=now_ms)
    except SkippedTime as exc:  # a time as typed, that does not exist: never shift it
        raise ChatUsageError(str(exc), "remind") from None
    except ScheduleError:
        return False
    return True


def _split_time(
    rest: str, zone: ZoneInfo, now_ms: int, *, first: int = 0
) -> tuple[str, str] | None:
    """(time phrase, text after it) for the longest leading phrase that reads as a
    time, starting at word `first`; None when no leading phrase does."""
    words = _words(rest)
    for count in range(min(MAX_TIME_WORDS, len(words) - first), 0, -1):
        start, end = words[first].start(), words[first + count - 1].end()
        phrase = rest[start:end]
        if _reads_as_time(phrase, zone, now_ms):
            return phrase, rest[end:].strip()
    return None


def _remind(rest: str, zone: ZoneInfo, now_ms: int) -> Command:
    found = _split_time(rest, zone, now_ms)
    if found is None:
        raise ChatUsageError("I could not read a time at the start of that.", "remind")
    when, text = found
    if not text:
        raise ChatUsageError(f"What should I remind you of at {when}?", "remind")
    return Command("remind", when=when, text=text)


def _every(rest: str, zone: ZoneInfo, now_ms: int) -> Command:
    words = _words(rest)
    if not words:
        raise ChatUsageError("Say how often, then what.", "every")
    interval = words[0].group()
    try:
        parse_duration(interval)
    except ScheduleError:
        raise ChatUsageError(f"{interval!r} is not an interval.", "every") from None
    after = rest[words[0].end() :].strip()
    starting = None
    if len(words) > 1 and (found := _split_time(after, zone, now_ms)) is not None:
        starting, after = found
    if not after:
        raise ChatUsageError(f"What should I remind you of every {interval}?", "every")
    return Command("every", when=interval, starting=starting, text=after)


def _cron(rest: str) -> Command:
    rest = rest.strip()
    if rest[:1] in _QUOTES:
        close = rest.find(_QUOTES[rest[0]], 1)
        if close < 0:
            raise ChatUsageError("The cron expression has no closing quote.", "cron")
        expr, text = rest[1:close].strip(), rest[close + 1 :].strip()
        _check_cron(expr)
    else:
        words = _words(rest)
        for count in (6, 5):
            if len(words) > count and _valid_cron(rest[: words[count - 1].end()]):
                expr, text = (
                    rest[: words[count - 1].end()],
                    rest[words[count].start() :],
                )
                break
        else:
            raise ChatUsageError("I could not read a cron expression there.", "cron")
    if not text:
        raise ChatUsageError(f"What should I remind you of at {expr!r}?", "cron")
    return Command("cron", when=" ".join(expr.split()), text=text)


def _valid_cron(expr: str) -> bool:
    try:
        triggers.validate_cron(" ".join(expr.split()))
    except ScheduleError:
        return False
    return True


def _check_cron(expr: str) -> None:
    try:
        triggers.validate_cron(" ".join(expr.split()))
    except ScheduleError as exc:
        raise ChatUsageError(str(exc), "cron") from None


def parse_command(
    message: str, *, zone: ZoneInfo, now_ms: int, bot_username: str | None = None
) -> Command | None:
    """The command in a chat message; None for plain text or another bot's command.
    Raises ChatUsageError for a command it cannot read."""
    match = _COMMAND.match(message.strip())
    if not match:
        return None
    name, addressee, rest = match.group(1).lower(), match.group(2), match.group(3)
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    rest = (rest or "").strip()
    if name in ("start", "help"):
        return Command("help")
    if name == "list":
        return Command("list")
    if name == "remind":
        return _remind(rest, zone, now_ms)
    if name == "every":
        return _every(rest, zone, now_ms)
    if name == "cron":
        return _cron(rest)
    if name == "cancel":
        if not rest:
            raise ChatUsageError("Say which reminder to cancel.", "cancel")
        return Command("cancel", text=rest)
    if name == "snooze":
        if rest and not _reads_as_time(rest, zone, now_ms):
            raise ChatUsageError(f"I could not read {rest!r} as a time.", "snooze")
        return Command("snooze", when=rest or None)
    if name == "tz":
        return Command("tz", text=rest or None)
    raise ChatUsageError(f"I do not know /{name}.", "remind")
