"""Leadership among daemons sharing one PostgreSQL database, fenced by an epoch.

One row of `lease` says who may fire (holder), until when (expires_at_ms, on the
database's clock) and in which term (epoch). The epoch grows on a takeover only,
never on a renewal, and every claim of a run checks it in the same statement:
a leader that was paused past its lease wakes up unable to claim anything. The
daemon renews every third of the lease and stops firing at once when a renewal
fails, or when its own monotonic clock says the lease may have run out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reminders.clock import monotonic
from reminders.db import Db
from reminders.errors import ReminderError, TransientError
from reminders.pg import IDLE_IN_WRITE_MS, IDLE_LIMIT, NOW_MS
from reminders.store import Store

log = logging.getLogger("reminders.daemon")

LEASE = "scheduler"
STALE_AFTER_MS = 30_000
_RUN_CASTS = {
    "reminder_id": "text", "reminder_name": "text", "scheduled_for_ms": "bigint",
    "started_at_ms": "bigint", "finished_at_ms": "bigint", "status": "text",
    "trigger": "text", "message_ids": "json", "error_class": "text",
    "error_text": "text", "attempts": "integer", "note": "text",
    "delivered_at_ms": "bigint",
}  # fmt: skip
_HOLDS = (
    "SELECT 1 FROM lease WHERE name = :lease AND holder = :holder AND epoch = :epoch "  # noqa: S608
    f"AND expires_at_ms > {NOW_MS}"
)
_REMAINING = f"SELECT expires_at_ms - {NOW_MS} FROM lease WHERE name = :lease"  # noqa: S608
_CLAIM = (
    f"INSERT INTO runs ({', '.join(_RUN_CASTS)}) "
    f"SELECT {', '.join(f'CAST(:{c} AS {t})' for c, t in _RUN_CASTS.items())} "
    f"WHERE EXISTS ({_HOLDS} FOR SHARE) ON CONFLICT DO NOTHING RETURNING id"
)
_ACQUIRE = f"""
INSERT INTO lease (name, holder, epoch, expires_at_ms)
VALUES (:lease, :holder, 1, {NOW_MS} + :ttl)
ON CONFLICT (name) DO UPDATE SET
    holder = excluded.holder,
    expires_at_ms = excluded.expires_at_ms,
    epoch = CASE WHEN lease.holder = excluded.holder
                  AND lease.expires_at_ms >= {NOW_MS}
            THEN lease.epoch ELSE lease.epoch + 1 END
WHERE lease.expires_at_ms < {NOW_MS} OR lease.holder = excluded.holder
RETURNING epoch
"""  # noqa: S608 - fixed text
_BEAT = f"""
INSERT INTO daemons (id, host, pid, role, epoch, started_at_ms, heartbeat_at_ms)
VALUES (:id, :host, :pid, :role, :epoch, {NOW_MS}, {NOW_MS})
ON CONFLICT (id) DO UPDATE SET role = excluded.role, epoch = excluded.epoch,
    heartbeat_at_ms = excluded.heartbeat_at_ms
"""  # noqa: S608 - fixed text


class LeaseLost(TransientError):
    """This daemon no longer holds the scheduler lease: it must not claim or send."""


def claim_run(db: Db, fence: tuple[str, int], values: dict[str, Any]) -> int | None:
    """Insert a run while `fence` (holder, epoch) holds the lease, in one statement.

    None: the slot already has a run. LeaseLost: the epoch is no longer current.
    The lease row is read FOR SHARE, so a takeover waits for this transaction.
    """
    holder, epoch = fence
    params = {**values, "lease": LEASE, "holder": holder, "epoch": epoch}
    # The claim holds the lease row until commit: a claimer paused before it
    # commits must not keep a standby from taking over for longer than this.
    db.value(f"SELECT {IDLE_LIMIT}", {"idle_limit": str(IDLE_IN_WRITE_MS)})
    run_id = db.value(_CLAIM, params)
    if run_id is not None:
        return int(run_id)
    if db.value(_HOLDS, params) is None:
        raise LeaseLost(f"the lease moved on from epoch {epoch}; run not claimed")
    return None


class Leadership:
    """This daemon's right to fire, as the firer checks it before claim and send."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.epoch: int | None = None
        self.valid_until = 0.0  # monotonic; the lease surely runs past this

    def holds(self) -> bool:
        return self.epoch is not None and monotonic() < self.valid_until

    def fence(self) -> tuple[str, int]:
        if self.epoch is None or not self.holds():
            raise LeaseLost("this daemon is not the leader now")
        return self.holder, self.epoch


def new_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The statements on `lease` and `daemons`, each in its own short transaction."""

    def __init__(self, store: Store, holder: str, ttl_ms: int) -> None:
        self.store = store
        self.holder = holder
        self.ttl_ms = ttl_ms

    def _limits(self, db: Db) -> None:
        """A renewal that waits, or a daemon paused in the middle of one (holding
        the lease row), gives up within a third of the lease."""
        timeout = max(self.ttl_ms // 3, 1000)
        db.value(
            "SELECT set_config('lock_timeout', :ms, true), "
            "set_config('statement_timeout', :ms, true), "
            "set_config('idle_in_transaction_session_timeout', :ms, true)",
            {"ms": str(timeout)},
        )

    def attempt(self, leading: bool) -> tuple[int | None, int]:
        """Take or renew the lease and beat; returns (epoch or None, ms to expiry)."""
        with self.store.write() as db:
            self._limits(db)
            params = {"lease": LEASE, "holder": self.holder, "ttl": self.ttl_ms}
            epoch = db.value(_ACQUIRE, params)
            remaining = self.ttl_ms
            if epoch is None:
                remaining = int(db.value(_REMAINING, params) or 0)
            db.run(
                _BEAT,
                {
                    "id": self.holder,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "role": "leader" if epoch is not None else "standby",
                    "epoch": epoch,
                },
            )
            return (int(epoch) if epoch is not None else None), remaining

    def release(self) -> None:
        """On a clean stop: let a standby take over at once, and leave the list."""
        with self.store.write() as db:
            self._limits(db)
            db.run(
                f"UPDATE lease SET expires_at_ms = {NOW_MS} - 1 "  # noqa: S608
                "WHERE name = :lease AND holder = :holder",
                {"lease": LEASE, "holder": self.holder},
            )
            db.run("DELETE FROM daemons WHERE id = :id", {"id": self.holder})
            db.run(
                f"DELETE FROM daemons WHERE heartbeat_at_ms < {NOW_MS} - 86400000"  # noqa: S608
            )


def cluster_state(store: Store) -> dict[str, Any]:
    """The lease and every daemon seen in the last minute, on the database's clock."""
    with store.read() as db:
        now = int(db.value(f"SELECT {NOW_MS}"))
        lease = db.one(
            "SELECT holder, epoch, expires_at_ms FROM lease WHERE name = :lease",
            {"lease": LEASE},
        )
        rows = db.rows(
            "SELECT id, host, pid, role, epoch, started_at_ms, heartbeat_at_ms "
            "FROM daemons WHERE heartbeat_at_ms > :since ORDER BY role, host, pid",
            {"since": now - 60_000},
        )
    fresh_lease = bool(lease and lease["holder"] and lease["expires_at_ms"] > now)
    daemons = []
    for row in rows:
        fresh = now - int(row["heartbeat_at_ms"]) < STALE_AFTER_MS
        leading = fresh_lease and lease is not None and row["id"] == lease["holder"]
        daemons.append(
            {
                "id": row["id"],
                "host": row["host"],
                "pid": int(row["pid"]),
                "role": "leader" if leading else ("standby" if fresh else "stale"),
                "epoch": row["epoch"],
                "heartbeatMs": int(row["heartbeat_at_ms"]),
                "heartbeatAgoMs": now - int(row["heartbeat_at_ms"]),
            }
        )
    return {
        "dbNowMs": now,
        "lease": {
            "holder": lease["holder"] if lease else None,
            "epoch": int(lease["epoch"]) if lease else 0,
            "expiresAtMs": int(lease["expires_at_ms"]) if lease else None,
            "fresh": fresh_lease,
        },
        "daemons": daemons,
    }


def daemons_summary(
    store: Store, now: int
) -> tuple[str, int | None, int | None, dict[str, Any]]:
    """For `status`: running when a daemon leads on a fresh lease; its pid and
    heartbeat (moved from the database's clock onto the caller's `now`)."""
    cluster = cluster_state(store)
    for daemon in cluster["daemons"]:
        daemon["heartbeatMs"] = now - daemon["heartbeatAgoMs"]
    leaders = [d for d in cluster["daemons"] if d["role"] == "leader"]
    if leaders:
        return "running", leaders[0]["pid"], leaders[0]["heartbeatMs"], cluster
    return ("no leader" if cluster["daemons"] else "stopped"), None, None, cluster


class Elector:
    """Takes and renews the lease every third of its length; tells the daemon when
    it became leader (a new epoch) and when it must stop firing."""

    def __init__(
        self,
        lease: Lease,
        leadership: Leadership,
        on_elected: Callable[[int], Awaitable[None]],
        on_lost: Callable[[str], None],
    ) -> None:
        self.lease = lease
        self.leadership = leadership
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.ttl_s = lease.ttl_ms / 1000
        self._failing = False

    def step_down(self, why: str) -> None:
        if self.leadership.epoch is not None:
            self.leadership.epoch = None
            self.leadership.valid_until = 0.0
            self.on_lost(why)

    async def run(self, stop: asyncio.Event) -> None:
        # The lease has a thread (and so a connection) of its own: a renewal never
        # waits behind the claims and sends of a burst in the shared pool.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reminders-lease")
        try:
            await self._run(stop, thread)
        finally:
            thread.shutdown(wait=False)

    async def _run(self, stop: asyncio.Event, thread: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        period = self.ttl_s / 3
        delay = 0.5
        while not stop.is_set():
            started = monotonic()
            leading = self.leadership.epoch is not None
            try:
                epoch, remaining_ms = await asyncio.wait_for(
                    loop.run_in_executor(thread, self.lease.attempt, leading),
                    timeout=period,
                )
            except (ReminderError, TimeoutError) as exc:
                why = str(exc) or "the database did not answer in time"
                self.step_down(f"renewal failed: {why}")
                if not self._failing:
                    log.warning(
                        "cannot reach the lease (%s); retrying with backoff", why
                    )
                    self._failing = True
                await _sleep(stop, delay)
                delay = min(delay * 2, period)
                continue
            if self._failing:
                log.info("database reachable again")
                self._failing, delay = False, 0.5
            if epoch is None:
                self.step_down("another daemon holds the lease")
                wait = min(period, max(remaining_ms / 1000 + 0.05, 0.05))
            else:
                # `started` precedes the database's now(), so the lease runs at least
                # until started + ttl; keep a tenth of it as margin for clock rates.
                self.leadership.valid_until = started + self.ttl_s * 0.9
                if epoch != self.leadership.epoch:
                    self.leadership.epoch = epoch
                    await self.on_elected(epoch)
                wait = period - (monotonic() - started)
            await _sleep(stop, max(wait, 0.0))


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
