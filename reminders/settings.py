"""The settings, each key declared once, and the two readers of that declaration.

A key is declared once, as an annotated class attribute of its table: its type,
its rules as markers in `Annotated` (Above, AtLeast, Rule, Prepare), its default
and the line the example file says about it. `plain_settings` reads the usual
case (exact types, every rule passing) with nothing but the standard library, so
a command starts fast; anything it is unsure of it leaves to pydantic
(`pydantic_settings`), which reads the same markers, coerces what may be coerced
(environment variables are text) and words the error. The plain reader only
ever accepts, never refuses, so what is accepted and every error are pydantic's.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from pydantic import TypeAdapter

UTC_ZONE = ZoneInfo("UTC")


# -- rules, as markers both readers understand -------------------------------------


class Above:
    """The number must be greater than `limit`."""

    __slots__ = ("limit",)

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {**handler(source), "gt": self.limit}


class AtLeast:
    """The number must be `limit` or more."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {**handler(source), "ge": self.limit}


class Rule:
    """A check run on the typed value: it returns the value, or raises ValueError
    with the sentence to show."""

    __slots__ = ("check",)

    def __init__(self, check: Callable[[Any], Any]) -> None:
        self.check = check

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))


class Prepare:
    """A conversion run on the raw value before its type is checked."""

    __slots__ = ("convert",)

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self.convert = convert

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            self.convert, handler(source)
        )


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


# -- tables and keys --------------------------------------------------------------


class Key:
    """One key of a table: its name, default and the line the example file says
    about it."""

    __slots__ = ("about", "default", "factory", "name")

    def __init__(
        self, default: Any, about: str, factory: Callable[[], Any] | None
    ) -> None:
        self.name = ""
        self.default, self.about, self.factory = default, about, factory

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    def make(self) -> Any:
        """A fresh default value."""
        return self.factory() if self.factory else self.default


def key(
    default: Any = None, about: str = "", *, factory: Callable[[], Any] | None = None
) -> Any:
    """Declare a key: `name: type = key(default, "what it means")`."""
    return Key(default, about, factory)


class Section:
    """A table of settings. Its keys are its annotated class attributes, each
    declared with key(), in the order the file lists them."""

    def __init__(self, **values: Any) -> None:
        for each in keys(type(self)):
            value = values.pop(each.name) if each.name in values else each.make()
            setattr(self, each.name, value)
        if values:
            raise TypeError(f"{type(self).__name__} has no key {sorted(values)[0]!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({shown})"


def keys(table: type[Any]) -> list[Key]:
    """A table's keys, in order."""
    return [value for value in vars(table).values() if isinstance(value, Key)]


def as_dict(table: Section) -> dict[str, Any]:
    """A table's values, tables within it as dicts too, in order."""
    return {
        name: as_dict(value) if isinstance(value, Section) else value
        for name, value in vars(table).items()
    }


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
        about=("a send cut off mid-flight: resend (at-least-once) or skip"),
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
    hints = _hints(Settings)
    return {each.name: hints[each.name] for each in keys(Settings)}


# -- the two readers ----------------------------------------------------------------


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


class _Unsure(Exception):
    """The plain reader cannot vouch for a value: pydantic decides."""


def plain_settings(data: dict[str, Any]) -> Settings | None:
    """Settings from `data` when every value has its exact type and passes every
    rule; None when unsure (a wrong type, text to coerce, an unknown key, a rule
    failing), for `pydantic_settings` to coerce or refuse in its own words."""
    try:
        return _table(Settings, data)  # type: ignore[no-any-return]
    except _Unsure:
        return None


def validate_settings(data: dict[str, Any]) -> Settings:
    """Settings from merged config data: the plain reader's when it is sure, else
    pydantic's, which raises its ValidationError on a bad value."""
    return plain_settings(data) or pydantic_settings(data)


def pydantic_settings(data: dict[str, Any]) -> Settings:
    """Pydantic's reading of the same declaration; its ValidationError when `data`
    holds a bad value."""
    return _from_dataclass(Settings, _adapter().validate_python(data))


@cache
def _adapter() -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(_as_dataclass(Settings))


def _as_dataclass(table: type[Section]) -> type[Any]:
    """A standard dataclass with the table's keys, types and defaults (tables
    within it likewise), named alike: what pydantic validates. Unknown keys are
    errors."""
    import dataclasses

    hints, fields = _hints(table), []
    for each in keys(table):
        kind = hints[each.name]
        if isinstance(kind, type) and issubclass(kind, Section):
            kind = _as_dataclass(kind)
        fields.append((each.name, kind, dataclasses.field(default_factory=each.make)))
    return dataclasses.make_dataclass(
        table.__name__, fields, namespace={"__pydantic_config__": {"extra": "forbid"}}
    )


def _from_dataclass(table: type[Section], value: Any) -> Any:
    hints = _hints(table)
    return table(
        **{
            each.name: _from_dataclass(hints[each.name], getattr(value, each.name))
            if _is_table(hints[each.name])
            else getattr(value, each.name)
            for each in keys(table)
        }
    )


def _is_table(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Section)


def _table(table: type[Section], data: Any) -> Section:
    if type(data) is not dict:
        raise _Unsure
    hints, known = _hints(table), {each.name for each in keys(table)}
    if not known >= data.keys():
        raise _Unsure
    return table(**{name: _value(hints[name], value) for name, value in data.items()})


def _value(kind: Any, value: Any) -> Any:
    markers: tuple[Any, ...] = ()
    if typing.get_origin(kind) is Annotated:
        kind, *rest = typing.get_args(kind)
        markers = tuple(rest)
    for marker in markers:
        if isinstance(marker, Prepare):
            value = marker.convert(value)
    value = _typed(kind, value)
    for marker in markers:
        if isinstance(marker, Above) and not value > marker.limit:
            raise _Unsure
        if isinstance(marker, AtLeast) and not value >= marker.limit:
            raise _Unsure
        if isinstance(marker, Rule):
            try:
                value = marker.check(value)
            except Exception:
                raise _Unsure from None
    return value


def _typed(kind: Any, value: Any) -> Any:
    """`value` when it is exactly of type `kind` (an int for a float, made a
    float, as pydantic does); _Unsure otherwise."""
    origin = typing.get_origin(kind)
    if _is_table(kind):
        return _table(kind, value)
    if origin is Literal:
        if any(type(value) is type(c) and value == c for c in typing.get_args(kind)):
            return value
        raise _Unsure
    if origin is list:
        (item,) = typing.get_args(kind)
        if type(value) is not list:
            raise _Unsure
        return [_typed(item, element) for element in value]
    if kind is float and type(value) is int and abs(value) <= 2**53:
        return float(value)
    if kind in (str, bool, int, float) and type(value) is kind:
        return value
    raise _Unsure
