"""The chat command parser, table-driven: every documented example, bad input, zones."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from reminders.chat_commands import ChatUsageError, Command, parse_command
from reminders.timeparse import parse_at

NOW = 1795514400000  # 2026-11-24T10:00:00Z, a Tuesday
UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/remind 20m tea", Command("remind", when="20m", text="tea")),
        (
            "/remind tomorrow 9:00 call mom",
            Command("remind", when="tomorrow 9:00", text="call mom"),
        ),
        (
            "/remind 2026-12-24 18:00 presents",
            Command("remind", when="2026-12-24 18:00", text="presents"),
        ),
        (
            "/every 1d 9:00 standup",
            Command("every", when="1d", starting="9:00", text="standup"),
        ),
        (
            '/cron "0 9 * * 1-5" standup',
            Command("cron", when="0 9 * * 1-5", text="standup"),
        ),
        ("/list", Command("list")),
        ("/cancel 1a2b3c4d", Command("cancel", text="1a2b3c4d")),
        ("/cancel Morning standup", Command("cancel", text="Morning standup")),
        ("/snooze", Command("snooze")),
        ("/snooze 30m", Command("snooze", when="30m")),
        ("/tz Europe/Berlin", Command("tz", text="Europe/Berlin")),
        ("/tz", Command("tz")),
        ("/help", Command("help")),
        ("/start", Command("help")),
        # more ways people type them
        (
            "/remind in 1h30m stretch",
            Command("remind", when="in 1h30m", text="stretch"),
        ),
        ("/remind +20m tea", Command("remind", when="+20m", text="tea")),
        ("/remind 1h 30m go", Command("remind", when="1h 30m", text="go")),
        (
            "/remind 18:00 30 push-ups",
            Command("remind", when="18:00", text="30 push-ups"),
        ),
        (
            "/remind tomorrow call mom",
            Command("remind", when="tomorrow", text="call mom"),
        ),
        (
            "/remind today at 18:00 dinner",
            Command("remind", when="today at 18:00", text="dinner"),
        ),
        (
            "/remind 2026-12-24T18:00+01:00 presents",
            Command("remind", when="2026-12-24T18:00+01:00", text="presents"),
        ),
        (
            "/remind 20m  two  spaces ",
            Command("remind", when="20m", text="two  spaces"),
        ),
        (
            "/remind 20m line one\nline two",
            Command("remind", when="20m", text="line one\nline two"),
        ),
        ("/REMIND 20m tea", Command("remind", when="20m", text="tea")),
        ("/remind@fake_bot 20m tea", Command("remind", when="20m", text="tea")),
        ("/every 2h stretch", Command("every", when="2h", text="stretch")),
        (
            "/every 1d tomorrow 8:30 vitamins",
            Command("every", when="1d", starting="tomorrow 8:30", text="vitamins"),
        ),
        (
            "/cron 0 9 * * 1-5 standup",
            Command("cron", when="0 9 * * 1-5", text="standup"),
        ),
        ("/cron “30 18 * * *” walk", Command("cron", when="30 18 * * *", text="walk")),
        (
            "/cron '0 0 9 * * MON' six fields",
            Command("cron", when="0 0 9 * * MON", text="six fields"),
        ),
    ],
)
def test_commands(text: str, expected: Command) -> None:
    assert (
        parse_command(text, zone=UTC, now_ms=NOW, bot_username="fake_bot") == expected
    )


@pytest.mark.parametrize(
    "text",
    ["tea at 5", "hello /remind 20m tea", "", "/", "/remind@other_bot 20m tea"],
)
def test_plain_text_and_other_bots_are_not_commands(text: str) -> None:
    assert parse_command(text, zone=UTC, now_ms=NOW, bot_username="fake_bot") is None


@pytest.mark.parametrize(
    ("text", "first_example"),
    [
        ("/remind", "/remind 20m tea"),
        ("/remind tea", "/remind 20m tea"),
        ("/remind soon tea", "/remind 20m tea"),
        ("/remind 5 apples", "/remind 20m tea"),  # a bare number is no time here
        ("/remind 20m", "/remind 20m tea"),
        ("/remind 25:00 late", "/remind 20m tea"),
        ("/every", "/every 1d 9:00 standup"),
        ("/every often stretch", "/every 1d 9:00 standup"),
        ("/every 1d", "/every 1d 9:00 standup"),
        ("/every 1d 9:00", "/every 1d 9:00 standup"),
        ('/cron "0 9 * *" x', '/cron "0 9 * * 1-5" standup'),
        ('/cron "61 9 * * *" x', '/cron "0 9 * * 1-5" standup'),
        ('/cron "0 9 * * 1-5 standup', '/cron "0 9 * * 1-5" standup'),
        ('/cron "0 9 * * 1-5"', '/cron "0 9 * * 1-5" standup'),
        ("/cron every morning", '/cron "0 9 * * 1-5" standup'),
        ("/cancel", "/cancel 1a2b3c4d"),
        ("/snooze later", "/snooze (replying to a reminder)"),
        ("/frobnicate", "/remind 20m tea"),
    ],
)
def test_unreadable_commands_get_two_examples(text: str, first_example: str) -> None:
    with pytest.raises(ChatUsageError) as caught:
        parse_command(text, zone=UTC, now_ms=NOW)
    message = str(caught.value)
    assert "For example:" in message and first_example in message
    examples = message.split("For example:\n", 1)[1].splitlines()
    assert len(examples) == 2


@pytest.mark.parametrize(
    ("text", "zone", "iso"),
    [
        ("/remind tomorrow 9:00 x", UTC, "2026-11-25T09:00:00+00:00"),
        ("/remind tomorrow 9:00 x", BERLIN, "2026-11-25T09:00:00+01:00"),
        ("/remind 2026-12-24 18:00 x", BERLIN, "2026-12-24T18:00:00+01:00"),
        (
            "/remind 2026-07-01 18:00 x",
            ZoneInfo("America/New_York"),
            "2026-07-01T18:00:00-04:00",
        ),
        ("/remind 18:00 x", ZoneInfo("Asia/Kolkata"), "2026-11-24T18:00:00+05:30"),
    ],
)
def test_times_are_read_in_the_chats_zone(text: str, zone: ZoneInfo, iso: str) -> None:
    """The phrase is handed on as typed; --at's grammar reads it in the chat's zone."""
    from datetime import datetime

    command = parse_command(text, zone=zone, now_ms=NOW)
    assert command is not None and command.when is not None
    ms = parse_at(command.when, zone=zone, now_ms=NOW)
    assert datetime.fromtimestamp(ms / 1000, tz=zone).isoformat() == iso


def test_a_dst_gap_time_is_not_read_as_a_time() -> None:
    """02:30 does not exist in Berlin on 2027-03-28: refused, not moved."""
    with pytest.raises(ChatUsageError):
        parse_command("/remind 2027-03-28 02:30 x", zone=BERLIN, now_ms=NOW)
