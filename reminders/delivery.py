"""Delivery to Telegram: the module that sends with python-telegram-bot (the chat,
in `reminders.chat`, polls and answers with the same Bot).

`TelegramSender` holds one Bot for its life, splits long text, paces sends under
Telegram's flood limits (`reminders.ratelimit`) and turns every failure into a
`DeliveryFailure` that says whether it is permanent (chat not found, bot blocked,
bad token), temporary (flood control, 5xx, network) or ambiguous (the request went
out but no answer came back, so the message may have arrived).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
import unicodedata
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
from telegram import Bot, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from reminders.errors import EX_TEMPFAIL, EX_UNAVAILABLE, ConfigError, TransientError
from reminders.logs import Redactor
from reminders.ratelimit import RateLimiter
from reminders.targets import Target

log = logging.getLogger(__name__)

MAX_TEXT_UNITS = 4096  # Telegram's limit, in UTF-16 code units
NOT_CONFIGURED = (
    "No bot token configured: set REMINDERS_TELEGRAM_BOT_TOKEN or "
    "telegram.bot_token in config.toml"
)
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 30.0
# Not a line break, even where str.isspace() says it is whitespace.
_NO_BREAK = "\u00a0\u2007\u202f"
_ZWJ = "\u200d"
# Requests that failed before the whole request reached Telegram: safe to resend.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
# Failures after the request was sent: the message may have arrived.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


# -- splitting ----------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _fit(text: str, limit: int) -> int:
    """Length of the longest prefix of `text` that is at most `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _extends(char: str) -> bool:
    """Does `char` attach to the one before it (mark, joiner, modifier, selector)?"""
    code = ord(char)
    return (
        char == _ZWJ
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
        or 0xDC00 <= code <= 0xDFFF  # the low half of a surrogate pair
    )


def _cut(text: str, limit: int) -> int:
    """Where to end the next part: after a paragraph or line break, else after a
    space, else at the limit without separating a character from its marks or a
    zero-width-joiner sequence. Breaks in the first half of the window are ignored,
    so parts are not needlessly short."""
    hard = _fit(text, limit)
    floor = hard // 2
    window = text[:hard]
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at >= floor:
            return at + len(separator)
    for at in range(hard - 1, floor - 1, -1):
        if window[at].isspace() and window[at] not in _NO_BREAK:
            return at + 1
    cut = hard
    while cut > floor and (text[cut - 1] == _ZWJ or _extends(text[cut])):
        cut -= 1
    return cut if cut > floor else hard


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-16 code units, in order.

    Parts end after a line break where one is in reach, else after a space, else at
    the limit; a character is never cut (Python strings hold whole code points, so
    no surrogate pair is split) and an emoji sequence is kept whole where possible.
    The whitespace at a split point stays at the end of the earlier part, so
    `"".join(split_text(t)) == t`, except that a part made only of whitespace is
    dropped (Telegram refuses an empty message and trims a message's ends anyway);
    blank text gives no parts. The same text always splits the same way, so part
    indexes are stable across runs.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 code units")
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = _cut(rest, limit)
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return [part for part in parts if part.strip()]


# -- results and failures ---------------------------------------------------------


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


class DeliveryFailure(Exception):
    """A message (or some of its parts) could not be delivered.

    `permanent`: retrying will not help (bad chat, blocked, bad token, or an
    ambiguous send that `on_ambiguous="skip"` will not repeat). `ambiguous`: the last
    request may have been delivered. `sent_ids`: parts this call did deliver.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        error_class: str,
        text: str,
        ambiguous: bool = False,
        attempts: list[str] | None = None,
        sent_ids: list[int] | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous
        self.error_class = error_class
        self.text = text
        self.attempts = attempts or []
        self.sent_ids = sent_ids or []

    @property
    def exit_code(self) -> int:
        return EX_UNAVAILABLE if self.permanent else EX_TEMPFAIL


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` as seconds, without its deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _quiet_retry_after_warning() -> None:
    # python-telegram-bot reads `retry_after` itself while building RetryAfter, deep
    # inside a request, where a scoped catch_warnings cannot reach (and is not safe
    # across tasks). The value is read through retry_after_seconds(); ignore just
    # this one deprecation so `-W error` runs do not turn a 429 into a crash.
    warnings.filterwarnings(
        "ignore", message=r".*attribute `retry_after`", category=PTBDeprecationWarning
    )


# -- the sender --------------------------------------------------------------------


@dataclass
class _Send:
    """What one send() call has learned so far."""

    chat: int | str
    thread: int | None
    parse_mode: str | None
    result: SendResult
    migrated: bool = False
    failures: int = 0  # in a row, for the backoff
    first_failure: float | None = None


class TelegramSender:
    """Sends reminders through one python-telegram-bot Bot, held open between start()
    and close() on one event loop."""

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
    ) -> None:
        if on_ambiguous not in ("resend", "skip"):
            raise ValueError(
                f"on_ambiguous must be 'resend' or 'skip', not {on_ambiguous!r}"
            )
        self._token = token or None
        self.api_base_url = api_base_url.rstrip("/").removesuffix("/bot")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._link_preview = link_preview
        self.deadline_s = deadline_s
        self.on_ambiguous = on_ambiguous
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self.limiter = limiter or RateLimiter()
        self._bot: Bot | None = None
        self._redact = Redactor([self._token or ""])

    async def __aenter__(self) -> TelegramSender:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _scrub(self, text: str) -> str:
        return self._redact.scrub(text)

    async def start(self) -> None:
        """Open the Bot and check the token with getMe. Without a token, do nothing:
        send() then fails permanently, saying how to configure one."""
        _quiet_retry_after_warning()
        if self._token is None or self._bot is not None:
            return
        self._hide_token_from_logs()
        request = HTTPXRequest(
            connection_pool_size=64,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            write_timeout=self._read_timeout,
            pool_timeout=self._connect_timeout,
        )
        bot = Bot(self._token, base_url=f"{self.api_base_url}/bot", request=request)
        try:
            await bot.initialize()
        except InvalidToken:
            await bot.shutdown()
            raise ConfigError(
                "Telegram rejected the bot token. Set a valid token from @BotFather in "
                "REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token in config.toml."
            ) from None
        except TelegramError as exc:
            await bot.shutdown()
            raise TransientError(
                f"Cannot reach the Telegram Bot API at {self.api_base_url} "
                f"({self._scrub(str(exc))}). Check the network and "
                "telegram.api_base_url, then try again."
            ) from None
        self._bot = bot

    async def _start_within_deadline(self) -> None:
        """Start late (Telegram was unreachable at start-up), retrying like a send."""
        deadline = time.monotonic() + self.deadline_s
        delay = 1.0
        while True:
            try:
                await self.start()
                return
            except ConfigError as exc:
                raise DeliveryFailure(
                    str(exc), permanent=True, error_class="InvalidToken", text=str(exc)
                ) from None
            except TransientError as exc:
                if time.monotonic() + delay > deadline:
                    raise DeliveryFailure(
                        str(exc),
                        permanent=False,
                        error_class="NetworkError",
                        text=str(exc),
                    ) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _hide_token_from_logs(self) -> None:
        """httpx logs every request URL at INFO and python-telegram-bot logs its base
        URL at DEBUG; both contain the token. Quiet httpx, and redact anyway (a
        filter only sees records of the logger it is on, so each one gets it)."""
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
        families = ("httpx", "httpcore", "telegram")
        names = [*families, "telegram.Bot"]
        names += [n for n in logging.root.manager.loggerDict if n.startswith(families)]
        for name in dict.fromkeys(names):
            logging.getLogger(name).addFilter(self._redact)

    def _unhide(self) -> None:
        for logger in logging.root.manager.loggerDict.values():
            if isinstance(logger, logging.Logger):
                logger.removeFilter(self._redact)

    @property
    def bot(self) -> Bot | None:
        """The open Bot (None before start() succeeds), shared with the chat."""
        return self._bot

    async def close(self) -> None:
        bot, self._bot = self._bot, None
        if bot is not None:
            await bot.shutdown()
            self._unhide()

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
    ) -> SendResult:
        """Send `text` to `target`, part by part from index `skip_parts`.

        `on_part(index, message_id)` runs after each part is accepted.
        `reply_markup` (buttons) goes on the last part only. Raises
        DeliveryFailure; its `sent_ids` are the parts that went out before it.
        Transient failures are retried for at most `deadline_s` from the first
        failure (waiting for the rate limiter before that does not count).
        """
        if skip_parts < 0:
            raise ValueError("skip_parts must not be negative")
        if self._token is None:
            raise DeliveryFailure(
                NOT_CONFIGURED,
                permanent=True,
                error_class="ConfigError",
                text=NOT_CONFIGURED,
            )
        if self._bot is None:
            await self._start_within_deadline()
        _quiet_retry_after_warning()
        parts = split_text(text)
        if not parts:
            raise DeliveryFailure(
                "The reminder's text is empty; Telegram cannot send an empty message.",
                permanent=True,
                error_class="EmptyText",
                text="Message text is empty",
            )
        state = _Send(
            target.chat_id, target.thread_id, parse_mode, SendResult([], target.chat_id)
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
        assert self._bot is not None
        previews = None if self._link_preview else LinkPreviewOptions(is_disabled=True)
        while True:
            try:
                async with self.limiter.turn(state.chat) as turn:
                    try:
                        message = await self._bot.send_message(
                            chat_id=state.chat,
                            text=part,
                            parse_mode=state.parse_mode,
                            message_thread_id=state.thread,
                            disable_notification=silent,
                            link_preview_options=previews,
                            reply_markup=markup,
                        )
                    except TelegramError as exc:
                        turn.sent = isinstance(exc, NetworkError) and _maybe_sent(exc)
                        raise
            except TelegramError as exc:
                line = f"{len(state.result.attempts) + 1}: {label}{self._describe(exc)}"
                state.result.attempts.append(line)
                log.info("Sending to chat %s: %s", state.chat, line)
                await self._recover(state, exc)
                continue
            state.result.attempts.append(
                f"{len(state.result.attempts) + 1}: {label}sent"
            )
            state.failures = 0
            return message.message_id

    async def _recover(self, state: _Send, exc: TelegramError) -> None:
        """Change course or wait so the part can be tried again, or raise
        DeliveryFailure. BadRequest and TimedOut are NetworkErrors, so they are
        told apart before the NetworkError branch, or permanent errors get retried."""
        result, reason = state.result, exc.message.lower()
        if isinstance(exc, RetryAfter):
            wait = retry_after_seconds(exc)
            self.limiter.pause(state.chat, wait)  # the chat's lane waits it out
            self._check_deadline(state, exc, wait)
        elif isinstance(exc, ChatMigrated) and not state.migrated:
            result.warnings.append(
                f"Chat {state.chat} became supergroup {exc.new_chat_id}; sent there. "
                f"Change the reminder's target to {exc.new_chat_id}."
            )
            state.chat, state.migrated = exc.new_chat_id, True
        elif isinstance(exc, BadRequest):
            if "thread not found" in reason and state.thread is not None:
                result.warnings.append(
                    f"Topic {state.thread} was not found in chat {state.chat}; "
                    "sent to the chat without a topic."
                )
                state.thread, result.thread_dropped = None, True
            elif "can't parse entities" in reason and state.parse_mode is not None:
                # The rest of the message goes plain too, so it reads consistently.
                result.warnings.append(
                    f"Telegram rejected the {state.parse_mode} markup "
                    f"({exc.message}); sent as plain text."
                )
                state.parse_mode, result.plain_fallback = None, True
            else:
                raise self._failure(state, exc, permanent=True)
        elif isinstance(exc, NetworkError):  # TimedOut, 5xx, connection failures
            if _maybe_sent(exc) and self.on_ambiguous == "skip":
                raise self._failure(state, exc, permanent=True, ambiguous=True)
            delay = self._backoff(state)
            self._check_deadline(state, exc, delay)
            await asyncio.sleep(delay)
        else:  # Forbidden, InvalidToken, a second migration, Conflict, ...
            raise self._failure(state, exc, permanent=True)

    def _describe(self, exc: TelegramError) -> str:
        """One attempt's outcome, for SendResult.attempts."""
        if isinstance(exc, RetryAfter):
            return f"429 retry_after={retry_after_seconds(exc):g}s"
        if isinstance(exc, ChatMigrated):
            return f"chat migrated to {exc.new_chat_id}"
        if isinstance(exc, NetworkError) and _maybe_sent(exc):
            return f"{type(exc).__name__}: no answer, the message may have arrived"
        return f"{type(exc).__name__}: {self._scrub(exc.message)}"

    def _backoff(self, state: _Send) -> float:
        """Exponential backoff with jitter: 0.25-0.5 s, then 0.5-1 s, ... up to 30 s."""
        state.failures += 1
        ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (state.failures - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _check_deadline(self, state: _Send, exc: TelegramError, wait: float) -> None:
        """Give up (temporarily) if waiting `wait` more seconds passes the deadline."""
        now = asyncio.get_running_loop().time()
        if state.first_failure is None:
            state.first_failure = now
        if now + wait > state.first_failure + self.deadline_s:
            raise self._failure(state, exc, permanent=False)

    def _failure(
        self,
        state: _Send,
        exc: TelegramError,
        *,
        permanent: bool,
        ambiguous: bool = False,
    ) -> DeliveryFailure:
        error_class = type(exc).__name__
        text = self._scrub(exc.message)
        if isinstance(exc, Forbidden):  # Telegram's text already starts "Forbidden: "
            text = text.removeprefix("Forbidden: ")
        chat = state.chat
        if isinstance(exc, RetryAfter):
            text = f"Flood control: retry after {retry_after_seconds(exc):g}s"
        if ambiguous:
            text = "No answer from Telegram; the message may have been delivered"
            message = (
                f"Sending to {chat} may or may not have worked ({text.lower()}); "
                'it is not resent because delivery.on_ambiguous = "skip".'
            )
        elif isinstance(exc, InvalidToken):
            text = "Unauthorized"
            message = (
                "Telegram rejected the bot token. Set a valid token in "
                "REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token in config.toml."
            )
        elif isinstance(exc, Forbidden):
            message = (
                f"The bot may not write to chat {chat}: {text}. Unblock the bot or add "
                "it back to the chat, then run the reminder again."
            )
        elif permanent:
            message = (
                f"Telegram refused the message to chat {chat}: {text}. Check the "
                "chat id and that the bot is a member of that chat."
            )
        else:
            message = (
                f"Telegram did not take the message to chat {chat} within "
                f"{self.deadline_s:g}s: {text}. Try again later."
            )
        return DeliveryFailure(
            message,
            permanent=permanent,
            ambiguous=ambiguous,
            error_class=error_class,
            text=text,
            attempts=list(state.result.attempts),
            sent_ids=list(state.result.message_ids),
        )


def _maybe_sent(exc: NetworkError) -> bool:
    """Did the request reach Telegram before it failed (so the message may exist)?"""
    cause = exc.__cause__
    if isinstance(cause, _NOT_SENT):
        return False
    if isinstance(cause, _MAYBE_SENT):
        return True
    # Without an httpx cause: a TimedOut of unknown origin may have been sent;
    # a NetworkError built from an HTTP answer (5xx) was answered, so it was not taken.
    return isinstance(exc, TimedOut)


def make_sender(settings: Any) -> TelegramSender:
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
    )
