"""APScheduler and its job store, kept equal to the `reminders` table.

One APScheduler job per enabled reminder lives in a SQLAlchemyJobStore
(reminders.jobstore) in the same SQLite file. That store is a cache: it is rebuilt
from the `reminders` table on start and reconciled whenever the table changes,
seen by `PRAGMA data_version` on SQLite or by the change listener on PostgreSQL
(where the job store is a SQLite cache file in the daemon's own data folder).
Only the daemon touches it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reminders import aps_triggers, triggers
from reminders.clock import Clock
from reminders.db import translate_db_errors
from reminders.errors import ReminderError
from reminders.jobstore import ReminderJobStore
from reminders.liveness import HEARTBEAT_S
from reminders.schema import Reminder
from reminders.store import Store

JOB_FUNC = "reminders.daemon:fire"  # stored in every job row: keep this reference
RECONCILE_PAGE = 500
PAGES_PER_ROUND = 20  # then the loop beats and checks for a stop before going on
CHECKPOINT_AFTER_ROWS = 5000  # a big rebuild leaves a big WAL: fold it in at once
JOB_CACHE = "jobs-cache.db"  # PostgreSQL: this daemon's APScheduler job store
# APScheduler sleeps on the monotonic clock, which stands still while a laptop is
# suspended; a wall-clock jump, or this interval at the latest, wakes it to re-check.
SAFETY_WAKEUP_S = 30.0
CLOCK_JUMP_MS = 1000


@dataclass(frozen=True)
class JobSpec:
    """What a reminder's job depends on: read from a row without full validation."""

    id: str
    name: str
    due: int | None
    schedule: dict[str, Any]
    anchor: int

    @classmethod
    def from_reminder(cls, reminder: Reminder) -> JobSpec:
        return cls(
            reminder.id,
            reminder.name,
            reminder.state.nextRunAtMs,
            reminder.schedule.model_dump(exclude_none=True),
            triggers.anchor_of(reminder),
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobSpec:
        """From columns the store validated when it wrote them (same anchor rule)."""
        schedule = (
            json.loads(row["schedule"])
            if isinstance(row["schedule"], str)
            else row["schedule"]
        )
        anchor = triggers.grid_anchor(schedule, row["created_at_ms"])
        return cls(row["id"], row["name"], row["next_run_at_ms"], schedule, anchor)


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def job_for(spec: JobSpec, now_ms: int, default_tz: str) -> Any | None:
    """The APScheduler job a reminder should have, or None for no job."""
    from apscheduler.job import Job

    if spec.due is None:
        return None
    trigger = aps_triggers.trigger_from_json(
        spec.schedule, spec.id, default_tz, spec.anchor
    )
    # Built from its state, as the job store itself restores jobs: Job() would
    # inspect fire()'s signature for every one of 100,000 reminders.
    job = Job.__new__(Job)
    job.__setstate__(
        {
            "version": 1,
            "id": spec.id,
            "func": JOB_FUNC,
            "trigger": trigger,
            "executor": "default",
            "args": (spec.id,),
            "kwargs": {},
            "name": spec.name,
            "misfire_grace_time": None,
            "coalesce": True,
            "max_instances": 1,
            # Overdue runs at once; fire() works out late, catch-up or missed.
            "next_run_time": to_datetime(spec.due if spec.due > now_ms else now_ms),
        }
    )
    return job


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc only)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the memory is reused, just not returned


class JobSync:
    """The daemon's APScheduler, and the syncing that keeps its jobs equal to the
    table: a rebuild (`reconcile_all`) and a sync of what changed since the last
    revision seen (`reconcile_changes`)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        monotonic: Callable[[], float],
        data_dir: Path,
        default_tz: Callable[[], str],
    ) -> None:
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.data_dir = data_dir
        self.default_tz = default_tz
        self.scheduler: Any = None
        self.jobstore: ReminderJobStore | None = None
        self.revision = 0
        self.rewritten = 0  # job rows the last rebuild wrote
        self.pages_done = 0  # pages any rebuild has synced: proof it is moving
        self.firing: set[str] = set()  # in flight or recovering: their jobs wait
        self.resync: set[str] = set()  # synced on the next round whatever changed
        self.behind = False  # changes are left for the next round to sync at once
        self.listener: Any = None  # PostgreSQL: reminders.pg_changes.ChangeListener
        self._data_version_conn: sqlite3.Connection | None = None
        self._last_data_version = -1
        self.last_wakeup = monotonic()
        self._wall_mark = (clock.now_ms(), monotonic())

    # -- APScheduler ---------------------------------------------------------------

    def start_scheduler(
        self, on_tick: Callable[[], None], on_write_error: Callable[[Exception], None]
    ) -> None:
        """Start APScheduler paused, with the job store and an interval job that
        calls `on_tick` (proof the scheduler still runs)."""
        from apscheduler.executors.asyncio import AsyncIOExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        engine = self._job_engine().execution_options(sqlite_begin="IMMEDIATE")
        self.jobstore = ReminderJobStore(engine=engine)
        self.jobstore.on_write_error = on_write_error
        self.scheduler = AsyncIOScheduler(
            jobstores={
                "default": self.jobstore,
                "internal": MemoryJobStore(),
            },
            executors={"default": AsyncIOExecutor()},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
            timezone=UTC,
        )
        self.scheduler.start(paused=True)
        self.scheduler.add_job(
            on_tick,
            "interval",
            seconds=HEARTBEAT_S,
            id="__heartbeat__",
            jobstore="internal",
            next_run_time=to_datetime(self.clock.now_ms()),
        )

    def _job_engine(self) -> Any:
        """The job store's database: ours on SQLite, a local cache file otherwise."""
        if not self.store.postgres:
            return self.store.engine
        from reminders.db import make_engine, sqlite_url

        path = self.data_dir / JOB_CACHE
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        return make_engine(sqlite_url(path))

    def wake_if_due(self, now_ms: int) -> bool:
        """Wake APScheduler when wall time moved unlike monotonic time (suspend,
        clock set), or SAFETY_WAKEUP_S after the last wake-up; True when it did."""
        mono = self.monotonic()
        last_wall, last_mono = self._wall_mark
        self._wall_mark = (now_ms, mono)
        jumped = abs((now_ms - last_wall) - (mono - last_mono) * 1000) > CLOCK_JUMP_MS
        if not jumped and mono - self.last_wakeup <= SAFETY_WAKEUP_S:
            return False
        self.last_wakeup = mono
        self.scheduler.wakeup()
        return True

    # -- reconciling the job store with the table -----------------------------------

    def _sync(self, ids: list[str], specs: dict[str, JobSpec]) -> int:
        """Make the job rows of `ids` match their reminders; returns rows changed."""
        ids = [reminder_id for reminder_id in ids if reminder_id not in self.firing]
        with translate_db_errors(self.store.label):
            return self._sync_jobs(ids, specs)

    def _sync_jobs(self, ids: list[str], specs: dict[str, JobSpec]) -> int:
        assert self.jobstore is not None, "the scheduler starts first"
        stored = self.jobstore.states(ids)
        now_ms, default_tz = self.clock.now_ms(), self.default_tz()
        rows, drop = [], []
        for reminder_id in ids:
            spec = specs.get(reminder_id)
            job = job_for(spec, now_ms, default_tz) if spec is not None else None
            if job is None:
                if reminder_id in stored:
                    drop.append(reminder_id)
                continue
            row = self.jobstore.encode(job)
            if stored.get(reminder_id) != row["job_state"]:
                rows.append(row)
        self.jobstore.put(rows, drop)
        return len(rows) + len(drop)

    async def reconcile_all(self) -> int:
        """Rebuild the job store from the table, a page at a time; returns the count."""
        assert self.jobstore is not None, "the scheduler starts first"
        wanted: set[str] = set()
        after = ""
        self.rewritten = 0
        while True:
            page = await asyncio.to_thread(self._enabled_page, after)
            if not page:
                break
            self.rewritten += self._sync([s.id for s in page], {s.id: s for s in page})
            self.pages_done += 1
            wanted.update(s.id for s in page if s.due is not None)
            after = page[-1].id
        with translate_db_errors(self.store.label):
            self.jobstore.put([], self.jobstore.ids() - wanted)
        return len(wanted)

    async def reconcile_changes(self) -> None:
        """Sync the jobs of reminders written since the last revision seen, a page
        of changes at a time, so fires due meanwhile (a large import just landed)
        run between pages instead of waiting for all of them. After
        PAGES_PER_ROUND pages `behind` says the next round must go on."""
        extra, self.resync = self.resync, set()
        changed = self._data_changed()  # one PRAGMA: cheap enough inline
        if not changed and not extra and not self.behind:
            return
        self.behind = False
        for _ in range(PAGES_PER_ROUND):
            try:
                revision, ids, reminders, more = await asyncio.to_thread(
                    self._changed_reminders, extra
                )
            except ReminderError:
                self.resync |= extra  # asked again on the next round
                if self.listener is not None:
                    self.listener.force()
                raise
            specs = {
                rid: JobSpec.from_reminder(r)
                for rid, r in reminders.items()
                if r.enabled
            }
            if self._sync(ids, specs):
                self.scheduler.wakeup()
            self.revision, extra = revision, set()
            if not more:
                return
        self.behind = True

    @property
    def checkpoint_due(self) -> bool:
        return self.rewritten > CHECKPOINT_AFTER_ROWS

    # -- database work, run in a thread --------------------------------------------

    def _enabled_page(self, after_id: str) -> list[JobSpec]:
        with self.store.read() as tx:
            rows = tx.schedule_page(after_id, RECONCILE_PAGE)
        return [JobSpec.from_row(row) for row in rows]

    def last_revision(self) -> int:
        with self.store.read() as tx:
            return tx.last_revision()

    def _data_changed(self) -> bool:
        """PRAGMA data_version on a private connection: O(1), whatever the table size."""
        if self.listener is not None:
            return bool(self.listener.take())
        if self.store.path is None:
            return True
        if self._data_version_conn is None:
            self._data_version_conn = sqlite3.connect(
                self.store.path, isolation_level=None
            )
            self._last_data_version = -1
        value = self._data_version_conn.execute("PRAGMA data_version").fetchone()[0]
        changed = value != self._last_data_version
        self._last_data_version = value
        return bool(changed)

    def _changed_reminders(
        self, extra: set[str]
    ) -> tuple[int, list[str], dict[str, Reminder], bool]:
        """A page of changes after the last revision synced: (its last revision,
        the reminders it names, those still stored, whether more follow)."""
        with self.store.read() as tx:
            changes = tx.changes_since(self.revision, RECONCILE_PAGE)
            ids = list(dict.fromkeys([c.reminder_id for c in changes] + sorted(extra)))
            revision = changes[-1].revision if changes else self.revision
            more = len(changes) == RECONCILE_PAGE
            return revision, ids, tx.get_many(ids), more

    def checkpoint(self) -> None:
        """Fold the WAL into the database file (after a big rebuild)."""
        if self.store.path is not None:
            conn = sqlite3.connect(self.store.path, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

    def close(self) -> None:
        if self._data_version_conn is not None:
            self._data_version_conn.close()
