"""The send step of the fire path: a claimed run goes out over its channel.

Telegram (through the daemon's sender, with the chat's quiet hours and buttons as
hooks) or a webhook; each channel sends on its own. Whatever happens becomes an
Outcome for the record step; nothing here writes anything but the message ids of
a long text's parts as they go out (only a crash needs them on disk).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from reminders.errors import ReminderError, ValidationError
from reminders.fire_rules import Outcome
from reminders.ratelimit import Stopped
from reminders.schema import Reminder, Run
from reminders.targets import parse_target

if TYPE_CHECKING:
    from reminders.delivery import SendResult
    from reminders.firing import Firer

log = logging.getLogger("reminders.fire")


class Sender(Protocol):
    async def send(self, target: Any, text: str, **options: Any) -> SendResult: ...


class FireHooks(Protocol):
    """What the daemon adds to a scheduled send: quiet hours, the chat's buttons."""

    def send_options(self, reminder: Reminder, run: Run) -> dict[str, Any]: ...

    async def delivered(
        self, reminder: Reminder, run: Run, target: Any, result: SendResult
    ) -> None: ...


async def send_alert(sender: Sender, to: str, text: str) -> None:
    """A failure alert; one that cannot be delivered is logged, never raised."""
    from reminders.delivery import DeliveryFailure

    try:
        await sender.send(parse_target(to), text)
    except (DeliveryFailure, ValidationError) as exc:
        log.warning("failure alert to %s not delivered: %s", to, exc)


class _NotOurs(Exception):
    """The run is no longer this daemon's to send (see `_marker`)."""


def _marker(firer: Firer, run: Run) -> Callable[[], Awaitable[None]]:
    """Count a resend just before its first request leaves (recovery stops after
    MAX_RESENDS), while a crash before it (the resend still queued behind others)
    leaves the count as it was for whoever runs next."""

    async def mark() -> None:
        try:
            marked = await firer.write(firer.records.mark_resending, run)
        except ReminderError:
            if firer.leadership is None:
                raise
            marked = False  # the lease or the connection went: the leader resends
        if not marked:  # or it was finished meanwhile by the daemon that claimed it
            raise _NotOurs

    return mark


async def send_run(
    firer: Firer, reminder: Reminder, run: Run, *, resent: bool = False
) -> Outcome:
    """Send a claimed run over its channel; the outcome says what happened. A
    resend (crash recovery) is counted right before it goes out."""
    try:
        return await _send_run(
            firer, reminder, run, _marker(firer, run) if resent else None
        )
    except _NotOurs:
        return Outcome("interrupted", list(run.messageIds))


async def _send_run(
    firer: Firer,
    reminder: Reminder,
    run: Run,
    before_request: Callable[[], Awaitable[None]] | None,
) -> Outcome:
    if firer.leadership is not None and not firer.leadership.holds():
        # A leader paused past its lease between claim and send sends nothing and
        # records nothing: the run stays `sending` and the daemon that took over
        # resends it (a failure written here would overwrite its outcome).
        log.warning(
            "%s (%s) not sent: this daemon lost the lease after claiming it",
            reminder.name,
            reminder.id,
        )
        return Outcome("interrupted", list(run.messageIds))
    if not reminder.delivers:
        return Outcome("skipped", [], note="delivery mode none: nothing sent")
    if reminder.webhook_url is not None:  # each channel sends on its own
        if before_request is not None:
            await before_request()
        return await _send_webhook(firer, reminder, run)
    delivery = reminder.delivery
    try:
        target = parse_target(
            delivery.to if delivery else None,
            delivery.threadId if delivery else None,
        )
    except ValidationError as exc:
        return Outcome(
            "failed",
            [],
            "NoTarget",
            f"{exc} Fix it with `reminders edit {reminder.id} --to CHAT`.",
        )
    sent_ids = list(run.messageIds)

    async def on_part(index: int, message_id: int) -> None:
        sent_ids.append(message_id)
        # Only a crash needs it on disk; the outcome carries the ids anyway, so a
        # database that refuses it now (busy, full, a server restarting) is no
        # reason to call the send failed.
        with contextlib.suppress(ReminderError):
            await firer.parts.note(run.id, sent_ids)

    from reminders.delivery import DeliveryFailure

    parse_mode = (delivery.parseMode if delivery else None) or firer.parse_mode or None
    extra = firer.hooks.send_options(reminder, run) if firer.hooks else {}
    try:
        result = await firer.sender.send(
            target,
            reminder.text,
            parse_mode=parse_mode,
            silent=bool(delivery and delivery.silent) or extra.pop("silent", False),
            skip_parts=len(run.messageIds),
            on_part=on_part,
            before_request=before_request,
            **extra,
        )
    except DeliveryFailure as failure:
        if failure.error_class == Stopped.__name__:
            # Nothing of it may have gone out: undo the claim. Otherwise the run
            # stays `sending`, for crash recovery.
            unsent = len(sent_ids) == len(run.messageIds) and not failure.ambiguous
            return Outcome("released" if unsent else "interrupted", sent_ids)
        return Outcome(
            "failed",
            sent_ids,
            failure.error_class,
            failure.text,
            len(failure.attempts),
            note="; ".join(failure.attempts) or None,
        )
    if firer.hooks is not None:
        await firer.hooks.delivered(reminder, run, target, result)
    notes = list(result.warnings)
    if len(result.attempts) > 1:  # every attempt's outcome stays on the run
        notes.append("attempts: " + "; ".join(result.attempts))
    if result.plain_fallback:
        notes.append("markup rejected; sent as plain text")
    return Outcome(
        "sent",
        list(run.messageIds) + list(result.message_ids),
        attempts=len(result.attempts),
        note="; ".join(notes) or None,
        new_chat_id=result.chat_id if result.chat_id != target.chat_id else None,
    )


async def _send_webhook(firer: Firer, reminder: Reminder, run: Run) -> Outcome:
    from reminders.delivery import DeliveryFailure

    try:
        result = await firer.webhook.deliver(reminder, run)
    except ValidationError as exc:
        return Outcome(
            "failed",
            [],
            "NoTarget",
            f"{exc} Fix it with `reminders edit {reminder.id} --webhook URL`.",
        )
    except DeliveryFailure as failure:
        return Outcome(
            "failed",
            [],
            failure.error_class,
            failure.text,
            len(failure.attempts),
            note="; ".join(failure.attempts) or None,
        )
    return Outcome("sent", [], attempts=len(result.attempts), note=result.note)
