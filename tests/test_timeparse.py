"""Time and duration input: every documented form, and no crash on any text."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.errors import ScheduleError
from reminders.timeparse import format_duration, parse_at, parse_duration
from reminders.triggers import validate_cron, validate_tz

NOW = 1795514400000  # 2026-11-24T10:00:00Z
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("90s", 90_000),
        ("10m", 600_000),
        ("1.5h", 5_400_000),
        ("1h30m", 5_400_000),
        ("2d", 172_800_000),
        ("1H", 3_600_000),
        (".5s", 500),
    ],
)
def test_durations(text: str, ms: int) -> None:
    """Units ms/s/m/h/d, fractions and compounds are read to milliseconds."""
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text", ["", "0", "0s", "10", "10 minutes", "-5m", "1x", "m", "1e3s"]
)
def test_bad_durations(text: str) -> None:
    """Anything else is a ScheduleError that shows an example."""
    with pytest.raises(ScheduleError, match=r"10m|greater than zero"):
        parse_duration(text)


def test_clock_time_is_its_next_occurrence() -> None:
    """`09:00` after 09:00 local means tomorrow."""
    assert parse_at("12:00", zone=BERLIN, now_ms=NOW) == NOW + 3_600_000
    assert parse_at("10:00", zone=BERLIN, now_ms=NOW) == NOW + 23 * 3_600_000


def test_nonexistent_local_time_is_refused() -> None:
    """A wall time inside a spring-forward gap does not exist and is refused."""
    with pytest.raises(ScheduleError, match="does not exist"):
        parse_at("2027-03-28T02:30", zone=BERLIN, now_ms=NOW)


def test_format_duration() -> None:
    """Durations print compactly."""
    assert format_duration(5_400_000) == "1h30m"
    assert format_duration(1500) == "1500ms"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_to_parse_at_is_a_value_or_our_error(text: str) -> None:
    """parse_at returns an int or raises ScheduleError, never anything else."""
    try:
        assert isinstance(parse_at(text, zone=BERLIN, now_ms=NOW), int)
    except ScheduleError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\A[0-9.]{1,8}(ms|s|m|h|d){1,3}\Z"),
    )
)
def test_any_text_to_parse_duration_is_a_value_or_our_error(text: str) -> None:
    """parse_duration returns a positive int or raises ScheduleError."""
    try:
        assert parse_duration(text) > 0
    except ScheduleError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.lists(
            st.sampled_from(
                [
                    "*",
                    "0",
                    "7",
                    "*/0",
                    "*/5",
                    "1-5",
                    "MON",
                    "jan",
                    "?",
                    "L",
                    "99",
                    "-1",
                    "1,2",
                    "5/2",
                    "#",
                    "W",
                    "60",
                ]
            ),
            min_size=0,
            max_size=8,
        ).map(" ".join),
    )
)
def test_any_text_to_validate_cron_is_fine_or_our_error(expr: str) -> None:
    """validate_cron accepts or raises ScheduleError, never another exception."""
    try:
        validate_cron(expr)
    except ScheduleError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_to_validate_tz_is_a_zone_or_our_error(name: str) -> None:
    """validate_tz returns a ZoneInfo or raises ScheduleError."""
    try:
        assert isinstance(validate_tz(name), ZoneInfo)
    except ScheduleError:
        pass
