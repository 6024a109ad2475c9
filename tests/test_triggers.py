"""Schedule maths, table-driven: DST, month ends, leap days, weekdays, stagger."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from reminders.aps_triggers import build_trigger
from reminders.errors import ScheduleError
from reminders.schema import AtSchedule, CronSchedule, EverySchedule
from reminders.triggers import (
    grid_anchor,
    next_fire_ms,
    previous_fire_ms,
    stagger_offset_ms,
    upcoming_ms,
    validate_cron,
    validate_tz,
)


def ms(iso: str) -> int:
    """Epoch ms of an ISO instant that carries its offset."""
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def local(times: list[int], zone: str) -> list[str]:
    """Instants as local ISO strings with their offset, for readable expectations."""
    return [
        datetime.fromtimestamp(t / 1000, tz=ZoneInfo(zone)).isoformat(
            timespec="seconds"
        )
        for t in times
    ]


def cron_times(
    expr: str, zone: str, after_iso: str, count: int, rid: str = "r"
) -> list[str]:
    schedule = CronSchedule(expr=expr, tz=zone)
    found = upcoming_ms(
        schedule, reminder_id=rid, default_tz="UTC", after_ms=ms(after_iso), count=count
    )
    return local(found, zone)


CRON_CASES = [
    # autumn overlap, Berlin: a fixed hour fires once, at the first 02:30
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2026-10-24T12:00:00+02:00",
        [
            "2026-10-25T02:30:00+02:00",
            "2026-10-26T02:30:00+01:00",
            "2026-10-27T02:30:00+01:00",
        ],
    ),
    # autumn overlap, Berlin: an hourly expression follows real time through both passes
    (
        "30 * * * *",
        "Europe/Berlin",
        "2026-10-25T01:00:00+02:00",
        [
            "2026-10-25T01:30:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:30:00+01:00",
            "2026-10-25T03:30:00+01:00",
        ],
    ),
    # a step hour field also follows real time
    (
        "30 */1 * * *",
        "Europe/Berlin",
        "2026-10-25T02:00:00+02:00",
        ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"],
    ),
    # spring gap, Berlin: 02:30 does not exist on 29 March; it fires once right after
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2026-03-28T12:00:00+01:00",
        ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
    ),
    # autumn overlap, New York: fixed 01:30 fires once on 1 November
    (
        "30 1 * * *",
        "America/New_York",
        "2026-10-31T12:00:00-04:00",
        ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
    ),
    # spring gap, New York: 02:15 on 8 March fires right after the gap
    (
        "15 2 * * *",
        "America/New_York",
        "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"],
    ),
    # weekdays 09:00 across Berlin's spring change keeps 09:00 local
    (
        "0 9 * * 1-5",
        "Europe/Berlin",
        "2026-03-26T10:00:00+01:00",
        ["2026-03-27T09:00:00+01:00", "2026-03-30T09:00:00+02:00"],
    ),
    # the 31st skips 30-day months
    (
        "0 9 31 * *",
        "UTC",
        "2026-03-31T10:00:00+00:00",
        ["2026-05-31T09:00:00+00:00", "2026-07-31T09:00:00+00:00"],
    ),
    # 29 February waits for the next leap year
    ("0 0 29 2 *", "UTC", "2026-11-24T00:00:00+00:00", ["2028-02-29T00:00:00+00:00"]),
    # 0 and 7 are both Sunday; 2026-11-29 is a Sunday
    ("0 9 * * 0", "UTC", "2026-11-24T10:00:00+00:00", ["2026-11-29T09:00:00+00:00"]),
    ("0 9 * * 7", "UTC", "2026-11-24T10:00:00+00:00", ["2026-11-29T09:00:00+00:00"]),
    # names; 2026-11-24 is a Tuesday, so MON-FRI goes on Wednesday
    (
        "0 9 * * MON-FRI",
        "UTC",
        "2026-11-24T10:00:00+00:00",
        ["2026-11-25T09:00:00+00:00", "2026-11-26T09:00:00+00:00"],
    ),
    ("0 9 1 JAN *", "UTC", "2026-11-24T10:00:00+00:00", ["2027-01-01T09:00:00+00:00"]),
    # day-of-month OR day-of-week: the 13th or any Friday
    (
        "0 9 13 * 5",
        "UTC",
        "2026-11-24T10:00:00+00:00",
        [
            "2026-11-27T09:00:00+00:00",
            "2026-12-04T09:00:00+00:00",
            "2026-12-11T09:00:00+00:00",
            "2026-12-13T09:00:00+00:00",
        ],
    ),
    # six fields: seconds first
    ("30 0 9 * * *", "UTC", "2026-11-24T10:00:00+00:00", ["2026-11-25T09:00:30+00:00"]),
    (
        "*/20 * * * * *",
        "UTC",
        "2026-11-24T10:00:05+00:00",
        ["2026-11-24T10:00:20+00:00", "2026-11-24T10:00:40+00:00"],
    ),
    # `?` reads as `*` in the day fields
    ("0 9 ? * 1", "UTC", "2026-11-24T10:00:00+00:00", ["2026-11-30T09:00:00+00:00"]),
]


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), CRON_CASES)
def test_cron_fire_times(expr: str, zone: str, after: str, expected: list[str]) -> None:
    """Cron expressions fire at the local times croner and cronie would."""
    assert cron_times(expr, zone, after, len(expected)) == expected


def test_next_is_strictly_after() -> None:
    """A time exactly on a slot gets the following slot."""
    schedule = CronSchedule(expr="0 9 * * *", tz="UTC")
    on_slot = ms("2026-11-24T09:00:00+00:00")
    found = next_fire_ms(schedule, reminder_id="r", default_tz="UTC", after_ms=on_slot)
    assert found == ms("2026-11-25T09:00:00+00:00")


def test_default_zone_applies_when_the_schedule_has_none() -> None:
    """A cron with no tz is evaluated in the configured zone."""
    schedule = CronSchedule(expr="0 9 * * *")
    found = next_fire_ms(
        schedule,
        reminder_id="r",
        default_tz="Asia/Tokyo",
        after_ms=ms("2026-11-24T10:00:00+09:00"),
    )
    assert local([found or 0], "Asia/Tokyo") == ["2026-11-25T09:00:00+09:00"]


@pytest.mark.parametrize(
    ("anchor", "every", "after", "expected"),
    [
        (1000, 600_000, 1000, 601_000),  # on the anchor: one full step
        (1000, 600_000, 0, 1000),  # before the anchor: the anchor itself
        (1000, 600_000, 601_000, 1_201_000),  # exactly on a slot: the next one
        (1000, 600_000, 601_001, 1_201_000),
        (1000, 1000, 10**12 + 1, 10**12 + 1000),  # never drifts off the grid
    ],
)
def test_every_grid(anchor: int, every: int, after: int, expected: int) -> None:
    """`every` fires on anchor + k * everyMs, the first one strictly after."""
    schedule = EverySchedule(everyMs=every, anchorMs=anchor)
    assert (
        next_fire_ms(schedule, reminder_id="r", default_tz="UTC", after_ms=after)
        == expected
    )


def test_every_anchor_falls_back_to_the_argument() -> None:
    """Without anchorMs the creation time passed in anchors the grid."""
    schedule = EverySchedule(everyMs=60_000)
    found = upcoming_ms(
        schedule,
        reminder_id="r",
        default_tz="UTC",
        after_ms=5_000,
        count=3,
        anchor_ms=2_000,
    )
    assert found == [62_000, 122_000, 182_000]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (EverySchedule(everyMs=60_000, anchorMs=2_000), 2_000),  # its own anchor
        (EverySchedule(everyMs=60_000), 7_000),  # else the creation time
        (CronSchedule(expr="0 9 * * *"), 7_000),  # other kinds: creation time
    ],
)
def test_one_anchor_rule_for_models_and_stored_rows(
    schedule: EverySchedule | CronSchedule, expected: int
) -> None:
    """The anchor rule gives the same answer for a schedule model and for the
    schedule object as a row stores it (what the daemon's job sync reads)."""
    stored = schedule.model_dump(exclude_none=True)
    assert grid_anchor(schedule, 7_000) == grid_anchor(stored, 7_000) == expected


def test_at_in_the_future_and_past() -> None:
    """`at` fires once: its time when still ahead, nothing after it."""
    schedule = AtSchedule(at="2026-12-24T09:00:00+01:00")
    at = ms("2026-12-24T09:00:00+01:00")
    assert (
        next_fire_ms(schedule, reminder_id="r", default_tz="UTC", after_ms=at - 1) == at
    )
    assert (
        next_fire_ms(schedule, reminder_id="r", default_tz="UTC", after_ms=at) is None
    )
    assert upcoming_ms(
        schedule, reminder_id="r", default_tz="UTC", after_ms=0, count=5
    ) == [at]


@pytest.mark.parametrize(
    ("schedule", "bound", "expected"),
    [
        (EverySchedule(everyMs=600_000, anchorMs=0), 1_199_999, 600_000),
        (EverySchedule(everyMs=600_000, anchorMs=0), 1_200_000, 1_200_000),
        (EverySchedule(everyMs=600_000, anchorMs=5_000), 4_999, None),
        (
            AtSchedule(at="2026-11-24T10:00:00Z"),
            ms("2026-11-24T10:00:00+00:00"),
            ms("2026-11-24T10:00:00+00:00"),
        ),
        (AtSchedule(at="2026-11-24T10:00:00Z"), ms("2026-11-24T09:59:59+00:00"), None),
        (
            CronSchedule(expr="0 9 * * *", tz="UTC"),
            ms("2026-11-24T09:00:00+00:00"),
            ms("2026-11-24T09:00:00+00:00"),
        ),
        (
            CronSchedule(expr="0 9 * * *", tz="UTC"),
            ms("2026-11-24T08:59:59+00:00"),
            ms("2026-11-23T09:00:00+00:00"),
        ),
        # the second 02:30 of the autumn overlap is not a slot for a fixed hour
        (
            CronSchedule(expr="30 2 * * *", tz="Europe/Berlin"),
            ms("2026-10-25T02:45:00+01:00"),
            ms("2026-10-25T02:30:00+02:00"),
        ),
    ],
)
def test_previous_fire(schedule: object, bound: int, expected: int | None) -> None:
    """previous_fire_ms finds the latest slot at or before the bound."""
    found = previous_fire_ms(
        schedule,
        reminder_id="r",
        default_tz="UTC",  # type: ignore[arg-type]
        at_or_before_ms=bound,
    )
    assert found == expected


def test_stagger_reference_value_and_shift() -> None:
    """The stagger offset matches OpenClaw's and shifts every cron slot by it."""
    rid = "5d6a8f31-2c7b-4e90-9f14-a3b2c1d0e5f6"
    assert stagger_offset_ms(rid, 300_000) == 171_201
    assert stagger_offset_ms(rid, 0) == 0
    assert stagger_offset_ms(rid, 1) == 0
    assert stagger_offset_ms(rid, None) == 0
    schedule = CronSchedule(expr="0 * * * *", tz="UTC", staggerMs=300_000)
    found = upcoming_ms(
        schedule,
        reminder_id=rid,
        default_tz="UTC",
        after_ms=ms("2026-11-24T10:00:00+00:00"),
        count=2,
    )
    assert found == [
        ms("2026-11-24T10:02:51.201+00:00"),
        ms("2026-11-24T11:02:51.201+00:00"),
    ]
    last = previous_fire_ms(
        schedule,
        reminder_id=rid,
        default_tz="UTC",
        at_or_before_ms=ms("2026-11-24T10:02:51.200+00:00"),
    )
    assert last == ms("2026-11-24T09:02:51.201+00:00")


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("0 0 9 * * 1 2026", "7 fields"),
        ("* * * *", "4 fields"),
        ("*/0 * * * *", "step of 0"),
        ("61 * * * *", "out of range"),
        ("0 25 * * *", "out of range"),
        ("foo", "1 fields"),
        ("", "Empty"),
        ("0 9 31 2 *", "never fires"),
        ("0 9 * * MONDAY", "out of range"),
    ],
)
def test_invalid_cron_is_refused(expr: str, problem: str) -> None:
    """Each malformed expression raises ScheduleError naming the problem and the form."""
    with pytest.raises(ScheduleError) as info:
        validate_cron(expr)
    assert problem in str(info.value)
    assert "5 fields" in str(info.value)


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "  ", "../etc/passwd", "Europe/", "\x00"]
)
def test_invalid_zone_is_refused(name: str) -> None:
    """Unknown or malformed zone names raise ScheduleError with an example."""
    with pytest.raises(ScheduleError, match="IANA name such as Europe/Berlin"):
        validate_tz(name)


def test_apscheduler_triggers_follow_the_same_rules_and_pickle() -> None:
    """The daemon's trigger objects give the same times, also after a pickle trip."""
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    cron = build_trigger(
        CronSchedule(expr="0 9 * * 1-5", tz="Europe/Berlin"),
        reminder_id="r",
        default_tz="UTC",
    )
    every = build_trigger(
        EverySchedule(everyMs=60_000, anchorMs=0), reminder_id="r", default_tz="UTC"
    )
    at = build_trigger(
        AtSchedule(at="2026-01-01T00:00:00Z"), reminder_id="r", default_tz="UTC"
    )
    for trigger in (cron, every, at):
        copy = pickle.loads(pickle.dumps(trigger))
        assert repr(copy) == repr(trigger)
        assert copy.get_next_fire_time(None, now) == trigger.get_next_fire_time(
            None, now
        )
    first = cron.get_next_fire_time(None, now)
    assert first == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert cron.get_next_fire_time(first, now) == datetime(
        2026, 11, 26, 8, 0, tzinfo=UTC
    )
    assert every.get_next_fire_time(None, now) == now  # a slot exactly now fires now
    # a past one-shot still fires (the daemon decides late or not), then never again
    assert at.get_next_fire_time(None, now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert at.get_next_fire_time(datetime(2026, 1, 1, tzinfo=UTC), now) is None


# -- one-value ranges (croniter 7 reads `9-9` as `*`) ---------------------------

# A cron expression per field position, restricted elsewhere so it fires rarely
# enough to show the difference: 6-field form first (seconds), then 5-field.
BASE_6 = ["5", "7", "9", "*", "*", "*"]
BASE_5 = BASE_6[1:]
ONE_VALUE = {
    "second": ["0", "59"],
    "minute": ["0", "59"],
    "hour": ["0", "23"],
    "day of month": ["1", "28", "31"],
    "month": ["1", "12", "JAN", "DEC"],
    "day of week": ["0", "1", "6", "7", "MON", "SUN"],
}
FIELD_NAMES = list(ONE_VALUE)


def _one_value_cases() -> list[tuple[str, str]]:
    cases = []
    for base in (BASE_6, BASE_5):
        names = FIELD_NAMES if len(base) == 6 else FIELD_NAMES[1:]
        for position, name in enumerate(names):
            for value in ONE_VALUE[name]:
                single, ranged = list(base), list(base)
                single[position], ranged[position] = value, f"{value}-{value}"
                cases.append((" ".join(single), " ".join(ranged)))
    return cases


@pytest.mark.parametrize(("single", "ranged"), _one_value_cases())
def test_a_one_value_range_fires_like_the_value(single: str, ranged: str) -> None:
    """`v-v` in any field, 5 or 6 fields, fires exactly where `v` does."""
    after = "2026-01-01T00:00:00+00:00"
    expected = cron_times(single, "UTC", after, 4)
    assert cron_times(ranged, "UTC", after, 4) == expected
    assert (
        cron_times(" ".join(["*"] * len(single.split())), "UTC", after, 4) != expected
    )


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        (  # Mondays only, not every day
            "0 9 * * 1-1",
            "2026-01-01T00:00:00+00:00",
            ["2026-01-05T09:00:00+00:00", "2026-01-12T09:00:00+00:00"],
        ),
        (  # 28 April only, not every day of April
            "19 11 28-28 4 *",
            "2026-01-01T00:00:00+00:00",
            ["2026-04-28T11:19:00+00:00", "2027-04-28T11:19:00+00:00"],
        ),
        (  # a one-value range inside a list
            "0 9 1-1,15 * *",
            "2026-01-01T00:00:00+00:00",
            ["2026-01-01T09:00:00+00:00", "2026-01-15T09:00:00+00:00"],
        ),
    ],
)
def test_one_value_ranges_from_openclaw_stores(
    expr: str, after: str, expected: list[str]
) -> None:
    """The expressions that fired daily before now fire as croner fires them."""
    assert cron_times(expr, "UTC", after, 2) == expected


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("5-1 * * * *", "the minute range 5-1 runs backwards"),
        ("0 23-1 * * *", "the hour range 23-1 runs backwards"),
        ("0 0 31-1 * *", "the day of month range 31-1"),
        ("0 0 1 DEC-JAN *", "the month range DEC-JAN"),
        ("0-59/1000 * * * *", "the minute step in 0-59/1000 is wider"),
        ("*/61 * * * * *", "the second step in */61"),
        ("0 0 * * */8", "the day of week step in */8"),
    ],
)
def test_cron_croner_refuses_is_refused_naming_the_field(
    expr: str, problem: str
) -> None:
    """Backward ranges and steps wider than their field are errors, as in croner."""
    with pytest.raises(ScheduleError) as caught:
        validate_cron(expr)
    assert problem in str(caught.value)


def test_sunday_at_the_top_of_a_range_is_seven() -> None:
    """FRI-SUN is Friday to Sunday, as croner reads it (not a backward range)."""
    times = cron_times("0 9 * * FRI-SUN", "UTC", "2026-01-01T00:00:00+00:00", 3)
    assert times == [
        "2026-01-02T09:00:00+00:00",
        "2026-01-03T09:00:00+00:00",
        "2026-01-04T09:00:00+00:00",
    ]


def test_a_stored_backward_range_keeps_firing_as_before() -> None:
    """A schedule stored before backward ranges were refused still has fire times."""
    times = cron_times("0 22-1 * * *", "UTC", "2026-01-01T00:30:00+00:00", 3)
    assert times == [
        "2026-01-01T01:00:00+00:00",
        "2026-01-01T22:00:00+00:00",
        "2026-01-01T23:00:00+00:00",
    ]
