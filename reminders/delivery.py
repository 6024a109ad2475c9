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
import json
import logging
import random
import unicodedata
import warnings
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
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
from telegram.request import HTTPXRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

from reminders.clock import monotonic
from reminders.errors import (
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    ConfigError,
    TransientError,
    Unavailable,
)
from reminders.logs import Redactor
from reminders.ratelimit import RateLimiter, Stopped
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


# -- raw replies ---------------------------------------------------------------------


@dataclass
class _Reply:
    """The HTTP status and body of the last answer to one sender call."""

    status: int | None = None
    body: bytes = b""


_reply: ContextVar[_Reply | None] = ContextVar("reminders_reply", default=None)


class _KeepingRequest(HTTPXRequest):
    """HTTPXRequest that also hands the raw answer to the caller waiting for it, so
    a 200 reply python-telegram-bot cannot turn into an object can still be read
    (an `ok` answer with a message_id means Telegram delivered the message)."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, body = await super().do_request(
            url,
            method,
            request_data,
            read_timeout,
            write_timeout,
            connect_timeout,
            pool_timeout,
        )
        reply = _reply.get()
        if reply is not None:
            reply.status, reply.body = status, body
        return status, body


class StrangeReply(NetworkError):
    """An answer that is not a usable Bot API reply (a 200 without a Message, an
    HTML page, a cut-off body). `maybe_sent`: Telegram may have delivered it."""

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


def read_reply(status: int | None, body: bytes, problem: str) -> int | StrangeReply:
    """The message id of an `ok` reply read from its raw JSON, or what is wrong
    with it. `problem` says why python-telegram-bot could not read it."""
    if status is None:
        return StrangeReply(f"no readable answer ({problem})", maybe_sent=True)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        result = data.get("result")
        if data.get("ok") is not True:
            return StrangeReply(
                f"HTTP {status} with ok: {data.get('ok')!r} and no error description",
                maybe_sent=False,
            )
        if isinstance(result, dict):
            message_id = result.get("message_id")
            if isinstance(message_id, int) and not isinstance(message_id, bool):
                return message_id
        return StrangeReply(
            "Telegram answered ok without a message id; the message may have "
            "been delivered",
            maybe_sent=True,
        )
    if body.lstrip().startswith(b"{"):
        return StrangeReply(
            f"Telegram's answer was cut short after {len(body)} bytes; the message "
            "may have been delivered",
            maybe_sent=True,
        )
    kind = "an HTML page" if b"<" in body[:200] else f"{len(body)} bytes of non-JSON"
    return StrangeReply(
        f"HTTP {status} with {kind} instead of a Bot API answer; check "
        "telegram.api_base_url and any proxy in between",
        maybe_sent=False,
    )


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
    maybe_sent: bool = False  # an attempt of the current part may have arrived
    asked_wait: float = 0.0  # the lane pause (retry_after) before the next turn
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
        # One request, from connecting to the last byte of the answer: a reply
        # trickled a byte at a time never trips read_timeout, this does.
        self.attempt_s = connect_timeout + 2 * read_timeout
        self.on_ambiguous = on_ambiguous
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self.limiter = limiter or RateLimiter()
        self._bot: Bot | None = None
        self._starting = asyncio.Lock()
        self._start_tries = 0
        self._start_error: ConfigError | TransientError | Unavailable | None = None
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
        # The limiter lets at most `overall` requests run at once (a send waits
        # for the one `overall` places ahead of it to finish), so a pool that
        # size, with room for getMe, never makes a queued send wait for a socket.
        try:  # the client reads the environment: SSL_CERT_FILE/_DIR, *_PROXY
            request = _KeepingRequest(
                connection_pool_size=self.limiter.limits.overall[0] + 8,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                write_timeout=self._read_timeout,
                pool_timeout=self._connect_timeout,
            )
        except (OSError, ImportError, ValueError, RuntimeError) as exc:
            raise Unavailable(
                f"No Telegram message can be sent from this environment "
                f"({type(exc).__name__}: {exc}"[:300]
                + "); check the SSL_CERT_FILE, SSL_CERT_DIR and *_PROXY variables "
                "it runs with."
            ) from None
        bot = Bot(self._token, base_url=f"{self.api_base_url}/bot", request=request)
        try:
            async with asyncio.timeout(self.attempt_s):
                await bot.initialize()
        except InvalidToken:
            await bot.shutdown()
            raise ConfigError(
                "Telegram rejected the bot token. Set a valid token from @BotFather in "
                "REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token in config.toml."
            ) from None
        except (TelegramError, TimeoutError) as exc:
            await bot.shutdown()
            why = str(exc) or f"no answer within {self.attempt_s:g}s"
            raise TransientError(
                f"Cannot reach the Telegram Bot API at {self.api_base_url} "
                f"({self._scrub(why)}). Check the network and "
                "telegram.api_base_url, then try again."
            ) from None
        except Exception as exc:  # a getMe answer that is not a bot: not the Bot API
            await bot.shutdown()
            raise TransientError(
                f"The Telegram Bot API at {self.api_base_url} answered getMe with "
                f"something that is not a bot ({self._scrub(repr(exc))[:200]}). Check "
                "telegram.api_base_url and any proxy in between."
            ) from None
        self._bot = bot

    async def _start_within_deadline(self) -> None:
        """Start late (Telegram was unreachable at start-up), retrying like a send."""
        deadline = monotonic() + self.deadline_s
        delay = 1.0
        while True:
            try:
                await self._start_once()
                return
            except ConfigError as exc:
                raise DeliveryFailure(
                    str(exc), permanent=True, error_class="InvalidToken", text=str(exc)
                ) from None
            except Unavailable as exc:  # not retried: the environment stays as it is
                raise DeliveryFailure(
                    str(exc), permanent=False, error_class="Environment", text=str(exc)
                ) from None
            except TransientError as exc:
                if monotonic() + delay > deadline:
                    raise DeliveryFailure(
                        str(exc),
                        permanent=False,
                        error_class="NetworkError",
                        text=str(exc),
                    ) from None
            await self.limiter.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _start_once(self) -> None:
        """start(), one at a time: sends that waited while another one tried take
        its failure instead of each trying again (a thousand sends after a crash,
        Telegram down, would otherwise queue a thousand getMe calls)."""
        tried = self._start_tries
        async with self._starting:
            if self._bot is not None:
                return
            if self._start_tries != tried and self._start_error is not None:
                raise self._start_error
            self._start_tries += 1
            try:
                await self.start()
            except (ConfigError, TransientError, Unavailable) as exc:
                self._start_error = exc
                raise
            self._start_error = None

    def _hide_token_from_logs(self) -> None:
        """httpx logs every request URL at INFO and python-telegram-bot logs its base
        URL at DEBUG; both contain the token. Quiet httpx, and redact anyway (a
        filter only sees records of the logger it is on, so each one gets it)."""
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
        # It logs a traceback for every body that is not JSON; the attempt's line
        # on the run already says what came back.
        logging.getLogger("telegram.request.BaseRequest").setLevel(logging.CRITICAL)
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
        state = _Send(
            target.chat_id, target.thread_id, parse_mode, SendResult([], target.chat_id)
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
                    self._credit_queueing(state, turn.waited)
                    try:
                        message_id = await self._request(
                            state, part, silent, previews, markup
                        )
                    except TelegramError as exc:
                        turn.sent = isinstance(exc, NetworkError) and _maybe_sent(exc)
                        state.maybe_sent = state.maybe_sent or turn.sent
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
        """One sendMessage request within `attempt_s`; returns the message id.

        Whatever comes back, this returns an id or raises a TelegramError: a reply
        python-telegram-bot cannot read is read from its raw JSON (an `ok` answer
        with a message_id was delivered) or classified as a StrangeReply.
        """
        assert self._bot is not None
        reply = _Reply()
        token = _reply.set(reply)
        try:
            async with asyncio.timeout(self.attempt_s):
                message = await self._bot.send_message(
                    chat_id=state.chat,
                    text=part,
                    parse_mode=state.parse_mode,
                    message_thread_id=state.thread,
                    disable_notification=silent,
                    link_preview_options=previews,
                    reply_markup=markup,
                )
            return int(message.message_id)
        except TimeoutError:
            raise TimedOut(f"No complete answer within {self.attempt_s:g}s") from None
        except TelegramError as exc:
            if reply.status is None or not 200 <= reply.status <= 299:
                raise
            problem = exc.message  # a 2xx body that is not JSON
        except Exception as exc:  # a 2xx body python-telegram-bot cannot build on
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            _reply.reset(token)
        outcome = read_reply(reply.status, reply.body, problem)
        if isinstance(outcome, StrangeReply):
            raise outcome
        state.result.warnings.append(
            f"Telegram's answer for message {outcome} could not be read in full "
            f"({self._scrub(problem)[:200]}); its message id was read from the raw "
            "reply."
        )
        return outcome

    async def _recover(self, state: _Send, exc: TelegramError) -> None:
        """Change course or wait so the part can be tried again, or raise
        DeliveryFailure. BadRequest and TimedOut are NetworkErrors, so they are
        told apart before the NetworkError branch, or permanent errors get retried."""
        result, reason = state.result, exc.message.lower()
        if isinstance(exc, RetryAfter):
            wait = retry_after_seconds(exc)
            self.limiter.pause(state.chat, wait)  # the chat's lane waits it out
            self._check_deadline(state, exc, wait)
            state.asked_wait = wait
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
            await self.limiter.sleep(delay)
        else:  # Forbidden, InvalidToken, a second migration, Conflict, ...
            raise self._failure(state, exc, permanent=True)

    def _describe(self, exc: TelegramError) -> str:
        """One attempt's outcome, for SendResult.attempts."""
        if isinstance(exc, RetryAfter):
            return f"429 retry_after={retry_after_seconds(exc):g}s"
        if isinstance(exc, ChatMigrated):
            return f"chat migrated to {exc.new_chat_id}"
        if isinstance(exc, StrangeReply):
            return f"{type(exc).__name__}: {self._scrub(exc.message)}"
        if isinstance(exc, NetworkError) and _maybe_sent(exc):
            return f"{type(exc).__name__}: no answer, the message may have arrived"
        return f"{type(exc).__name__}: {self._scrub(exc.message)}"

    def _backoff(self, state: _Send) -> float:
        """Exponential backoff with jitter: 0.25-0.5 s, then 0.5-1 s, ... up to 30 s."""
        state.failures += 1
        ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (state.failures - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    @staticmethod
    def _credit_queueing(state: _Send, waited: float) -> None:
        """Time spent queued behind other chats' sends (a burst) does not count
        against the deadline: only the wait this send asked for does."""
        if state.first_failure is not None:
            state.first_failure += max(0.0, waited - state.asked_wait)
        state.asked_wait = 0.0

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
            if not isinstance(exc, StrangeReply):
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
    if isinstance(exc, StrangeReply):
        return exc.maybe_sent
    cause = exc.__cause__
    if isinstance(cause, _NOT_SENT):
        return False
    if isinstance(cause, _MAYBE_SENT):
        return True
    # Without an httpx cause: a TimedOut of unknown origin may have been sent;
    # a NetworkError built from an HTTP answer (5xx) was answered, so it was not taken.
    return isinstance(exc, TimedOut)


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
