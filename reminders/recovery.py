"""Crash recovery: finish the runs a stop mid-send left `sending`.

Design decision 6: such a send is ambiguous. It is resent once (at-least-once: a
duplicate beats a lost reminder), marked as its request leaves so a crash during
the resend does not lead to another (a crash while it still waits its turn leaves
it to be resent), or closed as failed when `delivery.on_ambiguous = "skip"`.
A run that cannot be finished is closed with the reason; recovery never raises.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from reminders.errors import ReminderError
from reminders.fire_records import RESENDING
from reminders.fire_rules import Outcome
from reminders.render import instant
from reminders.schema import Run

if TYPE_CHECKING:
    from reminders.firing import Firer

log = logging.getLogger("reminders.fire")


async def recover(firer: Firer) -> list[Run]:
    """Finish the runs a crash left `sending`, all at once (the rate limiter
    paces their sends). Never raises: a run that cannot be finished is closed
    with the reason, and the others go on."""
    stuck = await asyncio.to_thread(firer.records.stuck_runs)
    done = await asyncio.gather(*(recover_run(firer, run) for run in stuck))
    return [run for run in done if run is not None]


async def recover_run(firer: Firer, run: Run) -> Run | None:
    """Resend one `sending` run once, or close it; never raises."""
    try:
        return await _recover_run(firer, run)
    except Exception as exc:
        if firer.leadership is not None and isinstance(exc, ReminderError):
            # The lease or the connection went: whoever leads resends it.
            log.warning("run %s not recovered now: %s", run.id, exc)
            return None
        log.exception("recovering run %s of %s failed", run.id, run.reminderId)
        why = f"recovery failed ({type(exc).__name__}: {exc})"
        await firer.write(firer.records.close, run, "RecoveryFailed", why)
        return None


async def _recover_run(firer: Firer, run: Run) -> Run | None:
    records = firer.records
    if not await asyncio.to_thread(records.still_sending, run.id):
        return None  # finished meanwhile by the daemon that claimed it
    if run.trigger == "nag":  # the chat's re-send: its chain's next nag follows
        why = "the daemon stopped mid-nag"
        await asyncio.to_thread(records.close, run, "Orphaned", why)
        return None
    reminder = await asyncio.to_thread(records.load, run.reminderId)
    if reminder is None:
        await firer.write(
            records.close, run, "Orphaned", "the reminder was deleted meanwhile"
        )
        return None
    advance = run.trigger != "manual"
    if run.errorClass == RESENDING or firer.on_ambiguous == "skip":
        why = "the daemon stopped again while resending it; not resent twice"
        if run.errorClass != RESENDING:
            why = "the daemon stopped mid-send; not resent (on_ambiguous = skip)"
        outcome = Outcome("failed", run.messageIds, "AmbiguousSend", why, run.attempts)
        return await firer.complete(reminder, run, outcome, advance)
    log.warning(
        "resending %s (%s) for %s: the daemon stopped mid-send",
        reminder.name,
        reminder.id,
        instant(run.scheduledForMs, "UTC"),
    )
    # Marked when its request is about to leave (fire_send), so a crash during
    # the resend does not lead to another.
    return await firer.deliver(reminder, run, advance=advance, resent=True)
