"""The store: reminders, runs, changes and metadata, in plain portable SQL.

On SQLite (the default) it talks to the standard library's sqlite3 directly, and on
PostgreSQL (the only other engine, see `reminders.pg`) to psycopg directly, with the
same statements, so a CLI command never pays for importing SQLAlchemy (Alembic and
APScheduler's job store use it). Every SQLite connection gets
a busy timeout and foreign keys (WAL is switched on once, at set-up). Writers take
BEGIN IMMEDIATE so a read-then-write transaction waits for the lock instead of
failing at once. Each write to `reminders` appends a `changes` row so the daemon
can ask what changed since the revision it last saw.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reminders.errors import ReminderError, StoreBusy, StoreError, StoreUnwritable

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reminders.schema import Reminder, Run

HEAD_REVISION = "0004"
BUSY_TIMEOUT_MS = 10_000
MIN_ID_PREFIX = 4  # shortest id prefix a command accepts in place of the full id
CACHE_KIB = 512  # per connection; the daemon keeps a few open for its life
_OPTION_KEYS = (
    "agentId",
    "sessionKey",
    "sessionTarget",
    "wakeMode",
    "failureAlert",
    "catchUpMs",
    "nagEveryMs",
    "nagMax",
)
_JSON_COLUMNS = ("schedule", "payload", "delivery", "state", "options", "message_ids")
_REMINDER_COLUMNS = (
    "id", "name", "description", "enabled", "delete_after_run", "created_at_ms",
    "updated_at_ms", "schedule", "payload", "delivery", "state", "options",
    "next_run_at_ms", "revision",
)  # fmt: skip
_RUN_COLUMNS = (
    "reminder_id", "reminder_name", "scheduled_for_ms", "started_at_ms",
    "finished_at_ms", "status", "trigger", "message_ids", "error_class", "error_text",
    "attempts", "note", "delivered_at_ms", "response", "response_at_ms",
)  # fmt: skip


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        return Path(url[len(prefix) :])
    return None


def connect_sqlite(path: Path | str) -> sqlite3.Connection:
    """A connection set up the way this store needs; we issue BEGIN ourselves."""
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return conn


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for Alembic and APScheduler's job store, set up alike."""
    from sqlalchemy import create_engine, event

    if _sqlite_path(url) is None:
        from reminders import pg

        return pg.make_engine(url)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _sqlalchemy_error(exc: BaseException) -> BaseException | None:
    """The driver error behind a SQLAlchemy error, when SQLAlchemy is in use."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        return exc.orig or exc
    return None


@contextlib.contextmanager
def translate_db_errors(path: str, url: str = "") -> Iterator[None]:
    """Turn database failures into errors that say what to do."""
    try:
        yield
    except ReminderError:
        raise
    except Exception as exc:
        error = db_error(path, exc, url)
        if error is None:
            raise
        raise error from None


def db_error(path: str, exc: BaseException, url: str = "") -> ReminderError | None:
    """Our error for a database failure; None when `exc` is not one. `url` is
    given for PostgreSQL, whose errors name its host, never its password."""
    orig = _sqlalchemy_error(exc) or exc
    if url and not isinstance(orig, sqlite3.Error):
        from reminders import pg

        if pg.is_driver_error(orig):
            return pg.translate(orig, url)
    if isinstance(orig, sqlite3.OperationalError):
        return _operational(path, str(orig))
    if isinstance(orig, sqlite3.DatabaseError):
        return StoreError(
            f"The database {path} is damaged or not a reminders database "
            f"({orig}). Restore a backup (see `reminders db backup`) or move the "
            "file away to start afresh."
        )
    if orig is not exc:
        return StoreError(f"Database error on {path}: {orig}")
    return None


def _operational(path: str, text: str) -> ReminderError:
    if "locked" in text or "busy" in text:
        return StoreBusy(
            f"The database {path} stayed locked for {BUSY_TIMEOUT_MS // 1000} s. Try "
            "again; if it persists, look for a stuck process with `reminders status`."
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnwritable(
            f"The database {path} is read-only. Make it and its folder writable "
            "by this user, or set REMINDERS_HOME to a writable folder."
        )
    if "disk" in text and "full" in text:
        return StoreUnwritable(
            f"The disk holding {path} is full. Free some space and try again; "
            "nothing was changed."
        )
    if "disk I/O error" in text:
        return StoreUnwritable(
            f"Writing the database {path} failed (disk I/O error): its filesystem "
            "may be read-only or failing. Check it (`dmesg`), then try again."
        )
    if "unable to open" in text:
        return StoreError(
            f"Cannot open the database {path}. Check that its folder exists and is "
            "writable, or set REMINDERS_HOME."
        )
    return StoreError(f"Database error on {path}: {text}")


class Db:
    """One open transaction: run SQL with :named parameters, get rows as dicts."""

    def __init__(self, raw: Any, sqlite: bool) -> None:
        self._raw = raw
        self._sqlite = sqlite

    @property
    def postgres(self) -> bool:
        return not self._sqlite

    def rows(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        if self._sqlite:
            cursor = self._raw.execute(sql, params or {})
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        from reminders.pg import pyformat

        cursor = self._raw.execute(pyformat(sql), params or None)
        return cursor.fetchall() if cursor.description else []

    def one(
        self, sql: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return next(iter(row.values())) if row else None

    def run(self, sql: str, params: dict[str, Any] | None = None) -> int:
        """Execute a write; returns the number of rows it touched."""
        if self._sqlite:
            return int(self._raw.execute(sql, params or {}).rowcount)
        from reminders.pg import pyformat

        return int(self._raw.execute(pyformat(sql), params or None).rowcount)


@dataclass(frozen=True)
class Change:
    revision: int
    reminder_id: str
    op: str


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _load_columns(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Decode the JSON `columns` of many rows in place. Text (SQLite's) is read in
    one parse of all of it, a few times faster than one parse per value."""
    texts = [row[column] for row in rows for column in columns]
    try:
        joined = ",".join(["null" if text is None else text for text in texts])
    except TypeError:  # decoded already (PostgreSQL's driver reads JSON itself)
        joined = None
    values = json.loads(f"[{joined}]") if joined is not None else []
    if len(values) != len(texts):  # not text, or a value that is not one JSON value
        values = [_load(text) for text in texts]
    it = iter(values)
    for row in rows:
        for column in columns:
            row[column] = next(it)


def reminder_to_row(reminder: Reminder | dict[str, Any]) -> dict[str, Any]:
    """The row for a reminder, or for its validated JSON (`Reminder.to_json()`)."""
    data = reminder if isinstance(reminder, dict) else reminder.to_json()
    enabled = data.get("enabled", True)
    state = data.get("state", {})
    return {
        "id": data["id"],
        "name": data["name"],
        "description": data.get("description"),
        "enabled": enabled,
        "delete_after_run": data.get("deleteAfterRun"),
        "created_at_ms": data["createdAtMs"],
        "updated_at_ms": data["updatedAtMs"],
        "schedule": _dump(data["schedule"]),
        "payload": _dump(data["payload"]),
        "delivery": _dump(data.get("delivery")),
        "state": _dump(state),
        "options": _dump({key: data[key] for key in _OPTION_KEYS if key in data}),
        "next_run_at_ms": state.get("nextRunAtMs") if enabled else None,
    }


def row_to_reminder(row: dict[str, Any]) -> Reminder:
    try:
        return _row_to_reminder(row)
    except ValueError as exc:  # pydantic's ValidationError
        # A failureAlert stored before it was validated on write: it could never
        # have worked, so the reminder loads without it rather than not at all.
        options = _load(row["options"]) or {}
        if "failureAlert" not in str(exc) or "failureAlert" not in options:
            raise
        options.pop("failureAlert")
        return _row_to_reminder({**row, "options": _dump(options)})


def _row_to_reminder(row: dict[str, Any]) -> Reminder:
    from reminders.schema import Reminder

    if isinstance(row["schedule"], str):
        return Reminder.model_validate_json(_reminder_json(row))
    data: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "deleteAfterRun": None
        if row["delete_after_run"] is None
        else bool(row["delete_after_run"]),
        "createdAtMs": row["created_at_ms"],
        "updatedAtMs": row["updated_at_ms"],
        "schedule": _load(row["schedule"]),
        "payload": _load(row["payload"]),
        "delivery": _load(row["delivery"]),
        "state": _load(row["state"]),
        **(_load(row["options"]) or {}),
    }
    return Reminder.model_validate(data)


def _reminder_json(row: dict[str, Any]) -> str:
    """One JSON document from a SQLite row, its JSON columns spliced in as text:
    pydantic parses it in one pass, about twice as fast as json.loads per column."""

    def dump(value: str | None) -> str:
        return "null" if value is None else encode_basestring(value)

    delete_after_run = row["delete_after_run"]
    parts = [
        f'"id":{dump(row["id"])}',
        f'"name":{dump(row["name"])}',
        f'"description":{dump(row["description"])}',
        f'"enabled":{"true" if row["enabled"] else "false"}',
        '"deleteAfterRun":'
        + (
            "null"
            if delete_after_run is None
            else "true"
            if delete_after_run
            else "false"
        ),
        f'"createdAtMs":{int(row["created_at_ms"])}',
        f'"updatedAtMs":{int(row["updated_at_ms"])}',
        f'"schedule":{row["schedule"]}',
        f'"payload":{row["payload"]}',
        f'"delivery":{row["delivery"] or "null"}',
        f'"state":{row["state"]}',
    ]
    options = (row["options"] or "{}").strip()
    if options not in ("{}", ""):
        parts.append(options[1:-1])
    return "{" + ",".join(parts) + "}"


def row_to_run(row: dict[str, Any]) -> Run:
    from reminders.schema import Run

    return Run(
        id=row["id"],
        reminderId=row["reminder_id"],
        reminderName=row["reminder_name"],
        scheduledForMs=row["scheduled_for_ms"],
        startedAtMs=row["started_at_ms"],
        finishedAtMs=row["finished_at_ms"],
        deliveredAtMs=row["delivered_at_ms"],
        status=row["status"],
        trigger=row["trigger"],
        messageIds=list(_load(row["message_ids"]) or []),
        errorClass=row["error_class"],
        errorText=row["error_text"],
        attempts=row["attempts"],
        note=row["note"],
        response=row.get("response"),
        responseAtMs=row.get("response_at_ms"),
    )


class Store:
    """Reminders, runs and daemon metadata in one database."""

    def __init__(self, url: str) -> None:
        self.path = _sqlite_path(url)
        self.postgres = self.path is None
        if self.postgres:
            from reminders import pg

            url = pg.check_url(url)
        self.url = url
        self.label = str(self.path) if self.path else _pg_label(url)
        self._local = threading.local()

    @cached_property
    def engine(self) -> Engine:
        """A SQLAlchemy engine, for Alembic, APScheduler's job store and PostgreSQL."""
        return make_engine(self.url)

    # -- transactions -------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.path is not None
            conn = connect_sqlite(self.path)
            self._local.conn = conn
            self._all_conns.append(conn)
        return conn

    @cached_property
    def _all_conns(self) -> list[Any]:
        return []

    @contextlib.contextmanager
    def _transaction(self, mode: str) -> Iterator[Db]:
        with translate_db_errors(self.label, self.url if self.postgres else ""):
            if self.path is None:
                from reminders import pg

                with pg.transaction(self._local, self.url, self._all_conns) as raw:
                    yield Db(raw, sqlite=False)
                return
            conn = self._connection()
            conn.execute(f"BEGIN {mode}")
            try:
                yield Db(conn, sqlite=True)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self) -> contextlib.AbstractContextManager[Db]:
        return self._transaction("DEFERRED")

    def write(self) -> contextlib.AbstractContextManager[Db]:
        """One write transaction, taken with BEGIN IMMEDIATE on SQLite."""
        return self._transaction("IMMEDIATE")

    def close(self) -> None:
        for conn in self._all_conns:
            conn.close()
        self._all_conns.clear()
        self._local = threading.local()
        if "engine" in self.__dict__:
            self.engine.dispose()

    # -- reminders ----------------------------------------------------------

    @staticmethod
    def _record_change(db: Db, reminder_id: str, op: str, now_ms: int) -> int:
        if db.postgres:
            from reminders.pg_changes import before_change

            before_change(db)
        revision = db.value(
            "INSERT INTO changes (reminder_id, op, at_ms) VALUES (:rid, :op, :at) "
            "RETURNING revision",
            {"rid": reminder_id, "op": op, "at": now_ms},
        )
        return int(revision)

    def save(self, db: Db, reminder: Reminder | dict[str, Any], now_ms: int) -> None:
        """Insert or replace one reminder (or its validated JSON) inside the
        caller's write transaction."""
        row = reminder_to_row(reminder)
        row["revision"] = self._record_change(db, row["id"], "upsert", now_ms)
        sets = ", ".join(f"{c} = :{c}" for c in _REMINDER_COLUMNS if c != "id")
        if not db.run(f"UPDATE reminders SET {sets} WHERE id = :id", row):  # noqa: S608
            names = ", ".join(_REMINDER_COLUMNS)
            values = ", ".join(f":{c}" for c in _REMINDER_COLUMNS)
            db.run(f"INSERT INTO reminders ({names}) VALUES ({values})", row)  # noqa: S608

    def delete(self, db: Db, reminder_id: str, now_ms: int) -> None:
        db.run("DELETE FROM reminders WHERE id = :id", {"id": reminder_id})
        self._record_change(db, reminder_id, "delete", now_ms)

    def get(self, db: Db, reminder_id: str) -> Reminder | None:
        row = db.one("SELECT * FROM reminders WHERE id = :id", {"id": reminder_id})
        return row_to_reminder(row) if row else None

    def find(self, db: Db, ref: str) -> list[Reminder]:
        """Reminders matching an id, or else an exact name or a unique id prefix
        (MIN_ID_PREFIX+ chars): a name and a different id prefix both match, so
        the caller can refuse the ambiguity instead of picking one."""
        by_id = self.get(db, ref)
        if by_id:
            return [by_id]
        rows = db.rows("SELECT * FROM reminders WHERE name = :name", {"name": ref})
        if len(ref) >= MIN_ID_PREFIX:
            seen = {row["id"] for row in rows}
            if db.postgres:  # any collation: compare the characters themselves
                sql = "SELECT * FROM reminders WHERE substr(id, 1, :n) = :ref LIMIT 20"
            else:  # byte order: the ids starting with ref come first from ref on
                sql = "SELECT * FROM reminders WHERE id >= :ref ORDER BY id LIMIT 20"
            rows += [
                row
                for row in db.rows(sql, {"ref": ref, "n": len(ref)})
                if row["id"].startswith(ref) and row["id"] not in seen
            ]
        return [row_to_reminder(row) for row in rows]

    def ids(self, db: Db) -> list[str]:
        """Every reminder id, sorted."""
        return [row["id"] for row in db.rows("SELECT id FROM reminders ORDER BY id")]

    def id_neighbours(self, db: Db, rid: str) -> list[str]:
        """The ids just before and just after `rid` in code-point order."""
        col = 'id COLLATE "C"' if db.postgres else "id"  # not the locale's order
        before = db.value(
            f"SELECT id FROM reminders WHERE {col} < :id ORDER BY {col} DESC LIMIT 1",  # noqa: S608
            {"id": rid},
        )
        after = db.value(
            f"SELECT id FROM reminders WHERE {col} > :id ORDER BY {col} LIMIT 1",  # noqa: S608
            {"id": rid},
        )
        return [str(i) for i in (before, after) if i is not None]

    def all(self, db: Db, *, include_disabled: bool = True) -> list[Reminder]:
        where = "" if include_disabled else "WHERE enabled = :yes"
        rows = db.rows(
            f"SELECT * FROM reminders {where} ORDER BY next_run_at_ms IS NULL, "  # noqa: S608
            "next_run_at_ms, created_at_ms",
            {"yes": True},
        )
        return [row_to_reminder(row) for row in rows]

    def listing(
        self, db: Db, *, include_disabled: bool, limit: int | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Raw rows for `list`, soonest first, at most `limit` of them (None: all),
        and how many there are in all. The scheduled ones come off the
        next_run_at_ms index, so a first screen costs the same at any size."""
        where = "" if include_disabled else "AND enabled = :yes"
        columns = "id, name, enabled, schedule, delivery, state, next_run_at_ms"
        everything = None if db.postgres else -1  # LIMIT NULL / LIMIT -1: no limit
        params: dict[str, Any] = {
            "yes": True,
            "limit": everything if limit is None else limit,
        }
        rows = db.rows(
            f"SELECT {columns} FROM reminders WHERE next_run_at_ms IS NOT NULL "  # noqa: S608
            f"{where} ORDER BY next_run_at_ms, created_at_ms LIMIT :limit",
            params,
        )
        if limit is None or len(rows) < limit:
            params["limit"] = everything if limit is None else limit - len(rows)
            rows += db.rows(
                f"SELECT {columns} FROM reminders WHERE next_run_at_ms IS NULL "  # noqa: S608
                f"{where} ORDER BY created_at_ms LIMIT :limit",
                params,
            )
        total = db.value(
            f"SELECT count(*) FROM reminders WHERE 1 = 1 {where}",  # noqa: S608
            {"yes": True},
        )
        _load_columns(rows, ("schedule", "delivery", "state"))
        return rows, int(total or 0)

    def schedule_page(self, db: Db, after_id: str, limit: int) -> list[dict[str, Any]]:
        """What the daemon's jobs need of enabled reminders with ids after `after_id`,
        in id order: raw columns, for paging through many reminders fast."""
        return db.rows(
            "SELECT id, name, next_run_at_ms, schedule, created_at_ms FROM reminders "
            "WHERE enabled = :yes AND id > :after ORDER BY id LIMIT :limit",
            {"yes": True, "after": after_id, "limit": limit},
        )

    def get_many(self, db: Db, ids: Sequence[str]) -> dict[str, Reminder]:
        found: dict[str, Reminder] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            names = {f"i{n}": value for n, value in enumerate(chunk)}
            marks = ", ".join(f":{name}" for name in names)
            for row in db.rows(f"SELECT * FROM reminders WHERE id IN ({marks})", names):  # noqa: S608
                found[row["id"]] = row_to_reminder(row)
        return found

    def counts(self, db: Db) -> dict[str, int]:
        rows = db.rows("SELECT enabled, count(*) AS n FROM reminders GROUP BY enabled")
        by_flag = {bool(row["enabled"]): int(row["n"]) for row in rows}
        return {"enabled": by_flag.get(True, 0), "disabled": by_flag.get(False, 0)}

    def next_due_at(self, db: Db) -> int | None:
        value = db.value(
            "SELECT min(next_run_at_ms) FROM reminders WHERE enabled = :yes",
            {"yes": True},
        )
        return int(value) if value is not None else None

    # -- changes ------------------------------------------------------------

    def last_revision(self, db: Db) -> int:
        return int(db.value("SELECT max(revision) FROM changes") or 0)

    def changes_since(self, db: Db, revision: int) -> list[Change]:
        rows = db.rows(
            "SELECT revision, reminder_id, op FROM changes WHERE revision > :rev "
            "ORDER BY revision",
            {"rev": revision},
        )
        return [Change(row["revision"], row["reminder_id"], row["op"]) for row in rows]

    def prune_changes(self, db: Db, before_ms: int) -> None:
        db.run("DELETE FROM changes WHERE at_ms < :before", {"before": before_ms})

    # -- runs ---------------------------------------------------------------

    def insert_run(
        self,
        db: Db,
        *,
        reminder_id: str,
        scheduled_for_ms: int,
        status: str,
        trigger: str = "schedule",
        reminder_name: str | None = None,
        started_at_ms: int | None = None,
        finished_at_ms: int | None = None,
        message_ids: Sequence[int] = (),
        error_class: str | None = None,
        error_text: str | None = None,
        attempts: int = 0,
        note: str | None = None,
        delivered_at_ms: int | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int | None:
        """Record a run; None when this reminder already has a run for that slot.

        With a `fence` (holder, epoch) the insert succeeds only while that epoch
        holds the scheduler lease (PostgreSQL; LeaseLost otherwise).
        """
        if fence is not None:
            from reminders.lease import claim_run

            return claim_run(db, fence, _run_values(locals()))
        taken = db.value(
            "SELECT id FROM runs WHERE reminder_id = :rid AND scheduled_for_ms = :slot",
            {"rid": reminder_id, "slot": scheduled_for_ms},
        )
        if taken is not None:
            return None
        values = _run_values(locals())
        names = ", ".join(_RUN_COLUMNS)
        marks = ", ".join(f":{c}" for c in _RUN_COLUMNS)
        return int(
            db.value(
                f"INSERT INTO runs ({names}) VALUES ({marks}) RETURNING id", values
            )
        )

    def insert_run_at_free_slot(
        self, db: Db, *, scheduled_for_ms: int, **values: Any
    ) -> int:
        """Record a run at `scheduled_for_ms`, or the first free millisecond after
        it (a manual run or a nag must not collide with a run already recorded)."""
        slot = scheduled_for_ms
        while (run_id := self.insert_run(db, scheduled_for_ms=slot, **values)) is None:
            slot += 1
        return run_id

    def update_run(self, db: Db, run_id: int, **values: Any) -> None:
        unknown = set(values) - set(_RUN_COLUMNS)
        assert not unknown, unknown
        if "message_ids" in values:
            values["message_ids"] = _dump(list(values["message_ids"]))
        sets = ", ".join(f"{name} = :{name}" for name in values)
        db.run(
            f"UPDATE runs SET {sets} WHERE id = :run_id", {**values, "run_id": run_id}
        )

    def delete_run(self, db: Db, run_id: int) -> None:
        """Forget a claim that sent nothing (the daemon stopped before sending)."""
        db.run("DELETE FROM runs WHERE id = :id AND status = 'sending'", {"id": run_id})

    def get_run(self, db: Db, run_id: int) -> Run | None:
        row = db.one("SELECT * FROM runs WHERE id = :id", {"id": run_id})
        return row_to_run(row) if row else None

    def runs_with_status(self, db: Db, status: str) -> list[Run]:
        rows = db.rows(
            "SELECT * FROM runs WHERE status = :s ORDER BY id", {"s": status}
        )
        return [row_to_run(row) for row in rows]

    def count_runs_since(self, db: Db, since_ms: int) -> dict[str, int]:
        rows = db.rows(
            "SELECT status, count(*) AS n FROM runs WHERE scheduled_for_ms >= :since "
            "GROUP BY status",
            {"since": since_ms},
        )
        return {str(row["status"]): int(row["n"]) for row in rows}

    def runs(
        self, db: Db, reminder_id: str | None = None, limit: int = 50
    ) -> list[Run]:
        where = "WHERE reminder_id = :rid" if reminder_id else ""
        rows = db.rows(
            f"SELECT * FROM runs {where} ORDER BY scheduled_for_ms DESC, id DESC "  # noqa: S608
            "LIMIT :limit",
            {"rid": reminder_id, "limit": limit},
        )
        return [row_to_run(row) for row in rows]

    # -- meta ---------------------------------------------------------------

    def get_meta(self, db: Db, key: str) -> str | None:
        value = db.value("SELECT value FROM meta WHERE key = :k", {"k": key})
        return str(value) if value is not None else None

    def set_meta(self, db: Db, key: str, value: str) -> None:
        params = {"k": key, "v": value}
        if db.postgres:  # several daemons may write at once
            db.run(
                "INSERT INTO meta (key, value) VALUES (:k, :v) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params,
            )
            return
        if not db.run("UPDATE meta SET value = :v WHERE key = :k", params):
            db.run("INSERT INTO meta (key, value) VALUES (:k, :v)", params)

    # -- schema -------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at; None for a new database."""
        try:
            with self.read() as db:
                if self.path is not None:
                    exists = db.value(
                        "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
                    )
                else:
                    exists = db.value("SELECT to_regclass('alembic_version')")
                if not exists:
                    return None
                value = db.value("SELECT version_num FROM alembic_version")
        except StoreError:
            if self.path is None:
                return None  # no alembic_version table yet on a server database
            raise
        return str(value) if value is not None else None


_LATER = ("response", "response_at_ms")  # a press in the chat sets these afterwards


def _run_values(args: dict[str, Any]) -> dict[str, Any]:
    """The `runs` row from insert_run's arguments."""
    values = {name: args[name] for name in _RUN_COLUMNS if name not in _LATER}
    values.update(dict.fromkeys(_LATER))
    values["message_ids"] = _dump(list(args["message_ids"]))
    return values


def _pg_label(url: str) -> str:
    from reminders import pg

    return pg.label(url)
