"""What `status` and `doctor` read: is a daemon running, what the store holds.

Read-only use-cases over the store and the daemon's liveness records (on
PostgreSQL, the lease), so neither command imports the daemon.
"""

from __future__ import annotations

from typing import Any

from reminders.app import AppContext


def daemon_state(ctx: AppContext) -> dict[str, Any]:
    """Is a daemon running, what fires next, counts, recent failures."""
    from reminders.config import bot_token, mask
    from reminders.liveness import META_HEARTBEAT, META_PID, STALE_AFTER_S, daemon_alive

    now = ctx.now_ms()
    with ctx.store.read() as tx:
        heartbeat = tx.get_meta(META_HEARTBEAT)
        pid_text = tx.get_meta(META_PID)
        counts = tx.counts()
        next_due = tx.next_due_at()
        runs = tx.count_runs_since(now - 86_400_000)
        recent = [r for r in tx.runs(limit=200) if r.status == "failed"]
    cluster: dict[str, Any] = {}
    if ctx.store.postgres:  # several daemons: the lease says who runs
        from reminders.lease import daemons_summary

        state, pid, beat_ms, cluster = daemons_summary(ctx.store, now)
    else:
        alive = daemon_alive(ctx)
        beat_ms = int(heartbeat) if heartbeat else None
        fresh = beat_ms is not None and now - beat_ms < STALE_AFTER_S * 1000
        state = "running" if alive and fresh else ("stale" if alive else "stopped")
        pid = int(pid_text) if alive and pid_text else None
    return {
        "daemon": state,
        "pid": pid,
        "heartbeatMs": beat_ms,
        **cluster,
        "nextRunAtMs": next_due,
        "reminders": counts,
        "runsLast24h": runs,
        "recentFailures": [r.model_dump(exclude_none=True) for r in recent[:5]],
        "database": ctx.store.label,
        "config": str(ctx.paths.config),
        "botToken": mask(bot_token(ctx.settings)),
        "timezone": ctx.default_tz,
    }


def mark_checked(ctx: AppContext) -> None:
    """Write one meta row: proves the database is migrated and writable."""
    with ctx.store.write() as tx:
        tx.set_meta("doctor.checked_ms", str(ctx.now_ms()))


def newest_change_ms(ctx: AppContext) -> int:
    """When a reminder was last written (0 when there are none)."""
    with ctx.store.read() as tx:
        return tx.newest_update_ms()


def webhook_urls(ctx: AppContext) -> list[str]:
    """The URL of every webhook reminder."""
    with ctx.store.read() as tx:
        return [r.webhook_url for r in tx.all() if r.webhook_url]
