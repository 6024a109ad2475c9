"""What one transaction can do: the reminders, changes, runs and meta tables.

`with store.write() as tx: tx.save(reminder, now)`: every query runs inside the
transaction the store opened, so a caller never handles a connection. Each write
to `reminders` appends a `changes` row so the daemon can ask what changed since
the revision it last saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reminders.db import Db
from reminders.rows import (
    REMINDER_COLUMNS,
    RUN_COLUMNS,
    Change,
    dump,
    load_columns,
    reminder_to_row,
    row_to_reminder,
    row_to_run,
    run_values,
)

if TYPE_CHECKING:  # pydantic loads only where a model is built
    from reminders.schema import Reminder, Run

MIN_ID_PREFIX = 4  # shortest id prefix a command accepts in place of the full id


class Transaction(Db):
    """One open transaction, with the queries the program runs in it."""

    def _record_change(self, reminder_id: str, op: str, now_ms: int) -> int:
        if self.postgres:
            from reminders.pg_changes import before_change

            before_change(self)
        revision = self.value(
            "INSERT INTO changes (reminder_id, op, at_ms) VALUES (:rid, :op, :at) "
            "RETURNING revision",
            {"rid": reminder_id, "op": op, "at": now_ms},
        )
        return int(revision)

    def save(self, reminder: Reminder | dict[str, Any], now_ms: int) -> None:
        """Insert or replace one reminder (or its validated JSON)."""
        row = reminder_to_row(reminder)
        row["revision"] = self._record_change(row["id"], "upsert", now_ms)
        sets = ", ".join(f"{c} = :{c}" for c in REMINDER_COLUMNS if c != "id")
        if not self.run(f"UPDATE reminders SET {sets} WHERE id = :id", row):  # noqa: S608
            names = ", ".join(REMINDER_COLUMNS)
            values = ", ".join(f":{c}" for c in REMINDER_COLUMNS)
            self.run(f"INSERT INTO reminders ({names}) VALUES ({values})", row)  # noqa: S608

    def delete(self, reminder_id: str, now_ms: int) -> None:
        self.run("DELETE FROM reminders WHERE id = :id", {"id": reminder_id})
        self._record_change(reminder_id, "delete", now_ms)

    def remove(self, reminder_id: str, now_ms: int) -> None:
        """A reminder its user removed (`rm`, the chat's cancel): deleted, and its
        nag chains ended with it."""
        self.delete(reminder_id, now_ms)
        self.stop_nags(reminder_id)

    def stop_nags(self, reminder_id: str) -> None:
        """End the nag chains of a reminder its user removed or turned off (a
        one-shot deleted after its own run keeps nagging until Done)."""
        self.run(
            "UPDATE chat_prompts SET next_nag_at_ms = NULL "
            "WHERE reminder_id = :id AND next_nag_at_ms IS NOT NULL",
            {"id": reminder_id},
        )

    def get(self, reminder_id: str) -> Reminder | None:
        row = self.one("SELECT * FROM reminders WHERE id = :id", {"id": reminder_id})
        return row_to_reminder(row) if row else None

    def find(self, ref: str) -> list[Reminder]:
        """Reminders matching an id, or else an exact name or a unique id prefix
        (MIN_ID_PREFIX+ chars): a name and a different id prefix both match, so
        the caller can refuse the ambiguity instead of picking one."""
        by_id = self.get(ref)
        if by_id:
            return [by_id]
        rows = self.rows("SELECT * FROM reminders WHERE name = :name", {"name": ref})
        if len(ref) >= MIN_ID_PREFIX:
            seen = {row["id"] for row in rows}
            if self.postgres:  # any collation: compare the characters themselves
                sql = "SELECT * FROM reminders WHERE substr(id, 1, :n) = :ref LIMIT 20"
            else:  # byte order: the ids starting with ref come first from ref on
                sql = "SELECT * FROM reminders WHERE id >= :ref ORDER BY id LIMIT 20"
            rows += [
                row
                for row in self.rows(sql, {"ref": ref, "n": len(ref)})
                if row["id"].startswith(ref) and row["id"] not in seen
            ]
        return [row_to_reminder(row) for row in rows]

    def ids(self) -> list[str]:
        """Every reminder id, sorted."""
        return [row["id"] for row in self.rows("SELECT id FROM reminders ORDER BY id")]

    def id_neighbours(self, rid: str) -> list[str]:
        """The ids just before and just after `rid` in code-point order."""
        col = 'id COLLATE "C"' if self.postgres else "id"  # not the locale's order
        before = self.value(
            f"SELECT id FROM reminders WHERE {col} < :id ORDER BY {col} DESC LIMIT 1",  # noqa: S608
            {"id": rid},
        )
        after = self.value(
            f"SELECT id FROM reminders WHERE {col} > :id ORDER BY {col} LIMIT 1",  # noqa: S608
            {"id": rid},
        )
        return [str(i) for i in (before, after) if i is not None]

    def all(self, *, include_disabled: bool = True) -> list[Reminder]:
        where = "" if include_disabled else "WHERE enabled = :yes"
        rows = self.rows(
            f"SELECT * FROM reminders {where} ORDER BY next_run_at_ms IS NULL, "  # noqa: S608
            "next_run_at_ms, created_at_ms",
            {"yes": True},
        )
        return [row_to_reminder(row) for row in rows]

    def listing(
        self, *, include_disabled: bool, limit: int | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Raw rows for `list`, soonest first, at most `limit` of them (None: all),
        and how many there are in all. The scheduled ones come off the
        next_run_at_ms index, so a first screen costs the same at any size."""
        where = "" if include_disabled else "AND enabled = :yes"
        columns = "id, name, enabled, schedule, delivery, state, next_run_at_ms"
        everything = None if self.postgres else -1  # LIMIT NULL / LIMIT -1: no limit
        params: dict[str, Any] = {
            "yes": True,
            "limit": everything if limit is None else limit,
        }
        rows = self.rows(
            f"SELECT {columns} FROM reminders WHERE next_run_at_ms IS NOT NULL "  # noqa: S608
            f"{where} ORDER BY next_run_at_ms, created_at_ms LIMIT :limit",
            params,
        )
        if limit is None or len(rows) < limit:
            params["limit"] = everything if limit is None else limit - len(rows)
            rows += self.rows(
                f"SELECT {columns} FROM reminders WHERE next_run_at_ms IS NULL "  # noqa: S608
                f"{where} ORDER BY created_at_ms LIMIT :limit",
                params,
            )
        total = self.value(
            f"SELECT count(*) FROM reminders WHERE 1 = 1 {where}",  # noqa: S608
            {"yes": True},
        )
        load_columns(rows, ("schedule", "delivery", "state"))
        return rows, int(total or 0)

    def schedule_page(self, after_id: str, limit: int) -> list[dict[str, Any]]:
        """What the daemon's jobs need of enabled reminders with ids after `after_id`,
        in id order: raw columns, for paging through many reminders fast."""
        return self.rows(
            "SELECT id, name, next_run_at_ms, schedule, created_at_ms FROM reminders "
            "WHERE enabled = :yes AND id > :after ORDER BY id LIMIT :limit",
            {"yes": True, "after": after_id, "limit": limit},
        )

    def get_many(self, ids: Sequence[str]) -> dict[str, Reminder]:
        found: dict[str, Reminder] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            names = {f"i{n}": value for n, value in enumerate(chunk)}
            marks = ", ".join(f":{name}" for name in names)
            sql = f"SELECT * FROM reminders WHERE id IN ({marks})"  # noqa: S608
            for row in self.rows(sql, names):
                found[row["id"]] = row_to_reminder(row)
        return found

    def counts(self) -> dict[str, int]:
        rows = self.rows(
            "SELECT enabled, count(*) AS n FROM reminders GROUP BY enabled"
        )
        by_flag = {bool(row["enabled"]): int(row["n"]) for row in rows}
        return {"enabled": by_flag.get(True, 0), "disabled": by_flag.get(False, 0)}

    def newest_update_ms(self) -> int:
        return int(self.value("SELECT max(updated_at_ms) FROM reminders") or 0)

    def next_due_at(self) -> int | None:
        value = self.value(
            "SELECT min(next_run_at_ms) FROM reminders WHERE enabled = :yes",
            {"yes": True},
        )
        return int(value) if value is not None else None

    # -- changes ------------------------------------------------------------

    def last_revision(self) -> int:
        return int(self.value("SELECT max(revision) FROM changes") or 0)

    def changes_since(self, revision: int, limit: int = 1 << 62) -> list[Change]:
        """The changes after `revision`, oldest first; at most `limit`."""
        rows = self.rows(
            "SELECT revision, reminder_id, op FROM changes WHERE revision > :rev "
            "ORDER BY revision LIMIT :limit",
            {"rev": revision, "limit": limit},
        )
        return [Change(row["revision"], row["reminder_id"], row["op"]) for row in rows]

    def prune_changes(self, before_ms: int) -> None:
        self.run("DELETE FROM changes WHERE at_ms < :before", {"before": before_ms})

    # -- runs ---------------------------------------------------------------

    def insert_run(
        self,
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

            return claim_run(self, fence, run_values(locals()))
        taken = self.value(
            "SELECT id FROM runs WHERE reminder_id = :rid AND scheduled_for_ms = :slot",
            {"rid": reminder_id, "slot": scheduled_for_ms},
        )
        if taken is not None:
            return None
        values = run_values(locals())
        names = ", ".join(RUN_COLUMNS)
        marks = ", ".join(f":{c}" for c in RUN_COLUMNS)
        return int(
            self.value(
                f"INSERT INTO runs ({names}) VALUES ({marks}) RETURNING id",  # noqa: S608 - column names are ours
                values,
            )
        )

    def insert_run_at_free_slot(self, *, scheduled_for_ms: int, **values: Any) -> int:
        """Record a run at `scheduled_for_ms`, or the first free millisecond after
        it (a manual run or a nag must not collide with a run already recorded)."""
        slot = scheduled_for_ms
        while (run_id := self.insert_run(scheduled_for_ms=slot, **values)) is None:
            slot += 1
        return run_id

    def update_run(
        self, run_id: int, *, status_was: str | None = None, **values: Any
    ) -> bool:
        """Update a run; with `status_was`, only while it still has that status
        (another daemon may have finished it meanwhile). True when it was updated."""
        unknown = set(values) - set(RUN_COLUMNS)
        assert not unknown, unknown
        if "message_ids" in values:
            values["message_ids"] = dump(list(values["message_ids"]))
        sets = ", ".join(f"{name} = :{name}" for name in values)
        where = "id = :run_id" + (" AND status = :status_was" if status_was else "")
        params = {**values, "run_id": run_id, "status_was": status_was}
        return bool(self.run(f"UPDATE runs SET {sets} WHERE {where}", params))  # noqa: S608

    def delete_run(self, run_id: int) -> None:
        """Forget a claim that sent nothing (the daemon stopped before sending)."""
        self.run(
            "DELETE FROM runs WHERE id = :id AND status = 'sending'", {"id": run_id}
        )

    def get_run(self, run_id: int) -> Run | None:
        row = self.one("SELECT * FROM runs WHERE id = :id", {"id": run_id})
        return row_to_run(row) if row else None

    def runs_with_status(self, status: str) -> list[Run]:
        rows = self.rows(
            "SELECT * FROM runs WHERE status = :s ORDER BY id", {"s": status}
        )
        return [row_to_run(row) for row in rows]

    def count_runs_since(self, since_ms: int) -> dict[str, int]:
        rows = self.rows(
            "SELECT status, count(*) AS n FROM runs WHERE scheduled_for_ms >= :since "
            "GROUP BY status",
            {"since": since_ms},
        )
        return {str(row["status"]): int(row["n"]) for row in rows}

    def runs(self, reminder_id: str | None = None, limit: int = 50) -> list[Run]:
        where = "WHERE reminder_id = :rid" if reminder_id else ""
        rows = self.rows(
            f"SELECT * FROM runs {where} ORDER BY scheduled_for_ms DESC, id DESC "  # noqa: S608
            "LIMIT :limit",
            {"rid": reminder_id, "limit": limit},
        )
        return [row_to_run(row) for row in rows]

    # -- meta ---------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        value = self.value("SELECT value FROM meta WHERE key = :k", {"k": key})
        return str(value) if value is not None else None

    def set_meta(self, key: str, value: str) -> None:
        params = {"k": key, "v": value}
        if self.postgres:  # several daemons may write at once
            self.run(
                "INSERT INTO meta (key, value) VALUES (:k, :v) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params,
            )
            return
        if not self.run("UPDATE meta SET value = :v WHERE key = :k", params):
            self.run("INSERT INTO meta (key, value) VALUES (:k, :v)", params)
