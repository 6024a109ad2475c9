"""Acting on a delivered reminder (Done, Snooze, nags) and the chat's own settings.

Use-cases like those in `app`, and built on them: a snooze is an ordinary one-shot
made by `app.add`, so it gets the same validation and shows up in the CLI. No
Telegram here: the chat front door calls these and talks to Telegram itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reminders import app, triggers
from reminders.app import AppContext, ReminderSpec
from reminders.errors import ReminderNotFound, ValidationError
from reminders.render import instant
from reminders.schema import Reminder, Run
from reminders.store import Store
from reminders.targets import Target, parse_target
from reminders.transaction import Transaction

_PROMPT_COLUMNS = (
    "run_id", "root_run_id", "reminder_id", "reminder_name", "chat_id", "thread_id",
    "message_id", "text", "parse_mode", "created_at_ms", "nag_every_ms", "nags_left",
    "next_nag_at_ms", "answered_at_ms",
)  # fmt: skip


class StalePress(ValidationError):
    """A button whose message was already answered, or that never was ours."""


@dataclass
class Prompt:
    """A delivered message with buttons (a row of `chat_prompts`)."""

    run_id: int
    root_run_id: int
    reminder_id: str
    reminder_name: str | None
    chat_id: str
    thread_id: int | None
    message_id: int
    text: str
    parse_mode: str | None
    created_at_ms: int
    nag_every_ms: int | None = None
    nags_left: int | None = None
    next_nag_at_ms: int | None = None
    answered_at_ms: int | None = None

    @property
    def target(self) -> Target:
        return parse_target(self.chat_id, self.thread_id)


def _row(prompt: Prompt) -> dict[str, Any]:
    return {name: getattr(prompt, name) for name in _PROMPT_COLUMNS}


def _prompt(row: dict[str, Any] | None) -> Prompt | None:
    return Prompt(**{name: row[name] for name in _PROMPT_COLUMNS}) if row else None


# -- prompts --------------------------------------------------------------------


def save_prompt(tx: Transaction, prompt: Prompt) -> None:
    """Record a prompt; a run resent after a crash replaces its earlier message."""
    tx.run("DELETE FROM chat_prompts WHERE run_id = :id", {"id": prompt.run_id})
    names = ", ".join(_PROMPT_COLUMNS)
    marks = ", ".join(f":{name}" for name in _PROMPT_COLUMNS)
    tx.run(f"INSERT INTO chat_prompts ({names}) VALUES ({marks})", _row(prompt))  # noqa: S608


def get_prompt(tx: Transaction, run_id: int) -> Prompt | None:
    return _prompt(
        tx.one("SELECT * FROM chat_prompts WHERE run_id = :id", {"id": run_id})
    )


def prompt_for_message(
    tx: Transaction, chat_id: int | str, message_id: int
) -> Prompt | None:
    return _prompt(
        tx.one(
            "SELECT * FROM chat_prompts WHERE chat_id = :chat AND message_id = :mid",
            {"chat": str(chat_id), "mid": message_id},
        )
    )


def first_prompt(
    reminder: Reminder, run: Run, target: Target, message_id: int, now_ms: int
) -> Prompt:
    """The prompt for a scheduled delivery (to `target`, the chat and topic it went
    to): the root of its nag chain, if it nags."""
    delivery = reminder.delivery
    every = reminder.nagEveryMs
    return Prompt(
        run_id=run.id,
        root_run_id=run.id,
        reminder_id=reminder.id,
        reminder_name=reminder.name,
        chat_id=str(target.chat_id),
        thread_id=target.thread_id,
        message_id=message_id,
        text=reminder.text,
        parse_mode=delivery.parseMode if delivery else None,
        created_at_ms=now_ms,
        nag_every_ms=every,
        nags_left=(reminder.nagMax or app.DEFAULT_NAG_MAX) if every else None,
        next_nag_at_ms=now_ms + every if every else None,
    )


def nag_prompt(
    root: Prompt, run_id: int, chat_id: int | str, message_id: int, now_ms: int
) -> Prompt:
    """The prompt of a nag's message: its chain's text and target; the chain's
    nag state stays on the root."""
    return replace(
        root,
        run_id=run_id,
        chat_id=str(chat_id),
        message_id=message_id,
        created_at_ms=now_ms,
        nag_every_ms=None,
        nags_left=None,
        next_nag_at_ms=None,
        answered_at_ms=None,
    )


def due_nags(store: Store, now_ms: int) -> list[Prompt]:
    with store.read() as tx:
        rows = tx.rows(
            "SELECT * FROM chat_prompts WHERE next_nag_at_ms <= :now "
            "AND answered_at_ms IS NULL ORDER BY next_nag_at_ms LIMIT 50",
            {"now": now_ms},
        )
    return [p for p in map(_prompt, rows) if p is not None]


def next_nag_at(store: Store) -> int | None:
    with store.read() as tx:
        value = tx.value(
            "SELECT min(next_nag_at_ms) FROM chat_prompts "
            "WHERE answered_at_ms IS NULL AND next_nag_at_ms IS NOT NULL"
        )
    return int(value) if value is not None else None


def postpone_nag(store: Store, root: Prompt, until_ms: int) -> None:
    """Quiet hours: the next nag waits until they end (unless the chain was
    answered or stopped meanwhile: `rm`, `disable`, `--nag off`)."""
    with store.write() as tx:
        tx.run(
            "UPDATE chat_prompts SET next_nag_at_ms = :at WHERE run_id = :id "
            "AND next_nag_at_ms = :seen AND answered_at_ms IS NULL",
            {"at": until_ms, "id": root.run_id, "seen": root.next_nag_at_ms},
        )


def claim_nag(store: Store, root: Prompt, now_ms: int) -> Run | None:
    """Count one nag off the chain and claim its run (`sending`), or None when the
    chain was answered or moved meanwhile."""
    with store.write() as tx:
        current = get_prompt(tx, root.run_id)
        if (
            current is None
            or current.answered_at_ms is not None
            or current.next_nag_at_ms is None
            or current.next_nag_at_ms > now_ms
        ):
            return None
        left = (current.nags_left or 1) - 1
        every = current.nag_every_ms or 0
        taken = tx.run(
            "UPDATE chat_prompts SET nags_left = :left, next_nag_at_ms = :next "
            "WHERE run_id = :id AND next_nag_at_ms = :seen AND answered_at_ms IS NULL",
            {
                "left": left,
                "next": now_ms + every if left > 0 else None,
                "id": root.run_id,
                "seen": current.next_nag_at_ms,
            },
        )
        if taken != 1:
            return None  # another claimer (or a press) got there first
        run_id = tx.insert_run_at_free_slot(
            reminder_id=current.reminder_id,
            reminder_name=current.reminder_name,
            scheduled_for_ms=current.next_nag_at_ms,
            status="sending",
            trigger="nag",
            started_at_ms=now_ms,
        )
        return tx.get_run(run_id)


# -- use-cases ------------------------------------------------------------------


def _answer_chain(
    tx: Transaction, store: Store, prompt: Prompt, response: str, now: int
) -> None:
    """Record the press on its run and stop the chain's nags; StalePress if done."""
    current = get_prompt(tx, prompt.run_id)
    root = get_prompt(tx, prompt.root_run_id)
    if (
        current is None
        or current.answered_at_ms is not None
        or (root is not None and root.answered_at_ms is not None)
    ):
        raise StalePress("This reminder was already answered.")
    tx.run(
        "UPDATE chat_prompts SET answered_at_ms = :now, next_nag_at_ms = NULL "
        "WHERE root_run_id = :root",
        {"now": now, "root": prompt.root_run_id},
    )
    tx.update_run(prompt.run_id, response=response, response_at_ms=now)


def mark_done(ctx: AppContext, prompt: Prompt, zone: str) -> str:
    """Done: recorded on the run; the reminder nags no more. Returns the note."""
    now = ctx.now_ms()
    with ctx.store.write() as tx:
        _answer_chain(tx, ctx.store, prompt, "done", now)
    return f"Done {short_time(now, zone, now)}"


def snooze(ctx: AppContext, prompt: Prompt, choice: str, zone: str) -> Reminder:
    """A one-shot follow-up with the same text and target at `choice` (--at's
    grammar, read in `zone`). The reminder that was delivered is left as it is."""
    with ctx.store.read() as tx:
        current = get_prompt(tx, prompt.run_id)
        original = tx.get(prompt.reminder_id)
    if current is None or current.answered_at_ms is not None:
        raise StalePress("This reminder was already answered.")
    extra: dict[str, Any] = {}
    if original is not None and original.nagEveryMs:
        extra = {"nagEveryMs": original.nagEveryMs, "nagMax": original.nagMax}
    spec = ReminderSpec(
        name=prompt.reminder_name,
        at=choice,
        tz=zone,
        system_event=prompt.text,
        to=prompt.chat_id,
        thread_id=str(prompt.thread_id) if prompt.thread_id else None,
        parse_mode=prompt.parse_mode or "",
        extra={k: v for k, v in extra.items() if v is not None},
    )
    follow_up = app.build_reminder(ctx, spec)
    at = follow_up.state.nextRunAtMs or 0
    now = ctx.now_ms()
    with ctx.store.write() as tx:
        _answer_chain(tx, ctx.store, prompt, f"snoozed until {instant(at, zone)}", now)
        tx.save(follow_up, now)
    return follow_up


def delivered_to(reminder: Reminder, chat_id: int) -> bool:
    delivery = reminder.delivery
    if not reminder.delivers or delivery is None:
        return False
    try:
        return parse_target(delivery.to, delivery.threadId).chat_id == chat_id
    except ValidationError:
        return False


def reminders_for_chat(ctx: AppContext, chat_id: int) -> list[Reminder]:
    """The enabled reminders delivered to this chat, soonest first."""
    found = app.list_reminders(ctx, include_disabled=False)
    return [reminder for reminder in found if delivered_to(reminder, chat_id)]


def cancel_in_chat(ctx: AppContext, ref: str, chat_id: int) -> Reminder:
    """Delete a reminder of this chat; another chat's reminders are not found here."""
    with ctx.store.write() as tx:
        reminder = app.resolve(ctx, ref, tx)
        if not delivered_to(reminder, chat_id):
            raise ReminderNotFound(ref)
        tx.remove(reminder.id, ctx.now_ms())
    return reminder


def _zone_key(chat_id: int | str) -> str:
    return f"chat.{chat_id}.tz"


def chat_zone(ctx: AppContext, chat_id: int | str) -> str:
    """The zone a chat set with /tz, else the configured one."""
    with ctx.store.read() as tx:
        return tx.get_meta(_zone_key(chat_id)) or ctx.default_tz


def set_chat_zone(ctx: AppContext, chat_id: int | str, zone: str) -> str:
    key = triggers.validate_tz(zone.strip()).key
    with ctx.store.write() as tx:
        tx.set_meta(_zone_key(chat_id), key)
    return key


def short_time(ms: int, zone: str, now_ms: int) -> str:
    """18:40 CET today; Sat 29 Nov 09:00 CET on another day."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone))
    today = datetime.fromtimestamp(now_ms / 1000, tz=ZoneInfo(zone)).date()
    name = moment.strftime("%Z")
    name = name if name[:1].isalpha() else zone
    if moment.date() == today:
        return f"{moment:%H:%M} {name}"
    return f"{moment:%a %d %b %H:%M} {name}"
