"""Reading Telegram's answers: one sendMessage and the raw reply behind it, what a
reply python-telegram-bot cannot turn into a Message says (`read_reply`), and the
wait a 429 asks for.

Every request goes through `KeepingRequest`, which hands the raw status and body to
the send waiting for them: an `ok` answer with a message_id means Telegram
delivered the message even when the rest of it cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning


@dataclass
class RawReply:
    """The HTTP status and body of the last answer to one send."""

    status: int | None = None
    body: bytes = b""


_reply: ContextVar[RawReply | None] = ContextVar("reminders_reply", default=None)


@contextlib.contextmanager
def kept_reply() -> Iterator[RawReply]:
    """The raw answer to the requests made inside the block (in this task)."""
    reply = RawReply()
    token = _reply.set(reply)
    try:
        yield reply
    finally:
        _reply.reset(token)


class KeepingRequest(BaseRequest):
    """A python-telegram-bot request that sends through `inner` and also keeps the
    raw answer for the send waiting for it (see `kept_reply`)."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, body = await self.inner.do_request(
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


async def send_message(
    bot: Bot, attempt_s: float, **params: Any
) -> tuple[int, str | None]:
    """One sendMessage request within `attempt_s`: the message id, and why the reply
    could not be read in full (None when it could).

    Whatever comes back, this returns an id or raises a TelegramError: a reply
    python-telegram-bot cannot read is read from its raw JSON (an `ok` answer with
    a message_id was delivered) or raised as a StrangeReply.
    """
    with kept_reply() as reply:
        try:
            async with asyncio.timeout(attempt_s):
                message = await bot.send_message(**params)
            return int(message.message_id), None
        except TimeoutError:
            raise TimedOut(f"No complete answer within {attempt_s:g}s") from None
        except TelegramError as exc:
            if reply.status is None or not 200 <= reply.status <= 299:
                raise
            problem = exc.message  # a 2xx body that is not JSON
        except Exception as exc:  # a 2xx body python-telegram-bot cannot build on
            problem = f"{type(exc).__name__}: {exc}"
    outcome = read_reply(reply.status, reply.body, problem)
    if isinstance(outcome, StrangeReply):
        raise outcome
    return outcome, problem


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` as seconds, without its deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def quiet_retry_after_warning() -> None:
    # python-telegram-bot reads `retry_after` itself while building RetryAfter, deep
    # inside a request, where a scoped catch_warnings cannot reach (and is not safe
    # across tasks). The value is read through retry_after_seconds(); ignore just
    # this one deprecation so `-W error` runs do not turn a 429 into a crash.
    warnings.filterwarnings(
        "ignore", message=r".*attribute `retry_after`", category=PTBDeprecationWarning
    )
