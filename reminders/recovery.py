"""Crash recovery: finish the runs a stop mid-send left `sending`.

Design decision 6: such a send is ambiguous. It is resent (at-least-once: a
duplicate beats a lost reminder), or closed as failed when
`delivery.on_ambiguous = "skip"`. Each resend is counted as its request is about
to leave. A crash can land after that count and before the request leaves, so a
resend cut off by another crash is resent too, up to MAX_RESENDS in all; then the
run is closed as ambiguous, so a crash loop cannot flood a chat. A run that
cannot be finished is closed with the reason; recovery never raises.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from reminders.errors import ReminderError
from reminders.fire_records import MAX_RESENDS, resends_begun
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
    """Resend one `sending` run (this time), or close it; a run that cannot be
    finished is closed with the reason, and only a database that refuses even
    that raises."""
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
    begun = resends_begun(run)
    if begun >= MAX_RESENDS or firer.on_ambiguous == "skip":
        if firer.on_ambiguous == "skip":
            why = "the daemon stopped mid-send; not resent (on_ambiguous = skip)"
        else:
            why = (
                f"the daemon stopped mid-send {begun + 1} times in a row; "
                f"not resent again after {begun} resends"
            )
        outcome = Outcome("failed", run.messageIds, "AmbiguousSend", why, run.attempts)
        return await firer.complete(reminder, run, outcome, advance)
    log.warning(
        "resending %s (%s) for %s: the daemon stopped mid-send",
        reminder.name,
        reminder.id,
        instant(run.scheduledForMs, "UTC"),
    )
    # Counted when its request is about to leave (fire_send); a crash while it
    # still waits its turn behind others leaves the count as it was.
    return await firer.deliver(reminder, run, advance=advance, resent=True)
