"""The CLI's fast paths: what `add` and `list` load, and that reading settings and
building a reminder without pydantic gives exactly what pydantic gives."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminders import triggers
from reminders.build import ReminderSpec, job_json, plain_spec
from reminders.declare import keys
from reminders.errors import ReminderError, ValidationError
from reminders.schema import parse_reminder
from reminders.settings import (
    Settings,
    plain_settings,
    pydantic_settings,
    sections,
    validate_settings,
)
from tests.conftest import REPO, Cli

HEAVY = ("pydantic", "sqlalchemy", "psycopg", "alembic", "apscheduler", "telegram")
T0 = 1795514400000  # 2026-11-24T10:00:00Z


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True
    )


@pytest.mark.engines("sqlite", "postgresql")
def test_add_and_list_load_neither_pydantic_nor_sqlalchemy(
    run: Cli, engine: str
) -> None:
    """`add` and `list` start fast only while they import none of the heavy
    libraries (psycopg only for a PostgreSQL database): the first import of any
    of them on that path fails this test. (Creating or upgrading the database is
    Alembic's, with SQLAlchemy.)"""
    run("db", "upgrade")
    heavy = tuple(name for name in HEAVY if not (engine and name == "psycopg"))
    code = (
        "import sys\n"
        "from reminders.cli import main\n"
        "for args in (\n"
        "    ['add', '--at', '20m', '--message', 'tea', '--to', '1'],\n"
        "    ['add', '--cron', '0 9 * * 1-5', '--tz', 'Europe/Berlin',\n"
        "     '--message', 'standup', '--to', '-100123:topic:4', '--stagger', '5m'],\n"
        "    ['add', '--every', '1h', '--system-event', 'stretch', '--no-deliver'],\n"
        "    ['cron', 'add', '--at', 'tomorrow 9:00', '--message', 'x', '--to', '1',\n"
        "     '--session', 'main', '--json'],\n"
        "    ['list'], ['list', '--limit', '0'], ['list', '--all'],\n"
        "):\n"
        "    sys.argv = ['reminders', *args]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, (args, exit.code)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]", result.stdout.splitlines()[-1]


# -- settings: the plain reader and pydantic agree -------------------------------

SECTION_KEYS = {
    name: [each.name for each in keys(table)] for name, table in sections().items()
}
# Values for any key: right and wrong types, good and bad text, text to coerce.
ODD_SETTINGS = [
    "", "1h", "90s", "soon", "0s", "UTC", "Europe/Berlin", "Mars/Base", "22:00-07:00",
    "25:00-1", "HTML", "html", "MarkdownV2", "text", "json", "resend", "skip",
    "@channel", "-100123:topic:4", "not a chat", "1,2", "whsec_short", "true", "yes",
    "5", "-1", "nan", "tomorrow 9:00", " 1h ", "whsec_" + "A" * 43,
]  # fmt: skip
SETTING_VALUES = st.one_of(
    st.sampled_from(ODD_SETTINGS),
    st.integers(-3, 12),
    st.sampled_from([0, 1, 2**60, -(2**60)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-5, 10**12), max_size=3),
    st.lists(
        st.sampled_from(["10m", "1h", "tomorrow 9:00", "never", "2d"]), max_size=5
    ),
    st.text(max_size=8),
)
SECTION = st.sampled_from(sorted(SECTION_KEYS)).flatmap(
    lambda section: st.tuples(
        st.just(section),
        st.dictionaries(
            st.sampled_from([*SECTION_KEYS[section], "unknown_key"]),
            SETTING_VALUES,
            max_size=4,
        ),
    )
)
TEXT_KEY = st.text(max_size=8)
USUAL_VALUES = {  # for every key: a value of its exact type that passes its rules
    "timezone": st.sampled_from(["", "UTC", "Europe/Berlin"]),
    "catch_up": st.sampled_from(["1h", "90s", "2d"]),
    "quiet_hours": st.sampled_from(["", "22:00-07:00"]),
    "bot_token": TEXT_KEY,
    "token_file": TEXT_KEY,
    "api_base_url": st.sampled_from(["https://api.telegram.org", "http://127.0.0.1:1"]),
    "parse_mode": st.sampled_from(["", "HTML", "MarkdownV2"]),
    "link_preview": st.booleans(),
    "connect_timeout": st.integers(1, 30) | st.floats(0.1, 30),
    "read_timeout": st.integers(1, 30) | st.floats(0.1, 30),
    "interactive": st.booleans(),
    "allowed_users": st.lists(st.integers(1, 10**10), max_size=3),
    "snooze_choices": st.lists(
        st.sampled_from(["10m", "1h", "tomorrow 9:00"]), min_size=1, max_size=4
    ),
    "on_ambiguous": st.sampled_from(["resend", "skip"]),
    "deadline": st.sampled_from(["2m", "30s"]),
    "failure_alert_after": st.integers(0, 5),
    "failure_alert_to": TEXT_KEY,
    "failure_alert_cooldown": st.sampled_from(["1h", "10m"]),
    "webhook_secret": st.sampled_from(["", "whsec_" + "A" * 43]),
    "webhook_timeout": st.integers(1, 30),
    "webhook_rate": st.integers(1, 30),
    "default_to": st.sampled_from(["", "123", " @channel "]),
    "url": st.sampled_from(["", "sqlite:////tmp/x.db"]),
    "poll_interval": st.sampled_from(["1s", "2s"]),
    "log_format": st.sampled_from(["text", "json"]),
    "lease": st.sampled_from(["15s", "1m"]),
}
USUAL_CONFIG = st.fixed_dictionaries(
    {},
    optional={
        section: st.fixed_dictionaries(
            {}, optional={key: USUAL_VALUES[key] for key in keys}
        )
        for section, keys in SECTION_KEYS.items()
    },
)
CONFIG = st.one_of(
    USUAL_CONFIG,
    st.lists(SECTION, max_size=4).map(dict),
    st.dictionaries(st.sampled_from(["general", "telegram", "extra"]), SETTING_VALUES),
)


def _by_pydantic(data: dict[str, Any]) -> Settings | str:
    try:
        return pydantic_settings(data)
    except pydantic.ValidationError as exc:
        return str(exc.errors()[0]["type"])


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(CONFIG)
def test_the_plain_settings_reader_accepts_only_what_pydantic_accepts_alike(
    data: dict[str, Any],
) -> None:
    """Whatever the plain reader accepts, pydantic accepts and reads the same; it
    leaves everything else to pydantic (so every error is pydantic's)."""
    plain = plain_settings(data)
    if plain is not None:
        assert plain == _by_pydantic(data)


def test_usual_config_files_are_read_without_pydantic() -> None:
    """The example file's values, and a file with typical content, take the plain
    path; the settings are the same as pydantic's."""
    usual = {
        "general": {"timezone": "Europe/Berlin", "catch_up": "2h"},
        "telegram": {
            "bot_token": "123:abc",
            "read_timeout": 20,
            "interactive": True,
            "allowed_users": [42, 7],
            "snooze_choices": ["15m", "tomorrow 9:00"],
        },
        "delivery": {"default_to": " @channel ", "webhook_rate": 3},
        "database": {"url": "sqlite:////tmp/x.db"},
        "daemon": {"poll_interval": "2s", "log_format": "json"},
    }
    for data in ({}, usual, {"telegram": {"connect_timeout": 2.5}}):
        plain = plain_settings(data)
        assert plain is not None
        assert plain == pydantic_settings(data) == validate_settings(data)
    assert plain_settings({"telegram": {"read_timeout": "5"}}) is None  # text: coerced
    assert (
        validate_settings({"telegram": {"read_timeout": "5"}}).telegram.read_timeout
        == 5
    )


# -- add: the built JSON is what the Reminder model makes of it ------------------

TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
)
ODD_TEXT = st.one_of(TEXT, st.sampled_from(["\ud800", "a\udfffb", " ", "\n x\n"]))
SCHEDULES = st.one_of(
    st.fixed_dictionaries(
        {
            "at": st.sampled_from(
                [
                    "20m",
                    "tomorrow 9:00",
                    "2026-12-24T09:00",
                    "18:00",
                    "2020-01-01T00:00Z",
                    "soon",
                    "1795514400000",
                ]
            )
        },
        optional={
            "tz": st.sampled_from(["UTC", "Europe/Berlin", "Mars/Base", " UTC "])
        },
    ),
    st.fixed_dictionaries(
        {"every": st.sampled_from(["30s", "1h30m", "1ms", "0s", "1.5d", "never"])},
        optional={"tz": st.just("UTC")},
    ),
    st.fixed_dictionaries(
        {
            "cron": st.sampled_from(
                [
                    "0 9 * * 1-5",
                    "*/15 * * * *",
                    "0 0 9 * * MON",
                    "5-1 * * * *",
                    "nonsense",
                    "  0   9 * * *  ",
                ]
            )
        },
        optional={
            "tz": st.sampled_from(["UTC", "America/New_York", "Nowhere"]),
            "stagger": st.sampled_from(["5m", "0s", "1h"]),
            "exact": st.just(True),
        },
    ),
)
HOSTILE_SPECS = st.builds(
    lambda schedule, **fields: ReminderSpec(**schedule, **fields),
    SCHEDULES,
    name=st.none() | ODD_TEXT,
    description=st.none() | ODD_TEXT,
    message=st.none() | ODD_TEXT,
    system_event=st.none() | ODD_TEXT,
    channel=st.none() | st.sampled_from(["telegram", "tg", "last", "slack"]),
    to=st.none() | st.sampled_from(["123", "@channel", "-100123:topic:4", "x", ""]),
    webhook=st.none() | st.sampled_from(["https://example.com/h", "ftp://x"]),
    thread_id=st.none() | st.sampled_from(["42", "1", "0", "abc"]),
    deliver=st.none() | st.booleans(),
    delete_after_run=st.none() | st.booleans(),
    enabled=st.none() | st.booleans(),
    silent=st.none() | st.booleans(),
    parse_mode=st.none() | st.sampled_from(["", "HTML", "MarkdownV2", "markdown"]),
    catch_up=st.none() | st.sampled_from(["2h", "0s", "x"]),
    nag=st.none() | st.sampled_from(["15m", "off", "0s"]),
    nag_max=st.none() | st.integers(0, 3),
    extra=st.dictionaries(
        st.sampled_from(
            ["agentId", "sessionKey", "sessionTarget", "wakeMode", "failureAlert"]
        ),
        st.one_of(TEXT, st.integers(), st.just({"after": "x"})),
        max_size=2,
    ),
)
NONBLANK = TEXT.filter(lambda text: text.strip())


@st.composite
def usual_specs(draw: st.DrawFn) -> ReminderSpec:
    """What `add` is mostly given: one schedule, one text, one destination, and
    any of the other flags, as text (the way click hands them over)."""
    schedule = draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "at": st.sampled_from(
                        [
                            "20m",
                            "tomorrow 9:00",
                            "2026-12-24T09:00",
                            "18:00",
                            "1795600000000",
                            "in 3d",
                        ]
                    )
                },
                optional={"tz": st.sampled_from(["UTC", "Asia/Kolkata", " UTC "])},
            ),
            st.fixed_dictionaries(
                {"every": st.sampled_from(["30s", "1h30m", "1.5d", "10m"])}
            ),
            st.fixed_dictionaries(
                {
                    "cron": st.sampled_from(
                        [
                            "0 9 * * 1-5",
                            "*/15 * * * *",
                            "0 0 9 * * MON",
                            "  0   9 * * *  ",
                        ]
                    )
                },
                optional={
                    "tz": st.sampled_from(["UTC", "America/New_York"]),
                    "stagger": st.sampled_from(["5m", "1s", "1h"]),
                },
            ),
        )
    )
    if "cron" in schedule and "stagger" not in schedule and draw(st.booleans()):
        schedule["exact"] = True
    text = {draw(st.sampled_from(["message", "system_event"])): draw(NONBLANK)}
    where = draw(st.sampled_from(["chat", "quiet", "webhook"]))
    destination: dict[str, Any] = {}
    if where == "webhook":
        destination["webhook"] = draw(
            st.sampled_from(["https://example.com/h", "http://127.0.0.1:8080/x"])
        )
    else:
        destination["to"] = draw(
            st.sampled_from(["123", "@channel_name", "-100123:topic:4", " 42 "])
        )
        destination["thread_id"] = draw(st.none() | st.sampled_from(["42", "7"]))
        destination["channel"] = draw(st.none() | st.sampled_from(["telegram", "tg"]))
        destination["deliver"] = (
            False if where == "quiet" else draw(st.none() | st.just(True))
        )
        destination["silent"] = draw(st.none() | st.booleans())
        destination["parse_mode"] = draw(
            st.none() | st.sampled_from(["", "HTML", "MarkdownV2"])
        )
    return ReminderSpec(
        **schedule,
        **text,
        **destination,
        name=draw(st.none() | NONBLANK),
        description=draw(st.none() | TEXT),
        delete_after_run=draw(st.none() | st.booleans()),
        enabled=draw(st.none() | st.booleans()),
        catch_up=draw(st.none() | st.sampled_from(["2h", "90s"])),
        nag=(nag := draw(st.none() | st.sampled_from(["15m", "off"]))),
        nag_max=draw(st.none() | st.integers(1, 5)) if nag == "15m" else None,
        extra=draw(
            st.dictionaries(
                st.sampled_from(["agentId", "sessionKey", "sessionTarget", "wakeMode"]),
                TEXT,
                max_size=2,
            )
        ),
    )


SPECS = st.one_of(usual_specs(), usual_specs(), usual_specs(), HOSTILE_SPECS)


def _items(value: Any) -> Any:
    """A JSON value with its key order kept, for comparing order too."""
    if isinstance(value, dict):
        return [(key, _items(item)) for key, item in value.items()]
    return value


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(SPECS, st.booleans(), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_a_reminder_built_from_flags_is_what_the_model_makes_of_it(
    spec: ReminderSpec, interactive: bool, default_tz: str
) -> None:
    """For every spec stored as built (plain_spec), the Reminder model accepts
    the JSON and gives it back unchanged, key order and all, and both readings
    fire at the same time. Other specs go through the model, which may refuse
    them, with our error."""
    config = Settings()
    config.telegram.interactive = interactive
    try:
        job = job_json(
            spec, reminder_id="r-1", now_ms=T0, default_tz=default_tz, settings=config
        )
    except ReminderError:
        return  # the flag rules refused it, the same for either path
    if not plain_spec(spec):
        try:
            parse_reminder(job)
        except ValidationError:
            pass  # the model refuses it: exit 65, one line
        return
    model = parse_reminder(job)
    assert _items(model.model_dump(mode="json", exclude_none=True)) == _items(
        {**job, "state": {}}
    )
    assert triggers.next_run_of_job(job, default_tz, T0) == triggers.next_run(
        model, default_tz, T0
    )


def test_specs_the_model_must_see_are_routed_to_it() -> None:
    """Text no database stores, anchors and odd extras are read by the model."""
    assert plain_spec(ReminderSpec(at="20m", message="tea", to="1"))
    assert plain_spec(ReminderSpec(at="20m", message="tea", extra={"agentId": "a"}))
    for odd in (
        ReminderSpec(at="20m", message="tea\ud800", to="1"),
        ReminderSpec(every="1h", message="tea", to="1", anchor_ms=T0),
        ReminderSpec(every="1h", message="tea", to="1", starting="9:00"),
        ReminderSpec(at="20m", message="tea", extra={"failureAlert": {"after": 2}}),
        ReminderSpec(at="20m", message="tea", extra={"agentId": 7}),
        ReminderSpec(at="20m", message="tea", parse_mode="markdown"),
        ReminderSpec(at="20m", message="tea", nag_max=True),
    ):
        assert not plain_spec(odd), odd


@pytest.mark.parametrize(
    "args",
    [
        ["--at", "20m", "--message", "tea", "--to", "1"],
        [
            "--cron",
            "0 9 * * 1-5",
            "--tz",
            "Europe/Berlin",
            "--stagger",
            "5m",
            "--system-event",
            "standup",
            "--to",
            "-100123:topic:4",
            "--silent",
            "--parse-mode",
            "HTML",
            "--catch-up",
            "2h",
            "--session",
            "main",
        ],
        [
            "--every",
            "90m",
            "--message",
            "water",
            "--no-deliver",
            "--disabled",
            "--description",
            " hydrate ",
        ],
        [
            "--at",
            "tomorrow 9:00",
            "--message",
            "hook",
            "--webhook",
            "https://example.com/h",
        ],
    ],
)
def test_add_json_is_the_stored_reminder_as_the_model_reads_it(
    run: Cli, args: list[str]
) -> None:
    """What `add --json` prints (built without pydantic) is, key for key and in
    order, what `show --json` prints of it (read through the model)."""
    added = run("add", *args, "--json").stdout
    shown = run("show", json.loads(added)["id"], "--json").stdout
    assert added == shown
