"""The long-running scheduler: APScheduler fires, our tables decide and record.

The daemon is a loop over `tick(now_ms)`: each round checks the database file is
still the one opened, syncs APScheduler's job store with what changed
(reminders.jobsync), wakes the scheduler after a clock jump, and stamps the
heartbeat (reminders.liveness). Here live its lifecycle: start, signals, reload,
the Telegram sender, a database that refuses writes, and shutdown.

On PostgreSQL several daemons share the database and the one holding the lease
fires (reminders.failover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reminders import clock, sdnotify
from reminders.app import AppContext
from reminders.config import check_chat, database_url, load_settings
from reminders.errors import (
    EX_CONFIG,
    ConfigError,
    ReminderError,
)
from reminders.failover import Failover
from reminders.firing import Firer, make_firer
from reminders.jobsync import JobSync, release_memory
from reminders.liveness import (
    HEARTBEAT_S,
    Heartbeat,
    take_daemon_lock,
    write_start,
)
from reminders.schema import Run
from reminders.senders import Senders
from reminders.store_watch import STORE_FAULTS, StoreWatch
from reminders.timeparse import parse_duration

log = logging.getLogger("reminders.daemon")

STOP_GRACE_S = 30.0

_current: Daemon | None = None


async def fire(reminder_id: str) -> None:
    """The APScheduler job target (stored by this text reference)."""
    if _current is not None:
        await _current.fire(reminder_id)


class Daemon:
    """One daemon on one database. `run()` is the whole life; tests drive
    `start()`, `ready()`, `tick(now_ms)` and `shutdown()` one by one."""

    def __init__(
        self, ctx: AppContext, monotonic: Callable[[], float] = clock.monotonic
    ) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.monotonic = monotonic
        self.stop_event = asyncio.Event()
        self.poke = asyncio.Event()
        self.reload_requested = False
        self.inflight: set[asyncio.Task[Any]] = set()
        self.recovering: set[str] = set()  # reminders whose `sending` run is resent
        self._stuck: list[Run] = []  # runs left `sending`, resent once ready
        self._firers: list[Firer] = []
        self.senders = Senders()
        self.started_ms = ctx.now_ms()
        self.firer: Firer | None = None
        self.chat: Any = None  # reminders.chat.ChatService
        self.jobs = JobSync(
            self.store, ctx.clock, monotonic, ctx.paths.data_dir, self._default_tz
        )
        watchdog = sdnotify.watchdog_interval_s()
        self.life = Heartbeat(
            self.store, monotonic, min(HEARTBEAT_S, watchdog or HEARTBEAT_S)
        )
        self.watch = StoreWatch(self.store, monotonic, self.jobs, self.life)
        self.shared: Failover | None = None  # PostgreSQL: the lease and its listener

    @property
    def sender(self) -> Any:
        return self.senders.current

    def _default_tz(self) -> str:
        return self.firer.default_tz if self.firer else "UTC"

    # -- the job target --------------------------------------------------------

    async def fire(self, reminder_id: str) -> None:
        if reminder_id in self.recovering:
            return  # its job is synced again once its recovery ends
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        self.jobs.firing.add(reminder_id)
        try:
            if (
                self.firer is not None
                and not self.stop_event.is_set()
                and self.watch.moved() is None
            ):
                await self.firer.fire(reminder_id)
        except STORE_FAULTS as exc:  # not claimed, so not sent: it fires once resumed
            self.watch.failed(exc)
        except ReminderError as exc:  # a lost PostgreSQL connection or lease
            log.warning("%s not fired now: %s", reminder_id, exc)
        except Exception:
            log.exception("firing %s failed", reminder_id)
        finally:
            self.jobs.firing.discard(reminder_id)
            self.jobs.resync.add(reminder_id)
            if task is not None:
                self.inflight.discard(task)
            self.poke.set()

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> int:
        # Database work runs in threads; each thread keeps one SQLite connection,
        # so a small pool keeps memory down (SQLite serialises writers anyway).
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="reminders-db")
        )
        count = await self.start()
        self._install_signals()
        self.ready(count)
        poll_s = parse_duration(self.ctx.settings.daemon.poll_interval) / 1000
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poke.wait(), timeout=poll_s)
            self.poke.clear()
            if self.stop_event.is_set():
                break
            if self.reload_requested:
                await self.reload()
            code = await self.tick(self.ctx.now_ms())
            if code is not None:
                await self.shutdown()
                return code
        await self.shutdown()
        return 0

    async def start(self) -> int:
        """Open the sender and the scheduler and rebuild the jobs; on SQLite also
        resume firing, with the runs left `sending` held back. Returns the count
        of reminders scheduled."""
        global _current
        _current = self
        check_chat(self.ctx.settings)
        await self.senders.start(self.ctx.settings, self.ctx.paths.config)
        if self.store.postgres:
            self.shared = Failover(self)
            self.life.leadership = self.watch.leadership = self.shared.leadership
            self.firer = self._make_firer()
            self.jobs.start_scheduler(self.life.ticked, self.watch.jobstore_failed)
            self.shared.start()
            return 0
        self.firer = self._make_firer()
        # First a write: a database that cannot take one stops the start (75)
        # before recovery resends anything whose outcome it could not record.
        write_start(self.store, self.ctx.now_ms())
        self.jobs.start_scheduler(self.life.ticked, self.watch.jobstore_failed)
        self.jobs.revision = await asyncio.to_thread(self.jobs.last_revision)
        count = await self.jobs.reconcile_all()
        if self.jobs.checkpoint_due:
            await asyncio.to_thread(self.jobs.checkpoint)
        release_memory()  # the rebuild's pages are garbage now
        self._stuck = await asyncio.to_thread(self.firer.stuck_runs)
        self.begin_firing(self._stuck)
        return count

    def ready(self, count: int) -> None:
        """Tell the supervisor, then resend the runs a stop mid-send left `sending`."""
        sdnotify.notify("READY=1", f"STATUS=scheduling {count} reminders")
        log.info(
            "daemon ready: %d reminders scheduled (%d job rows rewritten), database %s",
            count,
            self.jobs.rewritten,
            self.store.label,
        )
        stuck, self._stuck = self._stuck, []
        if stuck:
            log.info("recovering %d runs left sending by a stop mid-send", len(stuck))
        self.recover(stuck)

    async def tick(self, now_ms: int) -> int | None:
        """One round of the loop at wall time `now_ms`: returns an exit code when
        the daemon must stop, None to go on."""
        moved = self.watch.moved()
        if moved is not None:
            log.error("%s", moved)
            sdnotify.notify("STATUS=stopped: the database file was replaced")
            return EX_CONFIG
        if self.watch.fault is not None:
            await self.watch.retry(now_ms)
        elif self.shared is not None:
            await self.shared.step(now_ms)
        else:
            try:
                await self.jobs.reconcile_changes()
            except STORE_FAULTS as exc:
                self.watch.failed(exc)
        self.jobs.wake_if_due(now_ms)
        if self.jobs.behind:  # a large change set: the next round goes on at once
            self.poke.set()
        mono = self.monotonic()
        if self.life.due(mono):
            if self.life.stale(mono):
                log.error("the scheduler stopped ticking; exiting so it is restarted")
                return 1
            if self.watch.fault is None:
                beat = asyncio.to_thread(self.life.beat, now_ms)
                try:
                    await (self.shared.guarded(beat) if self.shared else beat)
                except STORE_FAULTS as exc:
                    self.watch.failed(exc)
            sdnotify.notify("WATCHDOG=1")  # alive and waiting is not stuck
            self.life.last_beat = mono
        return None

    def begin_firing(self, stuck: list[Run]) -> None:
        """Resume the scheduler; the reminders of runs left `sending` wait for
        their recovery."""
        self.recovering = {run.reminderId for run in stuck}
        self.jobs.firing |= self.recovering
        self.life.ticked()  # however long the rebuild before it took
        self.jobs.scheduler.resume()
        self.chat.start()  # on PostgreSQL only the leader polls the bot and nags

    def pause_firing(self) -> None:
        if self.jobs.scheduler is not None and self.jobs.scheduler.running:
            self.jobs.scheduler.pause()
        if self.chat is not None:
            self.chat.pause()

    def recover(self, stuck: list[Run]) -> None:
        """Resend or close, beside firing, the runs a stop mid-send left `sending`."""
        assert self.firer is not None
        for run in stuck:
            self._track(asyncio.create_task(self._recover(self.firer, run)))

    def _track(self, task: asyncio.Task[Any]) -> None:
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _recover(self, firer: Firer, run: Run) -> None:
        try:
            await firer.recover_run(run)
        finally:
            self.recovering.discard(run.reminderId)
            self.jobs.firing.discard(run.reminderId)
            self.jobs.resync.add(run.reminderId)
            self.poke.set()

    def _make_firer(self) -> Firer:
        from reminders.chat import ChatService

        self.chat = ChatService(self.ctx, self.sender)
        firer = make_firer(
            self.store, self.sender, self.ctx.settings, self.ctx.clock, self.started_ms
        )
        self._firers.append(firer)
        firer.on_store_fault = self.watch.wait
        firer.leadership = self.shared.leadership if self.shared else None
        firer.hooks = self.chat  # quiet hours, and the chat's buttons
        return firer

    # -- signals and reload ------------------------------------------------------

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
        self.senders.stop_queued()

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
            await self.senders.start(
                settings, self.ctx.paths.config, limiter=old_sender.limiter
            )
            self.senders.retire_when_idle(old_sender, set(self.inflight))
        if self.firer is not None:  # its sends in flight note ids on the loop's pool
            self.firer.close()
        self.firer = self._make_firer()
        if self.shared is None or self.shared.leading:
            self.chat.start()  # on PostgreSQL only the leader polls
        log.info("configuration reloaded from %s", self.ctx.paths.config)

    async def shutdown(self) -> None:
        global _current
        self.pause_firing()  # no new fire, poll or nag while the sends in flight finish
        self._stop_sending()
        if self.inflight:
            await asyncio.wait(set(self.inflight), timeout=STOP_GRACE_S)
        released = 0
        for firer in self._firers:
            released += await asyncio.to_thread(firer.release_stopped)
            firer.close()
        if released:
            log.info("%d reminders not sent yet will fire again on start", released)
        scheduler = self.jobs.scheduler
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        if self.chat is not None:  # before the lease goes: no nag after a handover
            await self.chat.stop()
        if self.shared is not None:
            await self.shared.stop()
        await self.senders.close()  # the grace is spent: close them now
        self.jobs.close()
        if _current is self:
            _current = None
        log.info("daemon stopped")


def run_daemon(ctx: AppContext) -> int:
    """Run in the foreground until SIGTERM/SIGINT; returns the exit code."""
    _open_store(ctx)
    lock = take_daemon_lock(ctx)
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


__all__ = ["Daemon", "database_url", "fire", "run_daemon"]
