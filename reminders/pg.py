"""PostgreSQL as the shared store: which URLs are accepted, how to connect, and
how its failures read to a user.

Two engines and no others: SQLite (a file path) and PostgreSQL through psycopg 3
(the `reminders[postgres]` extra). Nothing here is imported on SQLite.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from reminders.errors import ConfigError, ReminderError, StoreError, TransientError

if TYPE_CHECKING:
    from sqlalchemy import Engine

DRIVER = "postgresql+psycopg"
_ALIASES = ("postgresql", "postgres", DRIVER)
CHANNEL = "reminders_changed"
CONNECT_TIMEOUT_S = 5
# Writers to `reminders` take this transaction lock before numbering their change,
# so revisions become visible in the order they were handed out.
CHANGES_LOCK = 0x72656D31
MIGRATION_LOCK = 0x72656D32
NOW_MS = "(extract(epoch from now()) * 1000)::bigint"


class DatabaseUnavailable(TransientError):
    """The PostgreSQL server cannot be reached now."""


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def is_postgres(url: str) -> bool:
    return scheme_of(url) in _ALIASES


def check_url(url: str) -> str:
    """The URL to use for a configured non-SQLite `database.url`, or a ConfigError."""
    scheme = scheme_of(url)
    if scheme.startswith("sqlite"):
        raise ConfigError(
            f"database.url {url!r} names no SQLite file. Use sqlite:///ABSOLUTE/PATH, "
            "or leave it empty for the default file."
        )
    if scheme.startswith(("postgresql+", "postgres+")) and scheme != DRIVER:
        raise ConfigError(
            f"database.url uses the driver {scheme!r}; reminders talks to PostgreSQL "
            f"through psycopg 3 only. Write it as {DRIVER}://USER@HOST/DBNAME."
        )
    if scheme not in _ALIASES:
        raise ConfigError(
            f"database.url scheme {scheme or '(none)'!r} is not supported. reminders "
            "runs on SQLite (sqlite:///PATH, the default) or PostgreSQL "
            f"({DRIVER}://USER@HOST/DBNAME)."
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigError(
            "database.url is a PostgreSQL URL but PostgreSQL support is not "
            "installed: pip install 'reminders[postgres]'"
        ) from None
    return DRIVER + url[len(scheme) :]


def _url(url: str) -> Any:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url)
    except Exception:
        raise ConfigError(
            f"database.url is not a valid URL. Write it as {DRIVER}://USER@HOST/DBNAME."
        ) from None


def label(url: str) -> str:
    """The URL as shown to users and in logs: never with its password."""
    parsed = _url(url)
    user = f"{parsed.username}@" if parsed.username else ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"postgresql://{user}{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def host_of(url: str) -> str:
    parsed = _url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def conninfo(url: str) -> str:
    """A libpq connection string for psycopg.connect() (the password kept)."""
    parsed = _url(url).set(drivername="postgresql")
    return str(parsed.render_as_string(hide_password=False))


def connect_args() -> dict[str, Any]:
    """Fail fast on a dead server, notice a silently dead peer, and name ourselves."""
    return {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "application_name": f"reminders:{socket.gethostname()}:{os.getpid()}",
    }


def make_engine(url: str, pool_size: int = 3) -> Engine:
    from sqlalchemy import create_engine

    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=4,
        pool_recycle=1800,
        connect_args=connect_args(),
    )


def is_driver_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] == "psycopg"


def translate(exc: BaseException, url: str) -> ReminderError:
    """A psycopg error as a one-line error for the user, without the password."""
    import psycopg

    text = _first_line(str(exc), url)
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) in (
        None,
        "57P01",  # admin shutdown
        "57P02",
        "57P03",  # cannot connect now (starting up, shutting down)
        "08000",
        "08001",
        "08003",
        "08006",
    ):
        return DatabaseUnavailable(
            f"Cannot reach the PostgreSQL server at {host_of(url)} ({text}). Check "
            "that it runs and accepts connections, then try again; nothing was changed."
        )
    if getattr(exc, "sqlstate", None) == "3D000":
        return StoreError(
            f"The database named in database.url does not exist on {host_of(url)}. "
            "Create it (createdb) or fix the URL."
        )
    if getattr(exc, "sqlstate", "") in ("28000", "28P01"):
        return StoreError(
            f"PostgreSQL at {host_of(url)} refused the login ({text}). Fix the user "
            "or password in database.url, or the server's pg_hba.conf."
        )
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return TransientError(f"A concurrent change on {label(url)} got in the way. Try again.")
    return StoreError(f"Database error on {label(url)}: {text}")


def _first_line(text: str, url: str) -> str:
    line = (text.strip().splitlines() or ["unknown error"])[0].strip()
    password = _url(url).password
    if password:
        line = line.replace(str(password), "***")
    return line
