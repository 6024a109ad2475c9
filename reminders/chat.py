"""The chat front door: long polling, buttons on reminders, nags, quiet hours.

Opt-in (`[telegram] interactive = true`). The daemon polls `getUpdates` with the
same bot, on its own event loop, as a task of its own: python-telegram-bot sends
getUpdates through a connection of its own, so a send never waits for a poll. No
webhook, no listening socket. Only `allowed_users` are answered; everyone else is
ignored with one (rate-limited) log line. What the commands and buttons do is in
`reminders.chat_handlers`; the rules behind them are the use-cases in `app` and
`responses`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from reminders import responses
from reminders.app import AppContext
from reminders.clock import monotonic
from reminders.config import bot_token, check_chat
from reminders.errors import DeliveryFailure, ReminderError
from reminders.quiet import QuietHours, parse_quiet_hours
from reminders.targets import Target

if TYPE_CHECKING:
    from reminders.delivery import SendResult, TelegramSender
    from reminders.schema import Reminder, Run

log = logging.getLogger("reminders.chat")
T = TypeVar("T")

POLL_TIMEOUT_S = 25  # Telegram holds a getUpdates this long when nothing happens
BACKOFF_CAP_S = 60.0
NAG_CHECK_S = 5.0
STRANGER_LOG_EVERY_S = 60.0
UPDATES = ["message", "callback_query"]


def snooze_label(choice: str) -> str:
    words = choice.strip().split()
    if words and words[0].lower() == "tomorrow":
        return "Tomorrow" if len(words) <= 2 else f"Tomorrow {' '.join(words[1:])}"
    return f"Snooze {choice.strip()}"


def reminder_buttons(run_id: int, choices: list[str]) -> InlineKeyboardMarkup:
    """Done / Snooze ... / Tomorrow; the data names the run: d:RUN, s:RUN:CHOICE."""
    snoozes = [
        InlineKeyboardButton(snooze_label(choice), callback_data=f"s:{run_id}:{index}")
        for index, choice in enumerate(choices)
    ]
    done = InlineKeyboardButton("Done", callback_data=f"d:{run_id}")
    rows = [[done, *snoozes[:1]], snoozes[1:]]
    return InlineKeyboardMarkup([row for row in rows if row])


class Backoff:
    """Exponential, with jitter, capped: how long to wait after a failed poll."""

    def __init__(self, first: float = 1.0, cap: float = BACKOFF_CAP_S) -> None:
        self.first, self.cap, self.current = first, cap, 0.0

    def next(self) -> float:
        self.current = min(self.cap, self.current * 2 if self.current else self.first)
        return self.current * random.uniform(0.75, 1.0)  # noqa: S311 (jitter)

    def reset(self) -> None:
        self.current = 0.0


class ChatService:
    """The daemon's chat: hooks for scheduled sends, the poller and the nagger."""

    def __init__(self, ctx: AppContext, sender: TelegramSender) -> None:
        check_chat(ctx.settings)
        self.ctx = ctx
        self.sender = sender
        telegram = ctx.settings.telegram
        self.interactive = telegram.interactive and bot_token(ctx.settings) is not None
        self.allowed = set(telegram.allowed_users)
        self.choices = list(telegram.snooze_choices)
        self.quiet: QuietHours | None = parse_quiet_hours(
            ctx.settings.general.quiet_hours, ctx.default_tz
        )
        self.poll_timeout = POLL_TIMEOUT_S
        self._tasks: list[asyncio.Task[Any]] = []
        self._handling: set[asyncio.Task[Any]] = set()
        self._nag_wake = asyncio.Event()
        self._strangers: dict[int, float] = {}
        # The chat's database work has a thread of its own: a slow /list never
        # holds up the threads that claim and record scheduled sends.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reminders-chat")
        self.conflicted = False
        from reminders.chat_handlers import Handlers

        self.handlers = Handlers(self)

    # -- hooks for the Firer (scheduled sends) -----------------------------------

    def send_options(self, reminder: Reminder, run: Run) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.quiet is not None and self.quiet.contains(self.ctx.now_ms()):
            options["silent"] = True
        if self.interactive:
            options["reply_markup"] = reminder_buttons(run.id, self.choices)
        return options

    async def delivered(
        self, reminder: Reminder, run: Run, target: Any, result: SendResult
    ) -> None:
        """Remember the message that carries the buttons (never fails the send)."""
        if not self.interactive or not result.message_ids:
            return
        thread = None if result.thread_dropped else target.thread_id
        prompt = responses.first_prompt(
            reminder,
            run,
            Target(result.chat_id, thread),
            result.message_ids[-1],
            self.ctx.now_ms(),
        )
        if prompt.next_nag_at_ms is not None and self.quiet is not None:
            prompt.next_nag_at_ms = self.quiet.end_after(prompt.next_nag_at_ms)
        try:
            await asyncio.to_thread(self._save_prompt, prompt)
        except Exception:
            log.exception("could not record the buttons of run %s", run.id)
            return
        if prompt.next_nag_at_ms is not None:
            self._nag_wake.set()

    async def in_thread(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking (database) work on the chat's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    def _save_prompt(self, prompt: responses.Prompt) -> None:
        with self.ctx.store.write() as db:
            responses.save_prompt(db, prompt)

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if not self.interactive:
            if self.ctx.settings.telegram.interactive:
                log.warning("telegram.interactive is on, but there is no bot token")
            return
        if self._tasks:
            return  # already polling
        self._tasks = [
            asyncio.create_task(self._poll_forever(), name="chat-poll"),
            asyncio.create_task(self._nag_forever(), name="chat-nag"),
        ]
        log.info(
            "chat: polling for commands and button presses from %d allowed user(s)",
            len(self.allowed),
        )

    def pause(self) -> None:
        """Stop polling and nagging until start() (a daemon that lost the lease)."""
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=10)
        self._executor.shutdown(wait=False)

    # -- polling -------------------------------------------------------------------

    async def _bot(self) -> Any:
        """The sender's Bot, opening it when Telegram was unreachable at start."""
        backoff = Backoff()
        while self.sender.bot is None:
            try:
                await self.sender.start()
            except Exception as exc:  # unreachable or a bad token: keep trying
                log.debug("chat: bot not open yet: %s", exc)
                await asyncio.sleep(backoff.next())
        return self.sender.bot

    async def _poll_forever(self) -> None:
        offset: int | None = None
        backoff = Backoff()
        while True:
            bot = await self._bot()
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=UPDATES
                )
            except Conflict as exc:
                self._on_conflict(exc)
                await asyncio.sleep(backoff.next())
                continue
            except RetryAfter as exc:
                from reminders.telegram_replies import retry_after_seconds

                await asyncio.sleep(retry_after_seconds(exc))
                continue
            except InvalidToken:
                log.error("chat: Telegram rejected the bot token; polling paused")
                await asyncio.sleep(backoff.next())
                continue
            except TelegramError as exc:  # network trouble, timeouts, 5xx
                log.info("chat: polling failed (%s); trying again", exc)
                await asyncio.sleep(backoff.next())
                continue
            except Exception:  # an update python-telegram-bot cannot read
                offset = await self._skip_unreadable(bot, offset)
                await asyncio.sleep(backoff.next())
                continue
            if self.conflicted:
                log.info("chat: polling works again")
                self.conflicted = False
            backoff.reset()
            for update in updates:
                offset = max(offset or 0, update.update_id + 1)
                self._handle_soon(update)

    def _on_conflict(self, exc: Conflict) -> None:
        if self.conflicted:
            return
        self.conflicted = True
        if "webhook" in exc.message.lower():
            fix = "delete the bot's webhook (deleteWebhook), or give reminders a bot "
            fix += "token of its own"
        else:
            fix = "give reminders a bot token of its own, or turn polling off in the "
            fix += "other program (an OpenClaw gateway's Telegram channel, typically)"
        log.warning(
            "chat: Telegram answered 409 Conflict (%s): another program polls this "
            "bot. Reminders are still delivered; buttons and commands wait. To fix it, "
            "%s. Polling retries with backoff.",
            exc.message,
            fix,
        )

    async def _skip_unreadable(self, bot: Any, offset: int | None) -> int | None:
        """Read the batch as plain JSON and step over updates that do not parse,
        so one malformed update cannot wedge the poller."""
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = await bot.do_api_request(
                    "get_updates",
                    api_kwargs={
                        "offset": offset,
                        "timeout": 0,
                        "allowed_updates": UPDATES,
                    },
                )
        except Exception as exc:
            log.warning("chat: could not read updates (%s)", exc)
            return offset
        for item in raw if isinstance(raw, list) else []:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                continue
            offset = max(offset or 0, update_id + 1)
            try:
                update = Update.de_json(item, bot)
            except Exception:
                log.warning("chat: skipped update %s that could not be read", update_id)
                continue
            if update is not None:
                self._handle_soon(update)
        return offset

    def _handle_soon(self, update: Update) -> None:
        task = asyncio.create_task(self._handle_safely(update))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle_safely(self, update: Update) -> None:
        try:
            if update.callback_query is not None:
                await self.handlers.on_press(update.callback_query)
            elif update.message is not None:
                await self.handlers.on_message(update.message)
        except Exception:
            log.exception("chat: handling update %s failed", update.update_id)

    def allowed_user(self, user: Any, what: str) -> bool:
        """Is this user on the list? A stranger is logged, at most once a minute."""
        user_id = getattr(user, "id", None)
        if user_id in self.allowed:
            return True
        now = monotonic()
        key = user_id if isinstance(user_id, int) else 0
        if (
            now - self._strangers.get(key, -STRANGER_LOG_EVERY_S)
            >= STRANGER_LOG_EVERY_S
        ):
            self._strangers[key] = now
            if len(self._strangers) > 1000:
                self._strangers.clear()
            log.info(
                "chat: ignored a %s from user %s, who is not in telegram.allowed_users",
                what,
                user_id,
            )
        return False

    # -- nags ------------------------------------------------------------------------

    async def _nag_forever(self) -> None:
        failing = ""
        while True:
            try:
                await self.nag_due()
                next_at = await self.in_thread(responses.next_nag_at, self.ctx.store)
                failing = ""
            except ReminderError as exc:  # the database refuses: say so once
                if str(exc) != failing:
                    log.warning("chat: nags wait: %s", exc)
                failing, next_at = str(exc), None
            except Exception:
                log.exception("chat: nagging failed; trying again")
                next_at = None
            wait = NAG_CHECK_S
            if next_at is not None:
                wait = max(0.05, min(NAG_CHECK_S, (next_at - self.ctx.now_ms()) / 1000))
            self._nag_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nag_wake.wait(), timeout=wait)

    async def nag_due(self) -> None:
        now = self.ctx.now_ms()
        for root in await self.in_thread(responses.due_nags, self.ctx.store, now):
            if self.quiet is not None and self.quiet.contains(now):
                end = self.quiet.end_after(now)
                await self.in_thread(responses.postpone_nag, self.ctx.store, root, end)
                continue
            run = await self.in_thread(responses.claim_nag, self.ctx.store, root, now)
            if run is not None:
                await self._send_nag(root, run)

    async def _send_nag(self, root: responses.Prompt, run: Run) -> None:
        try:
            result = await self.sender.send(
                root.target,
                root.text,
                parse_mode=root.parse_mode,
                reply_markup=reminder_buttons(run.id, self.choices),
            )
        except DeliveryFailure as failure:
            await self.in_thread(self._finish_nag, run, None, None, failure)
            return
        await self.in_thread(self._finish_nag, run, root, result, None)

    def _finish_nag(
        self,
        run: Run,
        root: responses.Prompt | None,
        result: SendResult | None,
        failure: Any,
    ) -> None:
        now = self.ctx.now_ms()
        store = self.ctx.store
        if result is None or root is None:
            outcome = {"status": "failed", "error_class": failure.error_class}
            outcome |= {"error_text": failure.text, "attempts": len(failure.attempts)}
        else:
            outcome = {"status": "sent", "message_ids": result.message_ids}
            outcome |= {"attempts": len(result.attempts)}
        outcome["attempts"] = max(outcome["attempts"], 1)
        with store.write() as db:
            db.update_run(run.id, finished_at_ms=now, **outcome)
            if result is None or root is None:
                return
            prompt = responses.nag_prompt(
                root, run.id, result.chat_id, result.message_ids[-1], now
            )
            responses.save_prompt(db, prompt)
        log.info(
            "nagged %s (%s) again, run %s", root.reminder_name, root.reminder_id, run.id
        )
