"""What the chat's commands and buttons do: read, call a use-case, answer.

Commands are read by `chat_commands` and carried out by the same use-cases the
CLI calls (`app.add`, `app.remove`, ...) or by `responses` (done, snooze, zones).
Every reply states times absolutely, with their zone. A use-case's refusal is
answered with its one-line message; nothing here raises into the poller.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from reminders import app, render, responses
from reminders.app import ReminderSpec
from reminders.chat_commands import HELP, Command, parse_command
from reminders.errors import ReminderError, ValidationError
from reminders.responses import StalePress, short_time

if TYPE_CHECKING:
    from reminders.chat import ChatService
    from reminders.schema import Reminder

log = logging.getLogger("reminders.chat")

MAX_LISTED = 20
MAX_TEXT = 4096
NOT_OURS = "This button is no longer valid."
SETTLE_TRIES = 20
SETTLE_WAIT_S = 0.1


class _Unsettled(Exception):
    """The run is still being sent: its buttons are not recorded yet."""


@dataclass
class Reply:
    text: str
    markup: Any = None


class Handlers:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.ctx = service.ctx

    @property
    def bot(self) -> Any:
        return self.service.sender.bot

    # -- messages ----------------------------------------------------------------

    async def on_message(self, message: Any) -> None:
        if not self.service.allowed_user(message.from_user, "message"):
            return
        chat_id = message.chat.id
        thread = message.message_thread_id if message.is_topic_message else None
        try:
            zone = await self.service.in_thread(responses.chat_zone, self.ctx, chat_id)
            command = parse_command(
                message.text or "",
                zone=ZoneInfo(zone),
                now_ms=self.ctx.now_ms(),
                bot_username=self.bot.username,
            )
            if command is None:
                return
            reply = await self.service.in_thread(
                self._carry_out, command, chat_id, thread, zone, message
            )
        except ReminderError as exc:
            reply = Reply(str(exc))
        await self._send(chat_id, thread, reply)

    def _carry_out(
        self,
        command: Command,
        chat_id: int,
        thread: int | None,
        zone: str,
        message: Any,
    ) -> Reply:
        """Run one command (in a worker thread: it reads and writes the store)."""
        name = command.name
        if name == "help":
            return Reply(HELP)
        if name == "list":
            return self.list_reply(chat_id, zone)
        if name == "tz":
            if not command.text:
                return Reply(f"Times typed here are read in {zone}.")
            key = responses.set_chat_zone(self.ctx, chat_id, command.text)
            now = render.instant(self.ctx.now_ms(), key)
            return Reply(f"Times typed here are now read in {key} (it is {now}).")
        if name == "cancel":
            gone = responses.cancel_in_chat(self.ctx, command.text or "", chat_id)
            return Reply(f"Cancelled {gone.name} ({gone.id[:8]}).")
        if name == "snooze":
            return self._snooze(command, chat_id, zone, message)
        spec = ReminderSpec(
            system_event=command.text,
            to=str(chat_id),
            thread_id=str(thread) if thread else None,
        )
        if name == "remind":
            spec.at, spec.tz = command.when, zone
        elif name == "every":
            spec.every, spec.starting = command.when, command.starting
            spec.tz = zone if command.starting else None
        else:
            spec.cron, spec.tz = command.when, zone
        return Reply(self._created(app.add(self.ctx, spec), zone))

    def _created(self, reminder: Reminder, zone: str) -> str:
        cron_zone = getattr(reminder.schedule, "tz", None)
        shown = cron_zone or zone  # a cron's own zone, else the chat's
        next_ms = reminder.state.nextRunAtMs
        return (
            f"OK: {reminder.name}\n{render.schedule_text(reminder, shown)}\n"
            f"next: {render.instant(next_ms, shown)}, "
            f"{render.relative(next_ms, self.ctx.now_ms())}\nid {reminder.id[:8]}"
        )

    def _snooze(self, command: Command, chat_id: int, zone: str, message: Any) -> Reply:
        replied = message.reply_to_message
        prompt = None
        if replied is not None:
            with self.ctx.store.read() as db:
                prompt = responses.prompt_for_message(db, chat_id, replied.message_id)
        if prompt is None:
            raise ValidationError(
                "Reply to one of my reminders with /snooze (or /snooze 30m) to have "
                "it again later."
            )
        choice = command.when or self.service.choices[0]
        follow_up = responses.snooze(self.ctx, prompt, choice, zone)
        at = follow_up.state.nextRunAtMs or 0
        return Reply(
            f"Snoozed {prompt.reminder_name or 'it'} until "
            f"{render.instant(at, zone)}, {render.relative(at, self.ctx.now_ms())}."
        )

    def list_reply(self, chat_id: int, zone: str) -> Reply:
        found = responses.reminders_for_chat(self.ctx, chat_id)
        if not found:
            return Reply("No reminders for this chat. Add one: /remind 20m tea")
        now = self.ctx.now_ms()
        lines = [f"Reminders for this chat ({len(found)}), soonest first:"]
        buttons = []
        for number, reminder in enumerate(found[:MAX_LISTED], start=1):
            next_ms = reminder.state.nextRunAtMs
            when = short_time(next_ms, zone, now) if next_ms else "not scheduled"
            kind = (
                ""
                if reminder.is_one_shot
                else f" ({render.schedule_text(reminder, zone)})"
            )
            lines.append(f"{number}. {reminder.name}: {when}{kind} [{reminder.id[:8]}]")
            label = f"Cancel {number}. {reminder.name}"
            label = label if len(label) <= 40 else label[:39] + "…"
            buttons.append(
                [InlineKeyboardButton(label, callback_data=f"c:{reminder.id}")]
            )
        if len(found) > MAX_LISTED:
            lines.append(f"… and {len(found) - MAX_LISTED} more: `reminders list`")
        return Reply("\n".join(lines), InlineKeyboardMarkup(buttons))

    # -- button presses ----------------------------------------------------------

    async def on_press(self, query: Any) -> None:
        if not self.service.allowed_user(query.from_user, "button press"):
            return
        message = query.message
        chat_id = getattr(getattr(message, "chat", None), "id", None)
        message_id = getattr(message, "message_id", None)
        kind, _, rest = (query.data or "").partition(":")
        try:
            if kind in ("d", "s") and chat_id is not None:
                for _ in range(SETTLE_TRIES):  # pressed before the send was recorded
                    try:
                        notice, mark = await self.service.in_thread(
                            self._press, kind, rest, chat_id, message_id
                        )
                        break
                    except _Unsettled:
                        await asyncio.sleep(SETTLE_WAIT_S)
                else:
                    raise StalePress(NOT_OURS)
                original = getattr(message, "text", None) or ""
                await asyncio.gather(
                    self._answer(query, notice),
                    self._edit(
                        chat_id, message_id, _noted(original, f"{mark} {notice}")
                    ),
                )
                return
            if kind == "c" and chat_id is not None:
                zone = await self.service.in_thread(
                    responses.chat_zone, self.ctx, chat_id
                )
                gone = await self.service.in_thread(
                    responses.cancel_in_chat, self.ctx, rest, chat_id
                )
                listing = await self.service.in_thread(self.list_reply, chat_id, zone)
                await asyncio.gather(
                    self._answer(query, f"Cancelled {gone.name}"),
                    self._edit(chat_id, message_id, listing.text, listing.markup),
                )
                return
            raise StalePress(NOT_OURS)
        except ReminderError as exc:
            await self._answer(query, str(exc).splitlines()[0][:190])

    def _press(
        self, kind: str, rest: str, chat_id: int, message_id: int | None
    ) -> tuple[str, str]:
        """Done or Snooze for the run named in the button; only in the chat and on
        the message it was delivered to. Returns (notice, mark)."""
        parts = rest.split(":")
        try:
            run_id = int(parts[0])
            index = int(parts[1]) if kind == "s" else 0
        except (ValueError, IndexError):
            raise StalePress(NOT_OURS) from None
        with self.ctx.store.read() as db:
            prompt = responses.get_prompt(db, run_id)
            run = db.get_run(run_id) if prompt is None else None
        if run is not None and run.status == "sending":
            raise _Unsettled
        if (
            prompt is None
            or prompt.chat_id != str(chat_id)
            or prompt.message_id != message_id
            or not 0 <= index < len(self.service.choices)
        ):
            raise StalePress(NOT_OURS)
        zone = responses.chat_zone(self.ctx, chat_id)
        if kind == "d":
            return responses.mark_done(self.ctx, prompt, zone), "✅"
        choice = self.service.choices[index]
        follow_up = responses.snooze(self.ctx, prompt, choice, zone)
        at = follow_up.state.nextRunAtMs or 0
        return f"Snoozed until {short_time(at, zone, self.ctx.now_ms())}", "💤"

    # -- talking back ------------------------------------------------------------

    async def _answer(self, query: Any, text: str) -> None:
        try:
            await self.bot.answer_callback_query(query.id, text=text)
        except TelegramError as exc:
            log.info("chat: could not answer a button press: %s", exc)

    async def _edit(
        self, chat_id: int, message_id: int | None, text: str, markup: Any = None
    ) -> None:
        if message_id is None:
            return
        try:
            await self.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        except TelegramError as exc:
            log.info("chat: could not edit message %s: %s", message_id, exc)

    async def _send(self, chat_id: int, thread: int | None, reply: Reply) -> None:
        try:
            async with self.service.sender.limiter.turn(chat_id):
                await self.bot.send_message(
                    chat_id,
                    reply.text[:MAX_TEXT],
                    message_thread_id=thread,
                    reply_markup=reply.markup,
                )
        except TelegramError as exc:
            log.info("chat: could not answer in chat %s: %s", chat_id, exc)


def _noted(original: str, note: str) -> str:
    """The delivered text with what happened under it, within Telegram's limit."""
    room = MAX_TEXT - len(note) - 2
    body = original if len(original) <= room else original[: room - 1] + "…"
    return f"{body}\n\n{note}" if body else note
