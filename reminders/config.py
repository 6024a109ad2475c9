"""Settings: defaults < config.toml < REMINDERS_* environment < command-line flags.

`$REMINDERS_HOME` holds both config.toml and the database when set; otherwise they
live in the platform's config and data folders. Unknown keys are errors, so a typo
never passes silently. The bot token is never printed in full.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reminders.declare import as_dict, keys
from reminders.errors import ConfigError
from reminders.settings import WEBHOOK_SECRET_PREFIX as WEBHOOK_SECRET_PREFIX
from reminders.settings import Settings as Settings
from reminders.settings import decode_secret as decode_secret
from reminders.settings import new_webhook_secret as new_webhook_secret
from reminders.settings import plain_settings, pydantic_settings, sections

APP_NAME = "reminders"


@dataclass
class Paths:
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
    import tomllib

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
        f"REMINDERS_{section}_{key.name}".upper()
        for section, model in sections().items()
        for key in keys(model)
    ]


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for section, model in sections().items():
        for key in keys(model):
            value = environ.get(f"REMINDERS_{section}_{key.name}".upper())
            if value is not None:
                overrides.setdefault(section, {})[key.name] = value
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
    data = _read_file(paths.config)
    env = _env_overrides(dict(os.environ if environ is None else environ))
    data = _merge(_merge(data, env), flags or {})
    settings = plain_settings(data)
    if settings is not None:
        return settings
    import pydantic

    try:
        return pydantic_settings(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            raise ConfigError(
                f"Unknown config key {where!r} in {paths.config}. Remove it; "
                "`reminders config init --print` lists every key."
            ) from None
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "dataclass_type":  # a value where a table belongs
            table = first["ctx"]["class_name"]
            message = f"Input should be a valid dictionary or instance of {table}"
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
    defaults = as_dict(Settings())
    for section, model in sections().items():
        lines += ["", f"[{section}]"]
        for key in keys(model):
            lines.extend(f"# {line}" for line in key.about.splitlines())
            if key.name == "webhook_secret" and webhook_secret:
                lines.append(f"{key.name} = {_toml_value(webhook_secret)}")
            else:
                default = defaults[section][key.name]
                lines.append(f"# {key.name} = {_toml_value(default)}")
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
    data = as_dict(settings)
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
