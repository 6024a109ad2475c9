"""Settings: defaults < config.toml < REMINDERS_* environment < command-line flags.

`$REMINDERS_HOME` holds both config.toml and the database when set; otherwise they
live in the platform's config and data folders. Unknown keys are errors, so a typo
never passes silently. The bot token is never printed in full.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from reminders.errors import ConfigError

APP_NAME = "reminders"
UTC_ZONE = ZoneInfo("UTC")
FORBID = ConfigDict(extra="forbid")


def _duration(value: str) -> str:
    from reminders.errors import ScheduleError
    from reminders.timeparse import parse_duration

    try:
        parse_duration(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


Duration = Annotated[str, AfterValidator(_duration)]


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


WebhookSecret = Annotated[str, AfterValidator(_webhook_secret)]


class GeneralSettings(BaseModel):
    model_config = FORBID
    timezone: str = Field(
        "", description="IANA zone for times without one; empty = system zone"
    )
    catch_up: Duration = Field(
        "1h", description="how late a missed recurring slot still fires"
    )
    quiet_hours: str = Field(
        "",
        description='"22:00-07:00" (configured zone): silent, nags wait; empty = off',
    )

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        from reminders.quiet import parse_quiet_hours

        parse_quiet_hours(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value:
            from reminders.errors import ScheduleError
            from reminders.triggers import validate_tz

            try:
                validate_tz(value)
            except ScheduleError as exc:
                raise ValueError(str(exc)) from None
        return value


class TelegramSettings(BaseModel):
    model_config = FORBID
    bot_token: str = Field("", description="the bot token from @BotFather")
    token_file: str = Field(
        "", description="a file holding the token, instead of bot_token"
    )
    api_base_url: str = Field(
        "https://api.telegram.org", description="Bot API server root, without /bot"
    )
    parse_mode: Literal["", "HTML", "MarkdownV2"] = Field(
        "", description="default markup for reminder text; empty = plain text"
    )
    link_preview: bool = Field(False, description="show link previews in reminders")
    connect_timeout: float = Field(5.0, gt=0, description="seconds")
    read_timeout: float = Field(
        10.0,
        gt=0,
        description="seconds per read; a whole request is cut off after "
        "connect_timeout + 2 x read_timeout",
    )
    interactive: bool = Field(
        False,
        description="buttons on reminders and commands in the chat (long polling)",
    )
    allowed_users: list[int] = Field(
        default_factory=list,
        description="Telegram user ids who may use the buttons and commands",
    )
    snooze_choices: list[str] = Field(
        default_factory=lambda: ["10m", "1h", "tomorrow 9:00"],
        description="the Snooze buttons, in --at's grammar",
    )

    @field_validator("allowed_users", "snooze_choices", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """REMINDERS_TELEGRAM_ALLOWED_USERS=1,2 as well as a TOML list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("snooze_choices")
    @classmethod
    def _choices(cls, value: list[str]) -> list[str]:
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


class DeliverySettings(BaseModel):
    model_config = FORBID
    on_ambiguous: Literal["resend", "skip"] = Field(
        "resend",
        description="a send cut off mid-flight: resend (at-least-once) or skip",
    )
    deadline: Duration = Field("2m", description="how long one run keeps retrying")
    failure_alert_after: int = Field(
        3, ge=0, description="alert after N failures; 0 = off"
    )
    failure_alert_to: str = Field("", description="chat that receives failure alerts")
    failure_alert_cooldown: Duration = Field(
        "1h", description="at most one alert per cooldown"
    )
    webhook_secret: WebhookSecret = Field(
        "",
        description="signs webhook requests: whsec_ + base64; empty = unsigned",
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="seconds one webhook request may take"
    )
    webhook_rate: int = Field(
        10, ge=1, description="at most this many webhook requests a second per host"
    )
    default_to: str = Field(
        "", description="chat for reminders added without --to (agents, imports)"
    )

    @field_validator("default_to")
    @classmethod
    def _target(cls, value: str) -> str:
        if value.strip():
            from reminders.errors import ValidationError
            from reminders.targets import parse_target

            try:
                parse_target(value)
            except ValidationError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()


class DatabaseSettings(BaseModel):
    model_config = FORBID
    url: str = Field(
        "",
        description="sqlite:///PATH or postgresql+psycopg://USER@HOST/DBNAME; "
        "empty = SQLite in the data folder",
    )


class DaemonSettings(BaseModel):
    model_config = FORBID
    poll_interval: Duration = Field(
        "1s", description="how often the daemon checks for changes"
    )
    log_format: Literal["text", "json"] = Field("text", description="text or json")
    lease: Duration = Field(
        "15s",
        description="PostgreSQL only: how long a leader holds its lease unrenewed",
    )


class Settings(BaseModel):
    model_config = FORBID
    general: GeneralSettings = Field(default_factory=GeneralSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)


class Paths(BaseModel):
    config: Path
    data_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "reminders.db"


def resolve_paths(config_flag: str | None = None) -> Paths:
    home = os.environ.get("REMINDERS_HOME")
    if home:
        base = Path(home).expanduser()
        config, data_dir = base / "config.toml", base
    else:
        import platformdirs

        config = Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"
        data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    explicit = config_flag or os.environ.get("REMINDERS_CONFIG")
    if explicit:
        config = Path(explicit).expanduser()
    return Paths(config=config, data_dir=data_dir)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML ({exc}). Fix that line, or run "
            "`reminders config init --force` to write a fresh file."
        ) from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror}).") from None


def setting_variables() -> list[str]:
    """Every REMINDERS_<SECTION>_<KEY> environment variable a setting reads."""
    return [
        f"REMINDERS_{section}_{key}".upper()
        for section, model in Settings.model_fields.items()
        for key in model.annotation.model_fields  # type: ignore[union-attr]
    ]


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for section, model in Settings.model_fields.items():
        keys = model.annotation.model_fields  # type: ignore[union-attr]
        for key in keys:
            value = environ.get(f"REMINDERS_{section}_{key}".upper())
            if value is not None:
                overrides.setdefault(section, {})[key] = value
    return overrides


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    paths: Paths,
    flags: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the config file, apply the environment and flags, and validate it all."""
    import pydantic

    data = _read_file(paths.config)
    env = _env_overrides(dict(os.environ if environ is None else environ))
    data = _merge(_merge(data, env), flags or {})
    try:
        return Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"Unknown config key {where!r} in {paths.config}. Remove it; "
                "`reminders config init --print` lists every key."
            ) from None
        message = str(first["msg"]).removeprefix("Value error, ")
        section, key = [*map(str, first["loc"]), "", ""][:2]
        if key in (flags or {}).get(section, {}):
            raise ConfigError(f"{where}: {message.rstrip('.')}.") from None
        if key in env.get(section, {}):
            variable = f"REMINDERS_{section}_{key}".upper()
            raise ConfigError(
                f"Environment variable {variable}: {message.rstrip('.')}. "
                "Fix or unset it."
            ) from None
        raise ConfigError(f"Config {where}: {message} (in {paths.config}).") from None


def system_timezone() -> str:
    """The machine's IANA zone name, or UTC when it cannot be told."""
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:
        name = None
    return name or "UTC"


def check_chat(settings: Settings) -> None:
    """Interactive needs someone allowed to interact (the daemon refuses otherwise)."""
    telegram = settings.telegram
    if telegram.interactive and not telegram.allowed_users:
        raise ConfigError(
            "telegram.interactive is on but telegram.allowed_users is empty: list the "
            "Telegram user ids that may use the chat (allowed_users = [123456789]), "
            "or set interactive = false."
        )


def default_timezone(settings: Settings) -> str:
    return settings.general.timezone or system_timezone()


def bot_token(settings: Settings) -> str | None:
    if settings.telegram.bot_token:
        return settings.telegram.bot_token.strip()
    if settings.telegram.token_file:
        path = Path(settings.telegram.token_file).expanduser()
        try:
            return path.read_text().strip() or None
        except OSError as exc:
            raise ConfigError(
                f"Cannot read telegram.token_file {path} ({exc.strerror}). "
                "Fix the path or set REMINDERS_TELEGRAM_BOT_TOKEN."
            ) from None
    return None


def token_exposure(path: Path) -> str | None:
    """One line when the config file holds the bot token and others may read it."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if not mode & 0o044:
        return None
    try:
        token = _read_file(path).get("telegram", {}).get("bot_token")
    except ConfigError:
        return None
    if not token:
        return None
    return (
        f"{path} holds the bot token and other users can read it (mode {mode:04o}). "
        f"Run `chmod 600 {path}`."
    )


def mask(secret: str | None) -> str:
    if not secret:
        return "(not set)"
    return f"{secret[:4]}…{secret[-2:]}" if len(secret) > 10 else "****"


def hide_password(url: str) -> str:
    """A database URL as it may be shown: any password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "(a database URL that cannot be read)"


def database_url(settings: Settings, paths: Paths) -> str:
    return settings.database.url or f"sqlite:///{paths.database}"


def render_example(webhook_secret: str = "") -> str:
    """A config.toml with every key, its default and what it means, all commented
    out but for a webhook signing secret when one is given."""
    lines = [
        "# reminders configuration. Every key is shown with its default.",
        "# Environment variables override the file: REMINDERS_<SECTION>_<KEY>,",
        "# for example REMINDERS_TELEGRAM_BOT_TOKEN.",
    ]
    for section, field in Settings.model_fields.items():
        model = field.annotation
        lines += ["", f"[{section}]"]
        for key, info in model.model_fields.items():  # type: ignore[union-attr]
            lines.append(f"# {info.description}")
            if key == "webhook_secret" and webhook_secret:
                lines.append(f"{key} = {_toml_value(webhook_secret)}")
            else:
                default = info.get_default(call_default_factory=True)
                lines.append(f"# {key} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        import json

        # A JSON string is a valid TOML basic string, but for DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return str(value)


def render_settings(settings: Settings, comments: dict[str, str]) -> str:
    """Effective settings as a TOML document, each `comments` entry a leading
    comment line; the bot token and the webhook secret are masked."""
    lines = [f"# {key}: {value}" for key, value in comments.items()]
    data = settings.model_dump()
    secrets = {
        ("telegram", "bot_token"): bot_token(settings),
        ("delivery", "webhook_secret"): settings.delivery.webhook_secret,
    }
    for section, values in data.items():
        lines += ["", f"[{section}]"]
        for key, value in values.items():
            secret = secrets.get((section, key))
            if secret:
                lines.append("# masked: the real value is never printed")
            if (section, key) in secrets:
                value = mask(secret) if secret else ""
            elif (section, key) == ("database", "url"):
                value = hide_password(value)
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
