"""What the Telegram sender does after each failure, as one table: the error Telegram
(or the network) gave, what the send could still change, and the decision.

retry: send again after a backoff. wait: send again after the wait Telegram asked
for. reroute: change the message as said and send it again at once. fail: give up
for good (ambiguous: the failed request may have been delivered).
"""

from __future__ import annotations

import warnings

import httpx
import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from reminders.telegram_replies import StrangeReply
from reminders.telegram_rules import (
    Action,
    Change,
    Course,
    Decision,
    classify,
    explain,
    maybe_sent,
)

RETRY = Decision(Action.RETRY)
FAIL = Decision(Action.FAIL)
FAIL_AMBIGUOUS = Decision(Action.FAIL, ambiguous=True)


def wait(seconds: float) -> Decision:
    return Decision(Action.WAIT, wait_s=seconds)


def reroute(change: Change) -> Decision:
    return Decision(Action.REROUTE, change=change)


def retry_after(seconds: int) -> RetryAfter:
    with warnings.catch_warnings():  # it reads its own deprecated attribute
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return RetryAfter(seconds)


def caused_by(error: TelegramError, cause: Exception) -> TelegramError:
    """`error` as python-telegram-bot raises it from an httpx failure."""
    error.__cause__ = cause
    return error


PLAIN = Course()
SKIP = Course(resend_ambiguous=False)  # delivery.on_ambiguous = "skip"
TOPIC = Course(topic=True)
MARKUP = Course(markup=True)
MIGRATED = Course(migrated=True)
THREAD_GONE = "Bad Request: message thread not found"
BAD_MARKUP = "Bad Request: can't parse entities: Character '.' is reserved"
OK_NO_ID = "Telegram answered ok without a message id"

RULES = [
    # -- Telegram asks for a wait: wait exactly that long
    pytest.param(retry_after(3), PLAIN, wait(3), id="429-waits-retry-after"),
    pytest.param(retry_after(30), SKIP, wait(30), id="429-waits-even-under-skip"),
    # -- the message can go another way: reroute, once
    pytest.param(
        ChatMigrated(-100999), PLAIN, reroute(Change.NEW_CHAT), id="group-migrated"
    ),
    pytest.param(ChatMigrated(-100999), MIGRATED, FAIL, id="migrated-twice"),
    pytest.param(
        BadRequest(THREAD_GONE), TOPIC, reroute(Change.NO_TOPIC), id="topic-gone"
    ),
    pytest.param(BadRequest(THREAD_GONE), PLAIN, FAIL, id="thread-error-no-topic"),
    pytest.param(
        BadRequest(BAD_MARKUP), MARKUP, reroute(Change.PLAIN_TEXT), id="bad-markup"
    ),
    pytest.param(BadRequest(BAD_MARKUP), PLAIN, FAIL, id="entity-error-plain-text"),
    # -- refusals that retrying cannot change: fail
    pytest.param(
        BadRequest("Bad Request: chat not found"),
        Course(topic=True, markup=True),
        FAIL,
        id="chat-not-found",
    ),
    pytest.param(
        Forbidden("Forbidden: bot was blocked by the user"),
        PLAIN,
        FAIL,
        id="bot-blocked",
    ),
    pytest.param(InvalidToken(), PLAIN, FAIL, id="token-revoked"),
    pytest.param(Conflict("Conflict: terminated"), PLAIN, FAIL, id="conflict"),
    # -- nothing reached Telegram, or it answered an error: retry, even under skip
    pytest.param(NetworkError("Bad Gateway"), SKIP, RETRY, id="5xx"),
    pytest.param(
        caused_by(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")),
        SKIP,
        RETRY,
        id="connection-refused",
    ),
    pytest.param(
        caused_by(TimedOut(), httpx.ConnectTimeout("slow")),
        SKIP,
        RETRY,
        id="connect-timeout",
    ),
    pytest.param(
        caused_by(TimedOut(), httpx.PoolTimeout("full")),
        SKIP,
        RETRY,
        id="no-free-connection",
    ),
    pytest.param(
        StrangeReply("an HTML page", maybe_sent=False),
        SKIP,
        RETRY,
        id="html-page-instead-of-an-answer",
    ),
    # -- the request went out and no answer came: retry, or fail as ambiguous (skip)
    pytest.param(
        caused_by(TimedOut(), httpx.ReadTimeout("slow")),
        PLAIN,
        RETRY,
        id="read-timeout-resend",
    ),
    pytest.param(
        caused_by(TimedOut(), httpx.ReadTimeout("slow")),
        SKIP,
        FAIL_AMBIGUOUS,
        id="read-timeout-skip",
    ),
    pytest.param(
        caused_by(NetworkError("cut"), httpx.RemoteProtocolError("disconnected")),
        SKIP,
        FAIL_AMBIGUOUS,
        id="connection-cut-skip",
    ),
    pytest.param(
        TimedOut("No complete answer within 4.5s"),
        SKIP,
        FAIL_AMBIGUOUS,
        id="whole-request-deadline-skip",
    ),
    pytest.param(
        StrangeReply(OK_NO_ID, maybe_sent=True), PLAIN, RETRY, id="ok-no-id-resend"
    ),
    pytest.param(
        StrangeReply(OK_NO_ID, maybe_sent=True),
        SKIP,
        FAIL_AMBIGUOUS,
        id="ok-no-id-skip",
    ),
]


@pytest.mark.parametrize(("error", "course", "decision"), RULES)
def test_classify(error: TelegramError, course: Course, decision: Decision) -> None:
    """Each failure maps to one decision (see the table above)."""
    assert classify(error, course) == decision


def test_only_a_request_that_went_out_may_have_been_delivered() -> None:
    """An error answer (even a 400) was not taken; a cut connection may have been."""
    assert not maybe_sent(BadRequest("Bad Request: chat not found"))
    assert not maybe_sent(Forbidden("Forbidden: bot was blocked by the user"))
    assert not maybe_sent(NetworkError("Bad Gateway"))
    assert maybe_sent(caused_by(NetworkError("x"), httpx.ReadError("reset")))


@pytest.mark.parametrize(
    ("error", "permanent", "text", "exit_code"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), True, None, 69),
        (retry_after(30), False, "Flood control: retry after 30s", 75),
        (InvalidToken(), True, "Unauthorized", 69),
    ],
)
def test_explain_says_what_the_run_keeps(
    error: TelegramError, permanent: bool, text: str | None, exit_code: int
) -> None:
    """A failure keeps the error's class and a readable text, secrets scrubbed, and
    exits 69 when permanent, 75 when it may pass."""
    failure = explain(
        error,
        chat=42,
        permanent=permanent,
        ambiguous=False,
        deadline_s=60,
        scrub=lambda s: s.replace("blocked", "***"),
        attempts=["1: x"],
        sent_ids=[],
    )
    assert failure.error_class == type(error).__name__
    assert failure.text == (text or "bot was *** by the user")
    assert failure.exit_code == exit_code
    assert failure.attempts == ["1: x"]
