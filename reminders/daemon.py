"""The long-running scheduler: APScheduler fires, our tables decide and record.

One APScheduler job per enabled reminder lives in a SQLAlchemyJobStore in the same
SQLite file. That store is a cache: it is rebuilt from the `reminders` table on
start and reconciled whenever the table changes. Only this process touches it.

On PostgreSQL several daemons share the database and the one holding the lease
fires (reminders.lease); its job store is a SQLite cache file in its own data
folder, rebuilt each time it takes the lease. Changes arrive by LISTEN/NOTIFY
(reminders.pg_changes), backed by the same `changes` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reminders import sdnotify, triggers
from reminders.app import AppContext
from reminders.clock import monotonic
from reminders.config import bot_token, check_chat, database_url, load_settings
from reminders.db import db_error, translate_db_errors
from reminders.errors import (
    EX_CONFIG,
    ConfigError,
    DaemonRunning,
    ReminderError,
    StoreBusy,
    StoreUnwritable,
    TransientError,
    Unavailable,
)
from reminders.files import daemon_lock_path, lock_held, private_lock
from reminders.firing import Firer, make_firer
from reminders.schema import Reminder
from reminders.timeparse import parse_duration
from reminders.triggers import anchor_of, grid_anchor

log = logging.getLogger("reminders.daemon")

JOB_FUNC = "reminders.daemon:fire"
HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0
STOP_GRACE_S = 30.0
# APScheduler sleeps on the monotonic clock, which stands still while a laptop is
# suspended; a wall-clock jump, or this interval at the latest, wakes it to re-check.
SAFETY_WAKEUP_S = 30.0
RECONCILE_PAGE = 500
CHECKPOINT_AFTER_ROWS = 5000  # a big rebuild leaves a big WAL: fold it in at once
PRUNE_EVERY_MS = 3_600_000  # change rows older than a day go, once an hour
CLOCK_JUMP_MS = 1000
STORE_RETRY_S = 2.0  # how often a database that refused a write is tried again
STORE_FAULTS = (StoreBusy, StoreUnwritable)
META_HEARTBEAT = "daemon.heartbeat_ms"
META_PID = "daemon.pid"
META_STARTED = "daemon.started_ms"
JOB_CACHE = "jobs-cache.db"  # PostgreSQL: this daemon's APScheduler job store

_current: Daemon | None = None


async def fire(reminder_id: str) -> None:
    """The APScheduler job target (stored by this text reference)."""
    if _current is not None:
        await _current.fire(reminder_id)


def _tick() -> None:
    if _current is not None:
        _current.last_tick = monotonic()


def lock_path(ctx: AppContext) -> str:
    store_path = ctx.store.path
    return daemon_lock_path(store_path or ctx.paths.data_dir / "reminders")


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
            anchor_of(reminder),
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobSpec:
        """From columns the store validated when it wrote them (same anchor rule)."""
        schedule = (
            json.loads(row["schedule"])
            if isinstance(row["schedule"], str)
            else row["schedule"]
        )
        anchor = grid_anchor(schedule, row["created_at_ms"])
        return cls(row["id"], row["name"], row["next_run_at_ms"], schedule, anchor)


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Daemon:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.stop_event = asyncio.Event()
        self.poke = asyncio.Event()
        self.reload_requested = False
        self.inflight: set[asyncio.Task[Any]] = set()
        self.firing: set[str] = set()
        self.recovering: set[str] = set()  # reminders whose `sending` run is resent
        self._firers: list[Firer] = []
        self._closers: set[asyncio.Task[None]] = set()
        self._retired: list[Any] = []  # senders replaced by a reload
        self.resync: set[str] = set()
        self.last_tick = monotonic()
        self.started_ms = ctx.now_ms()
        self.last_wakeup = monotonic()
        self.last_prune_ms = 0
        self._wall_mark = (ctx.now_ms(), monotonic())
        self.revision = 0
        self.sender: Any = None
        self.firer: Firer | None = None
        self.chat: Any = None  # reminders.chat.ChatService
        self.scheduler: Any = None
        self.jobstore: Any = None
        self.rewritten = 0
        self._data_version_conn: sqlite3.Connection | None = None
        # Set while the database refuses writes: firing is paused meanwhile.
        self.store_fault: str | None = None
        self._store_tried = 0.0
        self._db_identity = self._identity()
        # PostgreSQL only: the lease, its renewals, the change listener.
        self.leadership: Any = None
        self.elector: Any = None
        self.listener: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._db_trouble = False
        self._reconciling = asyncio.Lock()  # PostgreSQL: a rebuild or a sync at once

    # -- the job target --------------------------------------------------------

    async def fire(self, reminder_id: str) -> None:
        if reminder_id in self.recovering:
            return  # its job is synced again once its recovery ends
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        self.firing.add(reminder_id)
        try:
            if (
                self.firer is not None
                and not self.stop_event.is_set()
                and self._database_moved() is None
            ):
                await self.firer.fire(reminder_id)
        except STORE_FAULTS as exc:  # not claimed, so not sent: it fires once resumed
            self._store_failed(exc)
        except ReminderError as exc:  # a lost PostgreSQL connection or lease
            log.warning("%s not fired now: %s", reminder_id, exc)
        except Exception:
            log.exception("firing %s failed", reminder_id)
        finally:
            self.firing.discard(reminder_id)
            self.resync.add(reminder_id)
            if task is not None:
                self.inflight.discard(task)
            self.poke.set()

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> int:
        global _current
        _current = self
        # Database work runs in threads; each thread keeps one SQLite connection,
        # so a small pool keeps memory down (SQLite serialises writers anyway).
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="reminders-db")
        )
        settings = self.ctx.settings
        poll_s = parse_duration(settings.daemon.poll_interval) / 1000
        check_chat(settings)
        await self._start_sender()
        self.firer = self._make_firer()
        stuck: list[Any] = []
        if self.store.postgres:
            count = await self._start_shared()
        else:
            # First a write: a database that cannot take one stops the start (75)
            # before recovery resends anything whose outcome it could not record.
            self._write_meta_start()
            self._start_scheduler()
            self.revision = await asyncio.to_thread(self._last_revision)
            count = await self.reconcile_all()
            if self.rewritten > CHECKPOINT_AFTER_ROWS:
                await asyncio.to_thread(self._checkpoint)
            release_memory()  # the rebuild's pages are garbage now
            stuck = await asyncio.to_thread(self.firer.stuck_runs)
            self.recovering = {run.reminderId for run in stuck}
            self.firing |= self.recovering
            self.scheduler.resume()
            self.chat.start()
        self._install_signals()
        sdnotify.notify("READY=1", f"STATUS=scheduling {count} reminders")
        log.info(
            "daemon ready: %d reminders scheduled (%d job rows rewritten), database %s",
            count,
            self.rewritten,
            self.store.label,
        )
        if stuck:
            log.info("recovering %d runs left sending by a stop mid-send", len(stuck))
        for run in stuck:
            self._track(asyncio.create_task(self._recover(self.firer, run)))
        watchdog = sdnotify.watchdog_interval_s()
        last_beat = 0.0
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poke.wait(), timeout=poll_s)
            self.poke.clear()
            if self.stop_event.is_set():
                break
            if self.reload_requested:
                await self.reload()
            moved = self._database_moved()
            if moved is not None:
                log.error("%s", moved)
                sdnotify.notify("STATUS=stopped: the database file was replaced")
                await self.shutdown()
                return EX_CONFIG
            if self.store_fault is not None:
                await self._retry_store()
            elif self.leadership is not None:
                await self._shared_step()
            else:
                try:
                    await self.reconcile_changes()
                except STORE_FAULTS as exc:
                    self._store_failed(exc)
            if self._clock_jumped() or monotonic() - self.last_wakeup > SAFETY_WAKEUP_S:
                self.last_wakeup = monotonic()
                self.scheduler.wakeup()
            now = monotonic()
            if now - last_beat >= min(HEARTBEAT_S, watchdog or HEARTBEAT_S):
                if now - self.last_tick > STALE_AFTER_S:
                    log.error(
                        "the scheduler stopped ticking; exiting so it is restarted"
                    )
                    await self.shutdown()
                    return 1
                if self.store_fault is None:
                    try:
                        await self._guarded(asyncio.to_thread(self._beat))
                    except STORE_FAULTS as exc:
                        self._store_failed(exc)
                sdnotify.notify("WATCHDOG=1")  # alive and waiting is not stuck
                last_beat = now
        await self.shutdown()
        return 0

    def _track(self, task: asyncio.Task[Any]) -> None:
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _recover(self, firer: Firer, run: Any) -> None:
        """Resend or close one run a stop mid-send left `sending`, beside firing."""
        try:
            await firer.recover_run(run)
        finally:
            self.recovering.discard(run.reminderId)
            self.firing.discard(run.reminderId)
            self.resync.add(run.reminderId)
            self.poke.set()

    async def _start_sender(self, limiter: Any = None) -> None:
        from reminders.delivery import make_sender

        settings = self.ctx.settings
        token = bot_token(settings)
        if not token:
            log.warning(
                "No Telegram bot token: Telegram reminders will be recorded as failed "
                "until one is set (webhooks still go out). Set "
                "REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token in %s, "
                "then restart the daemon (or send it SIGHUP).",
                self.ctx.paths.config,
            )
        self.sender = make_sender(settings, limiter=limiter)
        try:
            await self.sender.start()
        except (TransientError, Unavailable) as exc:
            # Not fatal: reminders still fire (a send that cannot reach Telegram is
            # recorded as failed), and each send retries the connection.
            log.warning("%s The daemon goes on and retries at each send.", exc)

    def _make_firer(self) -> Firer:
        from reminders.chat import ChatService

        self.chat = ChatService(self.ctx, self.sender)
        firer = make_firer(
            self.store, self.sender, self.ctx.settings, self.ctx.clock, self.started_ms
        )
        self._firers.append(firer)
        firer.on_store_fault = self._wait_for_store
        firer.leadership = self.leadership
        firer.hooks = self.chat  # quiet hours, and the chat's buttons
        return firer

    # -- several daemons on PostgreSQL -----------------------------------------

    async def _start_shared(self) -> int:
        """Start as a standby: listen for changes and try for the lease."""
        from reminders.lease import Elector, Leadership, Lease, new_holder_id
        from reminders.pg_changes import ChangeListener

        holder = new_holder_id()
        self.leadership = Leadership(holder)
        self.firer = self._make_firer()
        self._start_scheduler()
        loop = asyncio.get_running_loop()
        self.listener = ChangeListener(self.store.url, lambda: self._poke_from(loop))
        self.listener.start()
        ttl_ms = parse_duration(self.ctx.settings.daemon.lease)
        lease = Lease(self.store, holder, ttl_ms)
        self.elector = Elector(lease, self.leadership, self._lead, self._follow)
        self._spawn(self.elector.run(self.stop_event))
        log.info("standing by for the lease (%s, holder %s)", self.store.label, holder)
        return 0

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lead(self, epoch: int) -> None:
        self._spawn(self._take_over(epoch))

    def _poke_from(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the loop from another thread (the change listener's)."""
        loop.call_soon_threadsafe(self.poke.set)

    async def _take_over(self, epoch: int) -> None:
        """Rebuild the job store from the table, fire, and finish crashed sends."""
        log.info("took the lease (epoch %d): rebuilding the job store", epoch)
        try:
            # The rebuild drops jobs it did not page through, so no sync of changes
            # runs beside it; changes written meanwhile are above the revision
            # taken first and are read right after.
            async with self._reconciling:
                self.revision = await asyncio.to_thread(self._last_revision)
                count = await self.reconcile_all()
            self.listener.force()
            self.poke.set()
            if self.leadership.epoch != epoch or self.stop_event.is_set():
                return
            firer = self.firer
            assert firer is not None, "built before the lease is taken"
            stuck = await asyncio.to_thread(firer.stuck_runs)
            if self.leadership.epoch != epoch or not self.leadership.holds():
                return  # stepped down while reading: _follow has paused everything
            self.recovering = {run.reminderId for run in stuck}
            self.firing |= self.recovering
            self.scheduler.resume()
            self.scheduler.wakeup()
            self.chat.start()  # only the leader polls the bot and sends nags
            log.info("leader (epoch %d): %d reminders scheduled", epoch, count)
            for run in stuck:  # resent beside firing, as at a start
                self._track(asyncio.create_task(self._recover(firer, run)))
        except ReminderError as exc:
            if self.leadership.epoch == epoch:
                self.elector.step_down(f"take-over failed: {exc}")

    def _follow(self, why: str) -> None:
        """Stop firing at once: the lease may be lost."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
        if self.chat is not None:
            self.chat.pause()
        log.warning("stopped firing: %s", why)

    async def _shared_step(self) -> None:
        leadership = self.leadership
        if leadership.epoch is not None and not leadership.holds():
            self.elector.step_down("the lease was not renewed in time")
        if leadership.epoch is None:
            self.last_tick = monotonic()  # a paused scheduler does not tick
            return
        if self._reconciling.locked():
            return  # a take-over is rebuilding; its changes are read after it
        async with self._reconciling:
            await self._guarded(self.reconcile_changes())

    async def _guarded(self, work: Any) -> None:
        """Run database work; on PostgreSQL a lost connection is logged once and
        retried on the next round instead of stopping the daemon."""
        if self.leadership is None:
            await work
            return
        try:
            await work
        except ReminderError as exc:
            if not self._db_trouble:
                log.warning("database unavailable (%s); retrying", exc)
                self._db_trouble = True
            return
        if self._db_trouble:
            log.info("database available again")
            self._db_trouble = False

    def _start_scheduler(self) -> None:
        from apscheduler.executors.asyncio import AsyncIOExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from reminders.jobstore import ReminderJobStore

        engine = self._job_engine().execution_options(sqlite_begin="IMMEDIATE")
        self.jobstore = ReminderJobStore(engine=engine)
        self.jobstore.on_write_error = self._jobstore_failed
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
            _tick,
            "interval",
            seconds=HEARTBEAT_S,
            id="__heartbeat__",
            jobstore="internal",
            next_run_time=datetime.fromtimestamp(self.ctx.clock.now_ms() / 1000, UTC),
        )

    def _job_engine(self) -> Any:
        """The job store's database: ours on SQLite, a local cache file otherwise."""
        if not self.store.postgres:
            return self.store.engine
        from reminders.db import make_engine, sqlite_url

        path = self.ctx.paths.data_dir / JOB_CACHE
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        return make_engine(sqlite_url(path))

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def request_stop(self) -> None:
        log.info("stopping: finishing sends in flight")
        sdnotify.notify("STOPPING=1")
        # At once, not when the main loop next gets round to shutdown(): that
        # may wait behind thousands of claims queued for the database threads.
        self._stop_sending()
        self.stop_event.set()
        self.poke.set()

    def _stop_sending(self) -> None:
        """Claim nothing more; sends still waiting for their turn give up at once
        (a request on the wire gets STOP_GRACE_S to finish)."""
        for firer in self._firers:
            firer.stopping = True
        if self.sender is not None:
            self.sender.limiter.close()

    def request_reload(self) -> None:
        self.reload_requested = True
        self.poke.set()

    async def reload(self) -> None:
        self.reload_requested = False
        try:
            settings = load_settings(self.ctx.paths)
        except ConfigError as exc:
            log.error("config not reloaded: %s", exc)
            return
        try:
            check_chat(settings)
        except ConfigError as exc:
            log.error("config not reloaded: %s", exc)
            return
        old = self.ctx.settings
        self.ctx.settings = settings
        await self.chat.stop()
        if settings.telegram != old.telegram or settings.delivery != old.delivery:
            # Sends in flight keep the old sender until they finish; one limiter
            # paces old and new alike.
            old_sender = self.sender
            await self._start_sender(limiter=old_sender.limiter)
            self._close_when_idle(old_sender)
        self.firer = self._make_firer()
        if self.leadership is None or self.leadership.epoch is not None:
            self.chat.start()  # on PostgreSQL only the leader polls
        log.info("configuration reloaded from %s", self.ctx.paths.config)

    def _close_when_idle(self, sender: Any) -> None:
        """Close `sender` once the sends running now (which may use it) are done."""
        busy = set(self.inflight)

        async def close() -> None:
            if busy:
                await asyncio.wait(busy)
            await sender.close()

        self._retired.append(sender)
        task = asyncio.create_task(close())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    # -- a database that refuses writes, or a file replaced underneath ------------

    def _store_failed(self, exc: Exception) -> None:
        """Pause firing until the database takes writes again; logged once."""
        if self.store_fault is None:
            log.error(
                "%s Firing paused: nothing is sent that cannot be recorded first; "
                "what was sent is kept in memory and recorded once the database "
                "takes writes again (retrying every %gs).",
                exc,
                STORE_RETRY_S,
            )
            sdnotify.notify("STATUS=paused: the database refuses writes")
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.pause()
            self._store_tried = monotonic()
        self.store_fault = str(exc)

    def _jobstore_failed(self, exc: Exception) -> None:
        self._store_failed(db_error(self.store.label, exc) or exc)

    async def _wait_for_store(self, exc: Exception) -> None:
        self._store_failed(exc)
        await asyncio.sleep(STORE_RETRY_S)

    async def _retry_store(self) -> None:
        """Try a write; once it works, rebuild the jobs and resume firing."""
        self.last_tick = monotonic()  # paused on purpose, not stuck
        if monotonic() - self._store_tried < STORE_RETRY_S:
            return
        self._store_tried = monotonic()
        try:
            await asyncio.to_thread(self._beat)
            await self.reconcile_all()
        except STORE_FAULTS:
            return
        log.info("the database takes writes again: firing resumed")
        sdnotify.notify("STATUS=scheduling")
        self.store_fault = None
        if self.leadership is None or self.leadership.holds():
            self.scheduler.resume()

    def _identity(self) -> tuple[int, int] | None:
        if self.store.path is None:
            return None
        try:
            found = os.stat(self.store.path)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def _database_moved(self) -> str | None:
        """Why the database file is no longer the one opened at start, if it isn't."""
        if self._db_identity is None:
            return None
        now = self._identity()
        if now == self._db_identity:
            return None
        what = "deleted" if now is None else "replaced by another file"
        return (
            f"The database {self.store.label} was {what} while the daemon ran; "
            "stopping so no deleted reminder fires. Put the right file back (or keep "
            "the new one), then start the daemon again."
        )

    def _clock_jumped(self) -> bool:
        """True when wall time moved unlike monotonic time (suspend, clock set)."""
        wall, mono = self.ctx.now_ms(), monotonic()
        last_wall, last_mono = self._wall_mark
        self._wall_mark = (wall, mono)
        return abs((wall - last_wall) - (mono - last_mono) * 1000) > CLOCK_JUMP_MS

    async def shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
        if self.chat is not None:
            self.chat.pause()  # no new poll or nag while the sends in flight finish
        self._stop_sending()
        if self.inflight:
            await asyncio.wait(set(self.inflight), timeout=STOP_GRACE_S)
        released = 0
        for firer in self._firers:
            released += await asyncio.to_thread(firer.release_stopped)
        if released:
            log.info("%d reminders not sent yet will fire again on start", released)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.chat is not None:  # before the lease goes: no nag after a handover
            await self.chat.stop()
        if self.elector is not None:
            for task in list(self._tasks):
                task.cancel()
            try:
                await asyncio.to_thread(self.elector.lease.release)
            except ReminderError as exc:
                log.warning("lease not released (%s); it expires by itself", exc)
            self.listener.stop()
        for closer in list(self._closers):  # the grace is spent: close them now
            closer.cancel()
        for sender in [*self._retired, self.sender]:
            if sender is not None:
                await sender.close()
        if self._data_version_conn is not None:
            self._data_version_conn.close()
        log.info("daemon stopped")

    # -- reconciling the job store with the table -------------------------------

    def _job_for(self, spec: JobSpec) -> Any | None:
        """The APScheduler job a reminder should have, or None for no job."""
        from apscheduler.job import Job

        if spec.due is None:
            return None
        now = self.ctx.now_ms()
        trigger = triggers.trigger_from_json(
            spec.schedule,
            spec.id,
            self.firer.default_tz if self.firer else "UTC",
            spec.anchor,
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
                "next_run_time": to_datetime(spec.due if spec.due > now else now),
            }
        )
        return job

    def _sync(self, ids: list[str], specs: dict[str, JobSpec]) -> int:
        """Make the job rows of `ids` match their reminders; returns rows changed."""
        ids = [reminder_id for reminder_id in ids if reminder_id not in self.firing]
        with translate_db_errors(self.store.label):
            return self._sync_jobs(ids, specs)

    def _sync_jobs(self, ids: list[str], specs: dict[str, JobSpec]) -> int:
        stored = self.jobstore.states(ids)
        rows, drop = [], []
        for reminder_id in ids:
            spec = specs.get(reminder_id)
            job = self._job_for(spec) if spec is not None else None
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
        wanted: set[str] = set()
        after = ""
        self.rewritten = 0
        while True:
            page = await asyncio.to_thread(self._enabled_page, after)
            if not page:
                break
            self.rewritten += self._sync([s.id for s in page], {s.id: s for s in page})
            wanted.update(s.id for s in page if s.due is not None)
            after = page[-1].id
        with translate_db_errors(self.store.label):
            self.jobstore.put([], self.jobstore.ids() - wanted)
        return len(wanted)

    async def reconcile_changes(self) -> None:
        """Sync the jobs of reminders written since the last revision seen."""
        extra, self.resync = self.resync, set()
        if not self._data_changed() and not extra:  # one PRAGMA: cheap enough inline
            return
        try:
            revision, ids, reminders = await asyncio.to_thread(
                self._changed_reminders, extra
            )
        except ReminderError:
            self.resync |= extra  # asked again on the next round
            if self.listener is not None:
                self.listener.force()
            raise
        specs = {
            rid: JobSpec.from_reminder(r) for rid, r in reminders.items() if r.enabled
        }
        if self._sync(ids, specs):
            self.scheduler.wakeup()
        self.revision = revision

    # -- database work, run in a thread ------------------------------------------

    def _enabled_page(self, after_id: str) -> list[JobSpec]:
        with self.store.read() as tx:
            rows = tx.schedule_page(after_id, RECONCILE_PAGE)
        return [JobSpec.from_row(row) for row in rows]

    def _last_revision(self) -> int:
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
    ) -> tuple[int, list[str], dict[str, Reminder]]:
        with self.store.read() as tx:
            changes = tx.changes_since(self.revision)
            ids = list(dict.fromkeys([c.reminder_id for c in changes] + sorted(extra)))
            revision = changes[-1].revision if changes else self.revision
            return revision, ids, tx.get_many(ids)

    def _write_meta_start(self) -> None:
        now = self.ctx.now_ms()
        with self.store.write() as tx:
            tx.set_meta(META_PID, str(os.getpid()))
            tx.set_meta(META_STARTED, str(now))
            tx.set_meta(META_HEARTBEAT, str(now))

    def _checkpoint(self) -> None:
        if self.store.path is not None:
            conn = sqlite3.connect(self.store.path, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

    def _beat(self) -> None:
        now = self.ctx.now_ms()
        if self.leadership is not None:  # the lease renewal is the heartbeat here
            if self.leadership.holds() and now - self.last_prune_ms > PRUNE_EVERY_MS:
                with self.store.write() as tx:
                    tx.prune_changes(now - 86_400_000)
                self.last_prune_ms = now
            return
        with self.store.write() as tx:
            tx.set_meta(META_HEARTBEAT, str(now))
            if now - self.last_prune_ms > PRUNE_EVERY_MS:
                tx.prune_changes(now - 86_400_000)
                self.last_prune_ms = now


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc only)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the memory is reused, just not returned


def run_daemon(ctx: AppContext) -> int:
    """Run in the foreground until SIGTERM/SIGINT; returns the exit code."""
    from filelock import Timeout

    _open_store(ctx)
    lock = private_lock(lock_path(ctx), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        pid = _meta(ctx, META_PID)
        raise DaemonRunning(
            f"Another reminders daemon{f' (pid {pid})' if pid else ''} already runs on "
            f"{ctx.store.label}. Stop it first, or check it with `reminders status`."
        ) from None
    try:
        return asyncio.run(Daemon(ctx).run())
    finally:
        lock.release()


def _open_store(ctx: AppContext) -> None:
    """Open and migrate before anything else; a PostgreSQL server that is down
    (restarting, not up yet) is waited for with backoff, not a crash."""
    import time

    from reminders.pg import DatabaseUnavailable

    delay, warned = 0.5, False
    while True:
        try:
            ctx.store  # noqa: B018
            return
        except DatabaseUnavailable as exc:
            if not warned:
                log.warning("%s Retrying with backoff.", exc)
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _meta(ctx: AppContext, key: str) -> str | None:
    with ctx.store.read() as tx:
        return tx.get_meta(key)


def daemon_alive(ctx: AppContext) -> bool:
    """True when some process holds the daemon lock on this database."""
    return lock_held(lock_path(ctx))


__all__ = ["Daemon", "daemon_alive", "database_url", "fire", "run_daemon"]
