"""PostgreSQL as the shared store: which URLs are accepted, how to connect, and
how its failures read to a user.

Two engines and no others: SQLite (a file path) and PostgreSQL through psycopg 3
(the `reminders[postgres]` extra). Nothing here is imported on SQLite.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

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
# A process paused in the middle of a write (SIGSTOP, a frozen VM) keeps its locks:
# the server ends its session after it sat this long idle inside the transaction,
# so other writers, and a standby taking the lease over, wait at most that long.
IDLE_IN_WRITE_MS = 10_000
IDLE_LIMIT = "set_config('idle_in_transaction_session_timeout', :idle_limit, true)"
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


def _url(url: str) -> SplitResult:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(
            f"database.url is not a valid URL. Write it as {DRIVER}://USER@HOST/DBNAME."
        ) from None
    return parts


def label(url: str) -> str:
    """The URL as shown to users and in logs: never with its password."""
    from urllib.parse import unquote

    parts = _url(url)
    user = f"{unquote(parts.username)}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    host = parts.hostname or "localhost"
    return f"postgresql://{user}{host}{port}{parts.path}"


def host_of(url: str) -> str:
    parts = _url(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def conninfo(url: str) -> str:
    """A libpq connection URI for psycopg.connect() (libpq decodes it itself)."""
    return "postgresql" + url[len(scheme_of(url)) :]


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
    sqlstate = getattr(exc, "sqlstate", None)
    # A refused connection carries no SQLSTATE: the server's (or libpq's) words,
    # on any line (one per address tried), say why.
    words = str(exc)
    if sqlstate == "3D000" or _NO_DATABASE.search(words):
        return StoreError(
            f"The database named in database.url does not exist on {host_of(url)}. "
            "Create it (createdb) or fix the URL."
        )
    if sqlstate in ("28000", "28P01") or _LOGIN_REFUSED.search(words):
        return StoreError(
            f"PostgreSQL at {host_of(url)} refused the login ({text}). Fix the user "
            "or password in database.url, or the server's pg_hba.conf."
        )
    if isinstance(exc, psycopg.OperationalError) and sqlstate in (
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
    if isinstance(
        exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected
    ):
        return TransientError(
            f"A concurrent change on {label(url)} got in the way. Try again."
        )
    return StoreError(f"Database error on {label(url)}: {text}")


_NO_DATABASE = re.compile(r'FATAL:\s+database ".*" does not exist')
_LOGIN_REFUSED = re.compile(
    r'FATAL:\s+role ".*" does not exist|authentication failed'
    r"|no pg_hba\.conf entry|fe_sendauth"
)


def _first_line(text: str, url: str) -> str:
    from urllib.parse import unquote

    line = (text.strip().splitlines() or ["unknown error"])[0].strip()
    password = _url(url).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        line = line.replace(str(secret), "***")
    return line


_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=256)
def pyformat(sql: str) -> str:
    """The store's `:name` parameters as psycopg's `%(name)s`."""
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))


def connect(url: str) -> Any:
    """A psycopg connection in autocommit mode (the store issues BEGIN itself),
    giving rows as dicts. psycopg alone: a CLI command never imports SQLAlchemy."""
    import psycopg
    from psycopg.rows import dict_row

    return psycopg.connect(
        conninfo(url), autocommit=True, row_factory=dict_row, **connect_args()
    )


@contextlib.contextmanager
def transaction(local: Any, url: str, opened: list[Any]) -> Iterator[Any]:
    """One transaction on this thread's connection. A connection that died while
    idle (a server restart, a terminated backend) fails at BEGIN: it is replaced
    once there, before anything ran, so the caller never sees it."""
    import psycopg

    conn: Any = None
    for attempt in (1, 2):
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(url)
            local.conn = conn
            opened.append(conn)
        try:
            conn.execute("BEGIN")
            break
        except psycopg.OperationalError:
            conn.close()
            local.conn = None
            if attempt == 2:
                raise
    try:
        yield conn
    except BaseException:
        if not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
