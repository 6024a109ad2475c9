"""The settings: each key declared once (reminders.declare says how), read from
the merged config file, environment and flags.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from reminders.declare import (
    Above,
    AtLeast,
    Prepare,
    Rule,
    Section,
    key,
    read_plain,
    read_with_pydantic,
    tables,
)

UTC_ZONE = ZoneInfo("UTC")


def _duration(value: str) -> str:
    from reminders.errors import ScheduleError
    from reminders.timeparse import parse_duration

    try:
        parse_duration(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


def _zone(value: str) -> str:
    if value:
        from reminders.errors import ScheduleError
        from reminders.triggers import validate_tz

        try:
            validate_tz(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
    return value


def _quiet(value: str) -> str:
    from reminders.quiet import parse_quiet_hours

    parse_quiet_hours(value)
    return value


def _comma_list(value: Any) -> Any:
    """REMINDERS_TELEGRAM_ALLOWED_USERS=1,2 as well as a TOML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _snooze_choices(value: list[str]) -> list[str]:
    from reminders.errors import ScheduleError
    from reminders.timeparse import parse_at

    if not 1 <= len(value) <= 4:
        raise ValueError('give 1 to 4 snooze choices, e.g. ["10m", "1h"]')
    for choice in value:
        try:
            parse_at(choice, zone=UTC_ZONE, now_ms=0)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
    return value


def _target(value: str) -> str:
    if value.strip():
        from reminders.errors import ValidationError
        from reminders.targets import parse_target

        try:
            parse_target(value)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None
    return value.strip()


WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's prefix, not a secret)


def new_webhook_secret() -> str:
    """A fresh signing secret in the spec's form: `whsec_` + base64 of 32 bytes."""
    import base64
    import secrets

    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def decode_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_` secret; ValueError saying how to fix a bad one."""
    import base64
    import binascii

    text = secret.strip().removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not 24 <= len(key) <= 64:
        raise ValueError(
            "not a webhook secret: give whsec_ followed by base64 of 24 to 64 "
            "bytes, or run `reminders config init --force` to generate one"
        )
    return key


def _webhook_secret(value: str) -> str:
    if value.strip():
        decode_secret(value.strip())  # raises ValueError with the fix
    return value.strip()


Duration = Annotated[str, Rule(_duration)]
Seconds = Annotated[float, Above(0)]


# -- the declaration ------------------------------------------------------------


class GeneralSettings(Section):
    timezone: Annotated[str, Rule(_zone)] = key(
        "",
        about=("IANA zone for times without one; empty = system zone"),
    )
    catch_up: Duration = key(
        "1h", about=("how late a missed recurring slot still fires")
    )
    quiet_hours: Annotated[str, Rule(_quiet)] = key(
        "",
        about=('"22:00-07:00" (configured zone): silent, nags wait; empty = off'),
    )


class TelegramSettings(Section):
    bot_token: str = key("", about=("the bot token from @BotFather"))
    token_file: str = key("", about=("a file holding the token, instead of bot_token"))
    api_base_url: str = key(
        "https://api.telegram.org",
        about=("Bot API server root, without /bot"),
    )
    parse_mode: Literal["", "HTML", "MarkdownV2"] = key(
        "",
        about=("default markup for reminder text; empty = plain text"),
    )
    link_preview: bool = key(False, about=("show link previews in reminders"))
    connect_timeout: Seconds = key(5.0, about=("seconds"))
    read_timeout: Seconds = key(
        10.0,
        about=(
            "seconds per read; a whole request is cut off after "
            "connect_timeout + 2 x read_timeout"
        ),
    )
    interactive: bool = key(
        False,
        about=("buttons on reminders and commands in the chat (long polling)"),
    )
    allowed_users: Annotated[list[int], Prepare(_comma_list)] = key(
        factory=list,
        about=("Telegram user ids who may use the buttons and commands"),
    )
    snooze_choices: Annotated[
        list[str], Prepare(_comma_list), Rule(_snooze_choices)
    ] = key(
        factory=lambda: ["10m", "1h", "tomorrow 9:00"],
        about=("the Snooze buttons, in --at's grammar"),
    )


class DeliverySettings(Section):
    on_ambiguous: Literal["resend", "skip"] = key(
        "resend",
        about=(
            "a send cut off mid-flight: resend (at-least-once; a resend cut off by "
            "another\ncrash is resent too, at most twice in all) or skip"
        ),
    )
    deadline: Duration = key("2m", about=("how long one run keeps retrying"))
    failure_alert_after: Annotated[int, AtLeast(0)] = key(
        3, about=("alert after N failures; 0 = off")
    )
    failure_alert_to: str = key("", about=("chat that receives failure alerts"))
    failure_alert_cooldown: Duration = key(
        "1h", about=("at most one alert per cooldown")
    )
    webhook_secret: Annotated[str, Rule(_webhook_secret)] = key(
        "",
        about=("signs webhook requests: whsec_ + base64; empty = unsigned"),
    )
    webhook_timeout: Seconds = key(10.0, about=("seconds one webhook request may take"))
    webhook_rate: Annotated[int, AtLeast(1)] = key(
        10,
        about=("at most this many webhook requests a second per host"),
    )
    default_to: Annotated[str, Rule(_target)] = key(
        "",
        about=("chat for reminders added without --to (agents, imports)"),
    )


class DatabaseSettings(Section):
    url: str = key(
        "",
        about=(
            "sqlite:///PATH or postgresql+psycopg://USER@HOST/DBNAME; "
            "empty = SQLite in the data folder"
        ),
    )


class DaemonSettings(Section):
    poll_interval: Duration = key(
        "1s", about=("how often the daemon checks for changes")
    )
    log_format: Literal["text", "json"] = key("text", about=("text or json"))
    lease: Duration = key(
        "15s",
        about=("PostgreSQL only: how long a leader holds its lease unrenewed"),
    )


class Settings(Section):
    general: GeneralSettings = key(factory=GeneralSettings)
    telegram: TelegramSettings = key(factory=TelegramSettings)
    delivery: DeliverySettings = key(factory=DeliverySettings)
    database: DatabaseSettings = key(factory=DatabaseSettings)
    daemon: DaemonSettings = key(factory=DaemonSettings)


def sections() -> dict[str, type[Section]]:
    """Each table of Settings and its class, in the order the file lists them."""
    return tables(Settings)


def plain_settings(data: dict[str, Any]) -> Settings | None:
    """Settings read from merged config data without pydantic; None when unsure."""
    return read_plain(Settings, data)


def pydantic_settings(data: dict[str, Any]) -> Settings:
    """Settings read by pydantic; its ValidationError when a value is bad."""
    return read_with_pydantic(Settings, data)


def validate_settings(data: dict[str, Any]) -> Settings:
    """Settings from merged config data: the plain reader's when it is sure, else
    pydantic's, which raises its ValidationError on a bad value."""
    return plain_settings(data) or pydantic_settings(data)
