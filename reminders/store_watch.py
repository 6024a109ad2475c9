"""The database under a running daemon: firing paused while it refuses writes
(full disk, read-only, locked), and a check that its file is still the one
opened at start."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reminders import sdnotify
from reminders.db import db_error
from reminders.errors import StoreBusy, StoreUnwritable

if TYPE_CHECKING:
    from reminders.jobsync import JobSync
    from reminders.liveness import Heartbeat
    from reminders.store import Store

log = logging.getLogger("reminders.daemon")

STORE_RETRY_S = 2.0  # how often a database that refused a write is tried again
STORE_FAULTS = (StoreBusy, StoreUnwritable)


def file_identity(path: Any) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


class StoreWatch:
    """Pauses the scheduler when the database refuses a write, retries every
    STORE_RETRY_S, and resumes once a write goes through and the jobs are rebuilt."""

    def __init__(
        self,
        store: Store,
        monotonic: Callable[[], float],
        jobs: JobSync,
        life: Heartbeat,
    ) -> None:
        self.store = store
        self.monotonic = monotonic
        self.jobs = jobs
        self.life = life
        self.fault: str | None = None  # set while the database refuses writes
        self._tried = 0.0
        self._identity = file_identity(store.path)
        # Several daemons on PostgreSQL (reminders.lease.Leadership): only the
        # leader resumes firing.
        self.leadership: Any = None

    def failed(self, exc: Exception) -> None:
        """Pause firing until the database takes writes again; logged once."""
        if self.fault is None:
            log.error(
                "%s Firing paused: nothing is sent that cannot be recorded first; "
                "what was sent is kept in memory and recorded once the database "
                "takes writes again (retrying every %gs).",
                exc,
                STORE_RETRY_S,
            )
            sdnotify.notify("STATUS=paused: the database refuses writes")
            scheduler = self.jobs.scheduler
            if scheduler is not None and scheduler.running:
                scheduler.pause()
            self._tried = self.monotonic()
        self.fault = str(exc)

    def jobstore_failed(self, exc: Exception) -> None:
        """A write APScheduler made to its job store was refused."""
        self.failed(db_error(self.store.label, exc) or exc)

    async def wait(self, exc: Exception) -> None:
        """The firer could not record an outcome: returns when it is worth retrying."""
        self.failed(exc)
        await asyncio.sleep(STORE_RETRY_S)

    async def retry(self, now_ms: int) -> None:
        """Try a write; once it works, rebuild the jobs and resume firing."""
        self.life.ticked()  # paused on purpose, not stuck
        if self.monotonic() - self._tried < STORE_RETRY_S:
            return
        self._tried = self.monotonic()
        try:
            await asyncio.to_thread(self.life.beat, now_ms)
            await self.jobs.reconcile_all()
        except STORE_FAULTS:
            return
        log.info("the database takes writes again: firing resumed")
        sdnotify.notify("STATUS=scheduling")
        self.fault = None
        if self.leadership is None or self.leadership.holds():
            self.jobs.scheduler.resume()

    def moved(self) -> str | None:
        """Why the database file is no longer the one opened at start, if it isn't."""
        if self._identity is None:
            return None
        now = file_identity(self.store.path)
        if now == self._identity:
            return None
        what = "deleted" if now is None else "replaced by another file"
        return (
            f"The database {self.store.label} was {what} while the daemon ran; "
            "stopping so no deleted reminder fires. Put the right file back (or keep "
            "the new one), then start the daemon again."
        )
