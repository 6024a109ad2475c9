"""Several daemons on one PostgreSQL database: the one holding the lease fires.

A daemon starts as a standby: it listens for changes and tries for the lease
(reminders.lease). Elected, it rebuilds its job store from the table, resends
what a crashed leader left `sending` and fires; when the lease may be lost it
stops firing at once. Changes arrive by LISTEN/NOTIFY (reminders.pg_changes),
backed by the same `changes` table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from reminders.errors import ReminderError
from reminders.timeparse import parse_duration

if TYPE_CHECKING:
    from reminders.app import AppContext
    from reminders.firing import Firer
    from reminders.jobsync import JobSync
    from reminders.lease import Elector, Leadership
    from reminders.liveness import Heartbeat
    from reminders.pg_changes import ChangeListener
    from reminders.schema import Run

log = logging.getLogger("reminders.daemon")
# How often the leader looks for runs nobody is sending any more, and how much
# longer than a lease plus a send's deadline such a run must have waited.
SWEEP_EVERY_MS = 30_000
ORPHAN_MARGIN_MS = 30_000


class Host(Protocol):
    """What the failover needs of the daemon it runs in."""

    ctx: AppContext
    poke: asyncio.Event
    stop_event: asyncio.Event
    jobs: JobSync
    life: Heartbeat
    firer: Firer | None

    def begin_firing(self, stuck: list[Run]) -> None: ...

    def pause_firing(self) -> None: ...

    def recover(self, stuck: list[Run]) -> None: ...


class Failover:
    """This daemon's part in the election: standby, take-over, step-down."""

    def __init__(self, host: Host) -> None:
        from reminders.lease import Leadership, new_holder_id

        self.host = host
        self.store = host.ctx.store
        self.leadership: Leadership = Leadership(new_holder_id())
        self.elector: Elector | None = None
        self.listener: ChangeListener | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._db_trouble = False
        self._reconciling = asyncio.Lock()  # a rebuild or a sync at once
        self._swept_ms = 0
        self._pages_seen = -1  # the rebuild's progress at the last round
        self.orphan_after_ms = 0  # set at start, from the lease and the deadline

    def start(self) -> None:
        """Stand by: listen for changes and try for the lease."""
        from reminders.lease import Elector, Lease
        from reminders.pg_changes import ChangeListener

        holder = self.leadership.holder
        loop = asyncio.get_running_loop()
        self.listener = ChangeListener(self.store.url, lambda: self._poke_from(loop))
        self.host.jobs.listener = self.listener
        self.listener.start()
        ttl_ms = parse_duration(self.host.ctx.settings.daemon.lease)
        deadline_ms = parse_duration(self.host.ctx.settings.delivery.deadline)
        self.orphan_after_ms = ttl_ms + deadline_ms + ORPHAN_MARGIN_MS
        lease = Lease(self.store, holder, ttl_ms)
        self.elector = Elector(lease, self.leadership, self._lead, self._follow)
        self._spawn(self.elector.run(self.host.stop_event))
        log.info("standing by for the lease (%s, holder %s)", self.store.label, holder)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lead(self, epoch: int) -> None:
        self._spawn(self._take_over(epoch))

    def _poke_from(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the loop from another thread (the change listener's)."""
        loop.call_soon_threadsafe(self.host.poke.set)

    async def _take_over(self, epoch: int) -> None:
        """Rebuild the job store from the table, fire, and finish crashed sends."""
        assert self.elector is not None
        assert self.listener is not None
        host, jobs = self.host, self.host.jobs
        log.info("took the lease (epoch %d): rebuilding the job store", epoch)
        try:
            # The rebuild drops jobs it did not page through, so no sync of changes
            # runs beside it; changes written meanwhile are above the revision
            # taken first and are read right after.
            async with self._reconciling:
                jobs.revision = await asyncio.to_thread(jobs.last_revision)
                count = await jobs.reconcile_all()
            self.listener.force()
            host.poke.set()
            if self.leadership.epoch != epoch or host.stop_event.is_set():
                return
            firer = host.firer
            assert firer is not None, "built before the lease is taken"
            stuck = await asyncio.to_thread(firer.stuck_runs)
            if self.leadership.epoch != epoch or not self.leadership.holds():
                return  # stepped down while reading: _follow has paused everything
            host.begin_firing(stuck)
            jobs.scheduler.wakeup()
            log.info("leader (epoch %d): %d reminders scheduled", epoch, count)
            host.recover(stuck)  # resent beside firing, as at a start
        except ReminderError as exc:
            if self.leadership.epoch == epoch:
                self.elector.step_down(f"take-over failed: {exc}")

    def _follow(self, why: str) -> None:
        """Stop firing at once: the lease may be lost."""
        self.host.pause_firing()
        log.warning("stopped firing: %s", why)

    @property
    def leading(self) -> bool:
        """Elected (the lease may still need checking with `holds()`)."""
        return self.leadership.epoch is not None

    async def step(self, now_ms: int) -> None:
        """One round of the daemon's loop: step down if the lease ran out, else
        sync the jobs of what changed and, now and then, resend orphaned runs."""
        assert self.elector is not None
        leadership = self.leadership
        if leadership.epoch is not None and not leadership.holds():
            self.elector.step_down("the lease was not renewed in time")
        if leadership.epoch is None:
            self.host.life.ticked()  # a paused scheduler does not tick
            return
        if self._reconciling.locked():
            # A take-over is rebuilding with the scheduler paused on purpose: alive
            # while its pages move (100,000 reminders can take longer than the
            # watchdog's 30 s), stuck if none did for that long. Its changes are
            # read after it.
            pages = self.host.jobs.pages_done
            if pages != self._pages_seen:
                self._pages_seen = pages
                self.host.life.ticked()
            return
        async with self._reconciling:
            await self.guarded(self.host.jobs.reconcile_changes())
        if now_ms - self._swept_ms >= SWEEP_EVERY_MS:
            self._swept_ms = now_ms
            await self.guarded(self._sweep(now_ms))

    async def _sweep(self, now_ms: int) -> None:
        """Recover runs left `sending` long after any daemon could still be sending
        them: a claim whose send was cut off by a lease lost for a moment, after the
        take-over that would have resent it had already looked. A take-over's
        recovery finds every other such run; this one finds these."""
        firer = self.host.firer
        if firer is None:
            return
        stuck = await asyncio.to_thread(firer.stuck_runs)
        before = now_ms - self.orphan_after_ms
        busy = self.host.jobs.firing
        orphans = [
            run
            for run in stuck
            if (run.startedAtMs or run.scheduledForMs) < before
            and run.reminderId not in busy
        ]
        if orphans and self.leadership.holds():
            log.warning(
                "%d runs left sending by a cut-off send: resending", len(orphans)
            )
            busy |= {run.reminderId for run in orphans}
            self.host.recover(orphans)

    async def guarded(self, work: Awaitable[None]) -> None:
        """Run database work; a lost connection is logged once and retried on the
        next round instead of stopping the daemon."""
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

    async def stop(self) -> None:
        """Stop renewing, hand the lease back, stop listening."""
        for task in list(self._tasks):
            task.cancel()
        if self.elector is not None:
            try:
                await asyncio.to_thread(self.elector.lease.release)
            except ReminderError as exc:
                log.warning("lease not released (%s); it expires by itself", exc)
        if self.listener is not None:
            self.listener.stop()
