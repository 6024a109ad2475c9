"""The rules for a failed Telegram request: `classify(error, course)` says whether to
retry (after a backoff), wait (as long as Telegram asked), reroute (change the
message and send it again at once) or fail (for good); `describe` and `explain` say
what happened in the words a run and a user read.

Pure: no I/O and no clock. The sender applies the decision; how long a retry may go
on is the delivery deadline's business (`reminders.retry`), not these rules'.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import httpx
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

from reminders.errors import DeliveryFailure
from reminders.telegram_replies import StrangeReply, retry_after_seconds

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


class Action(enum.Enum):
    RETRY = "retry"  # send again after a backoff
    WAIT = "wait"  # send again after the wait Telegram asked for
    REROUTE = "reroute"  # send again at once, changed as `Decision.change` says
    FAIL = "fail"  # give up: trying again will not help


class Change(enum.Enum):
    NEW_CHAT = "new chat"  # the group became a supergroup: send to its new id
    NO_TOPIC = "no topic"  # the forum topic is gone: send to the chat itself
    PLAIN_TEXT = "plain text"  # the markup was refused: send the text without it


@dataclass(frozen=True)
class Course:
    """What the send in question may still change about itself."""

    topic: bool = False  # it goes to a forum topic
    markup: bool = False  # it has a parse mode
    migrated: bool = False  # it already followed one group migration
    resend_ambiguous: bool = True  # delivery.on_ambiguous = "resend"


@dataclass(frozen=True)
class Decision:
    action: Action
    wait_s: float = 0.0  # WAIT: the seconds Telegram asked for
    change: Change | None = None  # REROUTE: what to change
    ambiguous: bool = False  # FAIL: the failed request may have been delivered


FAIL = Decision(Action.FAIL)
RETRY = Decision(Action.RETRY)


def classify(exc: TelegramError, course: Course = Course()) -> Decision:
    """What to do after `exc`. BadRequest and TimedOut are NetworkErrors, so they are
    told apart before the NetworkError rule, or permanent errors would be retried."""
    if isinstance(exc, RetryAfter):
        return Decision(Action.WAIT, wait_s=retry_after_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return (
            FAIL
            if course.migrated
            else Decision(Action.REROUTE, change=Change.NEW_CHAT)
        )
    if isinstance(exc, BadRequest):
        reason = exc.message.lower()
        if "thread not found" in reason and course.topic:
            return Decision(Action.REROUTE, change=Change.NO_TOPIC)
        if "can't parse entities" in reason and course.markup:
            return Decision(Action.REROUTE, change=Change.PLAIN_TEXT)
        return FAIL  # chat not found, and every other refusal
    if isinstance(exc, NetworkError):  # TimedOut, 5xx, connection failures
        if maybe_sent(exc) and not course.resend_ambiguous:
            return Decision(Action.FAIL, ambiguous=True)
        return RETRY
    return FAIL  # Forbidden, InvalidToken, Conflict, ...


def maybe_sent(exc: TelegramError) -> bool:
    """Did the request reach Telegram before it failed (so the message may exist)?"""
    if isinstance(exc, StrangeReply):
        return exc.maybe_sent
    if not isinstance(exc, NetworkError):
        return False
    cause = exc.__cause__
    if isinstance(cause, _NOT_SENT):
        return False
    if isinstance(cause, _MAYBE_SENT):
        return True
    # Without an httpx cause: a TimedOut of unknown origin may have been sent;
    # a NetworkError built from an HTTP answer (5xx) was answered, so it was not taken.
    return isinstance(exc, TimedOut)


# -- how a failure reads -------------------------------------------------------------


def describe(exc: TelegramError, scrub: Callable[[str], str]) -> str:
    """One attempt's outcome, for SendResult.attempts."""
    if isinstance(exc, RetryAfter):
        return f"429 retry_after={retry_after_seconds(exc):g}s"
    if isinstance(exc, ChatMigrated):
        return f"chat migrated to {exc.new_chat_id}"
    if isinstance(exc, StrangeReply):
        return f"{type(exc).__name__}: {scrub(exc.message)}"
    if isinstance(exc, NetworkError) and maybe_sent(exc):
        return f"{type(exc).__name__}: no answer, the message may have arrived"
    return f"{type(exc).__name__}: {scrub(exc.message)}"


def explain(
    exc: TelegramError,
    *,
    chat: int | str,
    permanent: bool,
    ambiguous: bool,
    deadline_s: float,
    scrub: Callable[[str], str],
    attempts: list[str],
    sent_ids: list[int],
) -> DeliveryFailure:
    """The DeliveryFailure for giving up after `exc`: the sentence a user reads,
    and the error class and text the run keeps."""
    text = scrub(exc.message)
    if isinstance(exc, Forbidden):  # Telegram's text already starts "Forbidden: "
        text = text.removeprefix("Forbidden: ")
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
            f"{deadline_s:g}s: {text}. Try again later."
        )
    return DeliveryFailure(
        message,
        permanent=permanent,
        ambiguous=ambiguous,
        error_class=type(exc).__name__,
        text=text,
        attempts=attempts,
        sent_ids=sent_ids,
    )
