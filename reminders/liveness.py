"""Is a daemon alive on this database: its lock, its heartbeat, and the meta keys
`status` and `doctor` read.

Light to import: `status` and `doctor` read these without loading the daemon.
On PostgreSQL several daemons share the database and the lease says who runs
(reminders.lease); there the lease renewal is the heartbeat.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reminders.errors import DaemonRunning
from reminders.files import daemon_lock_path, lock_held, private_lock

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from reminders.app import AppContext
    from reminders.store import Store

HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0
PRUNE_EVERY_MS = 3_600_000  # change rows older than a day go, once an hour
CHANGES_KEPT_MS = 86_400_000
META_HEARTBEAT = "daemon.heartbeat_ms"
META_PID = "daemon.pid"
META_STARTED = "daemon.started_ms"


def lock_path(ctx: AppContext) -> str:
    store_path = ctx.store.path
    return daemon_lock_path(store_path or ctx.paths.data_dir / "reminders")


def daemon_alive(ctx: AppContext) -> bool:
    """True when some process holds the daemon lock on this database."""
    return lock_held(lock_path(ctx))


def take_daemon_lock(ctx: AppContext) -> BaseFileLock:
    """The lock one daemon per database holds while it runs; DaemonRunning when
    another process holds it."""
    from filelock import Timeout

    lock = private_lock(lock_path(ctx), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        pid = read_meta(ctx.store, META_PID)
        raise DaemonRunning(
            f"Another reminders daemon{f' (pid {pid})' if pid else ''} already runs on "
            f"{ctx.store.label}. Stop it first, or check it with `reminders status`."
        ) from None
    return lock


def read_meta(store: Store, key: str) -> str | None:
    with store.read() as tx:
        return tx.get_meta(key)


def write_start(store: Store, now_ms: int) -> None:
    """Record this process as the running daemon, its start and a first heartbeat."""
    with store.write() as tx:
        tx.set_meta(META_PID, str(os.getpid()))
        tx.set_meta(META_STARTED, str(now_ms))
        tx.set_meta(META_HEARTBEAT, str(now_ms))


class Heartbeat:
    """The daemon's pulse: the heartbeat it stamps (and the old change rows it
    prunes) every `interval_s`, and whether its scheduler still ticks.

    Intervals are measured on `monotonic` (seconds), stamps are wall-clock epoch-ms
    handed in by the caller.
    """

    def __init__(
        self,
        store: Store,
        monotonic: Callable[[], float],
        interval_s: float = HEARTBEAT_S,
    ) -> None:
        self.store = store
        self.monotonic = monotonic
        self.interval_s = interval_s
        self.last_tick = monotonic()  # APScheduler's own interval job moves this
        self.last_beat: float | None = None  # never: the first round beats
        self.last_prune_ms = 0
        # Several daemons on PostgreSQL (reminders.lease.Leadership): the lease
        # renewal is the heartbeat, and only the leader prunes.
        self.leadership: Any = None

    def ticked(self) -> None:
        """The scheduler is alive: called by its interval job, or by a daemon that
        keeps it paused on purpose."""
        self.last_tick = self.monotonic()

    def due(self, mono: float) -> bool:
        return self.last_beat is None or mono - self.last_beat >= self.interval_s

    def stale(self, mono: float) -> bool:
        """True when the scheduler has not ticked for STALE_AFTER_S."""
        return mono - self.last_tick > STALE_AFTER_S

    def beat(self, now_ms: int) -> None:
        """Stamp the heartbeat and prune old change rows when due (database work)."""
        if self.leadership is not None:  # the lease renewal is the heartbeat here
            if self.leadership.holds() and now_ms - self.last_prune_ms > PRUNE_EVERY_MS:
                with self.store.write() as tx:
                    tx.prune_changes(now_ms - CHANGES_KEPT_MS)
                self.last_prune_ms = now_ms
            return
        with self.store.write() as tx:
            tx.set_meta(META_HEARTBEAT, str(now_ms))
            if now_ms - self.last_prune_ms > PRUNE_EVERY_MS:
                tx.prune_changes(now_ms - CHANGES_KEPT_MS)
                self.last_prune_ms = now_ms
