"""The Telegram sender (the chat, in `reminders.chat`, polls with the same Bot).

`TelegramSender` holds one Bot (`telegram_bot`), splits long text (`textsplit`),
paces sends (`ratelimit`), follows the rules for each failure (`telegram_rules`)
within one deadline and backoff (`retry`), and turns every failure into a
`DeliveryFailure`: permanent (chat not found, bot blocked, bad token), temporary
(flood control, 5xx, network) or ambiguous (the request went out but no answer came
back, so the message may have arrived).
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram import Bot, LinkPreviewOptions
from telegram.error import ChatMigrated, TelegramError
from telegram.request import BaseRequest

# Raised by send(); callers may import it from here or from reminders.errors.
from reminders.errors import DeliveryFailure as DeliveryFailure
from reminders.ratelimit import RateLimiter, Stopped
from reminders.retry import Deadline, backoff
from reminders.targets import Target
from reminders.telegram_bot import BotHolder
from reminders.telegram_replies import quiet_retry_after_warning, send_message
from reminders.telegram_rules import (
    Action,
    Change,
    Course,
    Decision,
    classify,
    describe,
    explain,
    maybe_sent,
)
from reminders.textsplit import split_text

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "No bot token configured: set REMINDERS_TELEGRAM_BOT_TOKEN or "
    "telegram.bot_token in config.toml"
)


@dataclass
class SendResult:
    """What send() did.

    message_ids: one per part sent by this call (from skip_parts on), in order.
    chat_id: the chat actually used (a migrated group's new id).
    thread_dropped: sent without the topic after "message thread not found".
    plain_fallback: the markup was rejected, so the text went as plain text.
    attempts: one line per request, e.g. "1: 429 retry_after=3s", "2: sent".
    """

    message_ids: list[int]
    chat_id: int | str
    thread_dropped: bool = False
    plain_fallback: bool = False
    attempts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Send:
    """What one send() call has learned so far."""

    chat: int | str
    thread: int | None
    parse_mode: str | None
    result: SendResult
    deadline: Deadline
    migrated: bool = False
    failures: int = 0  # in a row, for the backoff
    maybe_sent: bool = False  # an attempt of the current part may have arrived
    asked_wait: float = 0.0  # the lane pause (retry_after) before the next turn
    # Awaited once, when the first request is about to leave (its turn granted).
    before_request: Callable[[], Awaitable[None]] | None = None

    def course(self, resend_ambiguous: bool) -> Course:
        return Course(
            topic=self.thread is not None,
            markup=self.parse_mode is not None,
            migrated=self.migrated,
            resend_ambiguous=resend_ambiguous,
        )


class TelegramSender:
    """Sends reminders through one python-telegram-bot Bot, held open between start()
    and close() (or for an `async with` block) on one event loop."""

    def __init__(
        self,
        token: str | None,
        *,
        api_base_url: str = "https://api.telegram.org",
        connect_timeout: float = 5,
        read_timeout: float = 10,
        link_preview: bool = False,
        deadline_s: float = 60.0,
        on_ambiguous: Literal["resend", "skip"] = "resend",
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        request: BaseRequest | None = None,
    ) -> None:
        """`request` is the HTTP layer python-telegram-bot sends through; by default
        an HTTPXRequest with these timeouts."""
        if on_ambiguous not in ("resend", "skip"):
            raise ValueError(
                f"on_ambiguous must be 'resend' or 'skip', not {on_ambiguous!r}"
            )
        self.api_base_url = api_base_url.rstrip("/").removesuffix("/bot")
        self._link_preview = link_preview
        self.deadline_s = deadline_s
        # One request, from connecting to the last byte of the answer: a reply
        # trickled a byte at a time never trips read_timeout, this does.
        self.attempt_s = connect_timeout + 2 * read_timeout
        self.on_ambiguous = on_ambiguous
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self.limiter = limiter or RateLimiter()
        self._holder = BotHolder(
            token,
            api_base_url=self.api_base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            attempt_s=self.attempt_s,
            limiter=self.limiter,
            rng=self._rng,
            request=request,
        )
        self._scrub = self._holder.redactor.scrub

    async def __aenter__(self) -> TelegramSender:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the Bot and check the token with getMe. Without a token, do nothing:
        send() then fails permanently, saying how to configure one."""
        await self._holder.open()

    @property
    def bot(self) -> Bot | None:
        """The open Bot (None before start() succeeds), shared with the chat."""
        return self._holder.bot

    async def close(self) -> None:
        await self._holder.close()

    aclose = close  # for contextlib.aclosing: closed at the end, opened when asked

    async def send(
        self,
        target: Target,
        text: str,
        *,
        parse_mode: str | None = None,
        silent: bool = False,
        skip_parts: int = 0,
        on_part: Callable[[int, int], Awaitable[None] | None] | None = None,
        reply_markup: Any = None,
        before_request: Callable[[], Awaitable[None]] | None = None,
    ) -> SendResult:
        """Send `text` to `target`, part by part from index `skip_parts`.

        `before_request()` is awaited once, right before the first request goes
        out (after the rate limiter's wait); what it raises ends the send with
        nothing sent. `on_part(index, message_id)` runs after each part is accepted.
        `reply_markup` (buttons) goes on the last part only. Raises
        DeliveryFailure; its `sent_ids` are the parts that went out before it.
        Transient failures are retried for at most `deadline_s` from the first
        failure (waiting for the rate limiter before that does not count).
        """
        if skip_parts < 0:
            raise ValueError("skip_parts must not be negative")
        if self._holder.token is None:
            raise DeliveryFailure(
                NOT_CONFIGURED,
                permanent=True,
                error_class="ConfigError",
                text=NOT_CONFIGURED,
            )
        state = _Send(
            target.chat_id,
            target.thread_id,
            parse_mode,
            SendResult([], target.chat_id),
            Deadline(self.deadline_s, self.limiter.clock),
            before_request=before_request,
        )
        try:
            return await self._send(
                state, text, silent, skip_parts, on_part, reply_markup
            )
        except Stopped:
            why = "the daemon stopped before the message went out"
            raise DeliveryFailure(
                f"Not sent to {state.chat}: {why}.",
                permanent=False,
                error_class=Stopped.__name__,
                text=why,
                ambiguous=state.maybe_sent,
                attempts=list(state.result.attempts),
                sent_ids=list(state.result.message_ids),
            ) from None

    async def _send(
        self,
        state: _Send,
        text: str,
        silent: bool,
        skip_parts: int,
        on_part: Callable[[int, int], Awaitable[None] | None] | None,
        reply_markup: Any = None,
    ) -> SendResult:
        if self.bot is None:
            await self._holder.open_within(self.deadline_s)
        quiet_retry_after_warning()
        parts = split_text(text)
        if not parts:
            raise DeliveryFailure(
                "The reminder's text is empty; Telegram cannot send an empty message.",
                permanent=True,
                error_class="EmptyText",
                text="Message text is empty",
            )
        for index in range(skip_parts, len(parts)):
            label = f"part {index + 1}/{len(parts)} " if len(parts) > 1 else ""
            markup = reply_markup if index == len(parts) - 1 else None
            message_id = await self._send_part(
                state, parts[index], silent, label, markup
            )
            state.result.message_ids.append(message_id)
            if on_part is not None:
                outcome = on_part(index, message_id)
                if inspect.isawaitable(outcome):
                    await outcome
        state.result.chat_id = state.chat
        return state.result

    async def _send_part(
        self, state: _Send, part: str, silent: bool, label: str, markup: Any = None
    ) -> int:
        """Send one part until it is accepted; raise DeliveryFailure otherwise."""
        previews = None if self._link_preview else LinkPreviewOptions(is_disabled=True)
        while True:
            try:
                async with self.limiter.turn(state.chat) as turn:
                    # Time spent queued behind other chats' sends (a burst) does not
                    # count against the deadline: only the wait this send asked for.
                    state.deadline.credit(max(0.0, turn.waited - state.asked_wait))
                    state.asked_wait = 0.0
                    if state.before_request is not None:
                        hook, state.before_request = state.before_request, None
                        await hook()
                    try:
                        message_id = await self._request(
                            state, part, silent, previews, markup
                        )
                    except TelegramError as exc:
                        turn.sent = maybe_sent(exc)
                        state.maybe_sent = state.maybe_sent or turn.sent
                        raise
            except TelegramError as exc:
                line = f"{len(state.result.attempts) + 1}: {label}{describe(exc, self._scrub)}"
                state.result.attempts.append(line)
                log.info("Sending to chat %s: %s", state.chat, line)
                await self._follow(state, exc)
                continue
            state.result.attempts.append(
                f"{len(state.result.attempts) + 1}: {label}sent"
            )
            state.failures = 0
            state.maybe_sent = False
            return message_id

    async def _request(
        self,
        state: _Send,
        part: str,
        silent: bool,
        previews: LinkPreviewOptions | None,
        markup: Any = None,
    ) -> int:
        """One sendMessage request within `attempt_s`; returns the message id."""
        assert self.bot is not None
        message_id, problem = await send_message(
            self.bot,
            self.attempt_s,
            chat_id=state.chat,
            text=part,
            parse_mode=state.parse_mode,
            message_thread_id=state.thread,
            disable_notification=silent,
            link_preview_options=previews,
            reply_markup=markup,
        )
        if problem is not None:
            state.result.warnings.append(
                f"Telegram's answer for message {message_id} could not be read in "
                f"full ({self._scrub(problem)[:200]}); its message id was read from "
                "the raw reply."
            )
        return message_id

    async def _follow(self, state: _Send, exc: TelegramError) -> None:
        """Do what the rules say after `exc` so the part can be tried again, or
        raise DeliveryFailure."""
        decision = classify(exc, state.course(self.on_ambiguous == "resend"))
        if decision.action is Action.WAIT:
            self.limiter.pause(state.chat, decision.wait_s)  # the chat's lane waits
            self._check_deadline(state, exc, decision.wait_s)
            state.asked_wait = decision.wait_s
        elif decision.action is Action.REROUTE:
            self._reroute(state, exc, decision)
        elif decision.action is Action.RETRY:
            state.failures += 1
            delay = backoff(state.failures, self._rng)
            self._check_deadline(state, exc, delay)
            await self.limiter.sleep(delay)
        else:
            raise self._failure(
                state, exc, permanent=True, ambiguous=decision.ambiguous
            )

    @staticmethod
    def _reroute(state: _Send, exc: TelegramError, decision: Decision) -> None:
        result = state.result
        if decision.change is Change.NEW_CHAT:
            assert isinstance(exc, ChatMigrated)
            result.warnings.append(
                f"Chat {state.chat} became supergroup {exc.new_chat_id}; sent there. "
                f"Change the reminder's target to {exc.new_chat_id}."
            )
            state.chat, state.migrated = exc.new_chat_id, True
        elif decision.change is Change.NO_TOPIC:
            result.warnings.append(
                f"Topic {state.thread} was not found in chat {state.chat}; "
                "sent to the chat without a topic."
            )
            state.thread, result.thread_dropped = None, True
        elif decision.change is Change.PLAIN_TEXT:
            # The rest of the message goes plain too, so it reads consistently.
            result.warnings.append(
                f"Telegram rejected the {state.parse_mode} markup "
                f"({exc.message}); sent as plain text."
            )
            state.parse_mode, result.plain_fallback = None, True

    def _check_deadline(self, state: _Send, exc: TelegramError, wait: float) -> None:
        """Give up (temporarily) if waiting `wait` more seconds passes the deadline."""
        if not state.deadline.allows(wait):
            raise self._failure(state, exc, permanent=False)

    def _failure(
        self,
        state: _Send,
        exc: TelegramError,
        *,
        permanent: bool,
        ambiguous: bool = False,
    ) -> DeliveryFailure:
        return explain(
            exc,
            chat=state.chat,
            permanent=permanent,
            ambiguous=ambiguous,
            deadline_s=self.deadline_s,
            scrub=self._scrub,
            attempts=list(state.result.attempts),
            sent_ids=list(state.result.message_ids),
        )


def make_sender(settings: Any, limiter: RateLimiter | None = None) -> TelegramSender:
    """A sender configured from the settings (the daemon's and the CLI's)."""
    from reminders.config import bot_token
    from reminders.timeparse import parse_duration

    telegram = settings.telegram
    return TelegramSender(
        bot_token(settings),
        api_base_url=telegram.api_base_url.rstrip("/"),
        connect_timeout=telegram.connect_timeout,
        read_timeout=telegram.read_timeout,
        link_preview=telegram.link_preview,
        deadline_s=parse_duration(settings.delivery.deadline) / 1000,
        on_ambiguous=settings.delivery.on_ambiguous,
        limiter=limiter,
    )
