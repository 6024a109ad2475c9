"""Change pick-up on PostgreSQL: writers NOTIFY, the daemon LISTENs.

The `changes` table stays the durable record: a notification only says "look
now". A listener that lost its connection says so as well, so the daemon re-reads
the changes table after every reconnect and nothing sent meanwhile is lost. A
periodic re-read covers a peer that died without a word.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from reminders import pg
from reminders.clock import monotonic

log = logging.getLogger("reminders.daemon")

RESYNC_EVERY_S = 30.0
RETRY_MAX_S = 10.0


def before_change(db: Any) -> None:
    """Inside a write to `reminders`: order revisions by commit, and tell listeners.

    The transaction lock makes revisions visible in the order they were handed out
    (a reader asking for "after N" never skips a revision committed late); the
    NOTIFY is delivered at commit, folded into one per transaction. A writer that
    is paused while it holds the lock loses its session after IDLE_IN_WRITE_MS.
    """
    db.value(
        f"SELECT {pg.IDLE_LIMIT}, pg_advisory_xact_lock(:key), pg_notify(:channel, '')",
        {
            "idle_limit": str(pg.IDLE_IN_WRITE_MS),
            "key": pg.CHANGES_LOCK,
            "channel": pg.CHANNEL,
        },
    )


class ChangeListener:
    """A thread holding one LISTEN connection; `take()` says whether to re-read."""

    def __init__(self, url: str, on_change: Callable[[], None]) -> None:
        self.url = url
        self.on_change = on_change
        self._pending = True  # the first look is a full re-read
        self._last_resync = monotonic()
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(
            target=self._run, name="reminders-listen", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def take(self) -> bool:
        """True when a change may have happened since the last call."""
        if monotonic() - self._last_resync > RESYNC_EVERY_S:
            self._pending = True
        pending, self._pending = self._pending, False
        if pending:
            self._last_resync = monotonic()
        return pending

    def force(self) -> None:
        """Make the next `take()` true (a re-read that failed)."""
        self._pending = True

    def _signal(self) -> None:
        self._pending = True
        self.on_change()

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        failing = False
        while not self._stop.is_set():
            try:
                conn = psycopg.connect(
                    pg.conninfo(self.url), autocommit=True, **pg.connect_args()
                )
            except psycopg.Error as exc:
                if not failing:
                    log.warning(
                        "change listener cannot connect to %s (%s); retrying",
                        pg.host_of(self.url),
                        pg.translate(exc, self.url),
                    )
                    failing = True
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            try:
                conn.execute(f"LISTEN {pg.CHANNEL}")
                if failing:
                    log.info("change listener connected again; re-reading changes")
                failing, delay = False, 0.5
                self._signal()  # whatever happened while we were away
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=1.0):
                        self._signal()
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning(
                        "change listener lost its connection (%s); reconnecting",
                        pg.translate(exc, self.url),
                    )
                    failing = True
            finally:
                conn.close()
