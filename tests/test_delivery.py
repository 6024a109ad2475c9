"""Delivery through the real python-telegram-bot client against a fake Bot API."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fake_bot_api import (
    CHAT_NOT_FOUND,
    DROP_AFTER_STORE,
    OK,
    FakeBotApi,
    Fault,
    slow,
)

from reminders.delivery import NOT_CONFIGURED, SendResult, TelegramSender
from reminders.errors import ConfigError, DeliveryFailure, TransientError
from reminders.logs import setup_logging
from reminders.targets import parse_target
from reminders.textsplit import split_text, utf16_len

GROUP = -1001234567890


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


def make_sender(api: FakeBotApi, **options: Any) -> TelegramSender:
    token = options.pop("token", api.token)
    settings = {
        "api_base_url": api.base_url,
        "connect_timeout": 1,
        "read_timeout": 1,
        "deadline_s": 5,
        "rng": random.Random(7),
    }
    return TelegramSender(token, **(settings | options))


def send(
    api: FakeBotApi,
    to: str,
    text: str,
    thread: Any = None,
    options: Any = None,
    **kw: Any,
) -> SendResult:
    """Start a sender, send one reminder, close the sender."""

    async def main() -> SendResult:
        async with make_sender(api, **(options or {})) as sender:
            return await sender.send(parse_target(to, thread), text, **kw)

    return asyncio.run(main())


def send_fails(api: FakeBotApi, to: str, text: str, **options: Any) -> DeliveryFailure:
    with pytest.raises(DeliveryFailure) as caught:
        send(api, to, text, options=options)
    return caught.value


# -- successful sends ------------------------------------------------------------------


def test_send_records_exact_text_chat_thread_and_silence(api: FakeBotApi) -> None:
    """A reminder arrives once, verbatim, in its topic, silent, without link preview."""
    result = send(api, "-100123:topic:42", "⏰ Stand-up at https://x.test", silent=True)
    [stored] = api.messages()
    assert stored.params == {
        "chat_id": -100123,
        "text": "⏰ Stand-up at https://x.test",
        "message_thread_id": 42,
        "disable_notification": True,
        "link_preview_options": {"is_disabled": True},
    }
    assert result == SendResult([1], -100123, attempts=["1: sent"])


def test_link_preview_option_and_loud_send(api: FakeBotApi) -> None:
    """link_preview=True leaves previews to Telegram; silent=False notifies."""
    send(api, "@mychannel", "news", options={"link_preview": True})
    [stored] = api.messages()
    assert stored.params["chat_id"] == "@mychannel"
    assert "link_preview_options" not in stored.params
    assert stored.params.get("disable_notification", False) is False


@pytest.mark.parametrize(
    ("to", "thread", "chat", "expected_thread"),
    [
        ("-100123:topic:42", None, -100123, 42),
        ("-100123:42", None, -100123, 42),
        ("telegram:-100123", "42", -100123, 42),
        ("-100123:topic:1", None, -100123, None),
        ("-100123", 1, -100123, None),
        ("tg:123456789", None, 123456789, None),
    ],
)
def test_topic_forms_land_in_the_right_thread(
    api: FakeBotApi, to: str, thread: Any, chat: int, expected_thread: int | None
) -> None:
    """Every OpenClaw topic form reaches its thread; the General topic goes without."""
    send(api, to, "hi", thread)
    [stored] = api.messages()
    assert stored.params["chat_id"] == chat
    assert stored.params.get("message_thread_id") == expected_thread
    assert stored.message is not None
    assert stored.message.get("message_thread_id") == expected_thread


def test_valid_markup_is_sent_with_its_parse_mode(api: FakeBotApi) -> None:
    """Markup Telegram accepts goes out once with the parse mode."""
    result = send(api, "42", "<b>Pay rent</b>", parse_mode="HTML")
    assert [c.params.get("parse_mode") for c in api.calls()] == ["HTML"]
    assert not result.plain_fallback


# -- retries (timed on a fake clock in test_retry_and_pacing.py) -----------------------


def test_unreachable_server_during_send_is_temporary(api: FakeBotApi) -> None:
    """Connection refused means nothing was sent: retried, then a temporary failure."""

    async def main() -> None:
        async with make_sender(api, deadline_s=0.6) as sender:
            api.stop()
            await sender.send(parse_target("42"), "hello")

    with pytest.raises(DeliveryFailure) as caught:
        asyncio.run(main())
    assert (caught.value.permanent, caught.value.ambiguous) == (False, False)


# -- ambiguous sends -------------------------------------------------------------------


def test_dropped_connection_is_resent_at_least_once(api: FakeBotApi) -> None:
    """on_ambiguous="resend": a send whose answer was lost is repeated (a duplicate
    beats a lost reminder), so the message arrives twice."""
    api.fail_next(DROP_AFTER_STORE)
    result = send(api, str(GROUP), "take pills")
    assert api.texts() == ["take pills", "take pills"]
    assert result.message_ids == [2]
    assert "may have arrived" in result.attempts[0]


def test_dropped_connection_with_skip_is_not_resent(api: FakeBotApi) -> None:
    """on_ambiguous="skip": the send fails as ambiguous; the message is stored once."""
    api.fail_next(DROP_AFTER_STORE)
    failure = send_fails(api, "42", "take pills", on_ambiguous="skip")
    assert (failure.ambiguous, failure.permanent) == (True, True)
    assert api.texts() == ["take pills"]
    assert len(api.calls()) == 1


def test_read_timeout_is_ambiguous(api: FakeBotApi) -> None:
    """A reply slower than read_timeout may hide a delivered message."""
    api.fail_next(slow(1.5))
    failure = send_fails(api, "42", "hi", on_ambiguous="skip", read_timeout=0.5)
    assert (failure.ambiguous, failure.error_class) == (True, "TimedOut")
    assert api.texts() == ["hi"]


# -- permanent failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "error_class", "text"),
    [
        ("unknown_chats", "BadRequest", "Chat not found"),
        ("blocked_chats", "Forbidden", "bot was blocked by the user"),
        ("token_revoked", "InvalidToken", "Unauthorized"),
    ],
)
def test_permanent_errors_are_not_retried(
    api: FakeBotApi, knob: str, error_class: str, text: str
) -> None:
    """Chat not found, a blocked bot and a revoked token fail after one request."""

    async def main() -> None:
        async with make_sender(api) as sender:
            if knob == "token_revoked":
                api.token_ok = False
            else:
                getattr(api, knob).add(42)
            await sender.send(parse_target("42"), "hello")

    with pytest.raises(DeliveryFailure) as caught:
        asyncio.run(main())
    failure = caught.value
    assert len(api.calls()) == 1
    assert (failure.permanent, failure.error_class, failure.text) == (
        True,
        error_class,
        text,
    )
    assert failure.exit_code == 69
    assert api.token not in str(failure)


def test_rejected_token_at_start_is_a_config_error(api: FakeBotApi) -> None:
    """A token Telegram rejects stops start() with a ConfigError after one getMe."""
    sender = make_sender(api, token="999:WRONG")
    with pytest.raises(ConfigError, match="REMINDERS_TELEGRAM_BOT_TOKEN") as caught:
        asyncio.run(sender.start())
    assert "999:WRONG" not in str(caught.value)
    assert [r.method for r in api.requests] == ["getMe"]


def test_unreachable_api_at_start_is_temporary() -> None:
    """start() against a closed port raises TransientError (exit 75)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = TelegramSender("1:x", api_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="Cannot reach"):
        asyncio.run(sender.start())


def test_no_token_fails_permanently_on_send(api: FakeBotApi) -> None:
    """Without a token start() succeeds and send() says how to configure one."""
    with pytest.raises(DeliveryFailure) as caught:
        send(api, "42", "hello", options={"token": None})
    assert str(caught.value) == NOT_CONFIGURED
    assert caught.value.permanent
    assert api.requests == []


def test_partial_send_reports_the_parts_that_went_out(api: FakeBotApi) -> None:
    """When a later part fails for good, sent_ids lists the parts already delivered."""
    api.fail_next(OK, CHAT_NOT_FOUND)
    failure = send_fails(api, str(GROUP), "x" * 5000)
    assert failure.sent_ids == [1]
    assert failure.permanent


# -- fallbacks -------------------------------------------------------------------------


def test_unescaped_markdown_falls_back_to_plain_text(api: FakeBotApi) -> None:
    """MarkdownV2 Telegram cannot parse is resent as the same text without markup."""
    text = "Call *Bob* at 10.30!"
    result = send(api, "42", text, parse_mode="MarkdownV2")
    rejected, accepted = api.calls()
    assert rejected.params["parse_mode"] == "MarkdownV2"
    assert rejected.message is None
    assert "parse_mode" not in accepted.params
    assert api.texts() == [text]
    assert result.plain_fallback
    assert "MarkdownV2" in result.warnings[0]


def test_missing_topic_falls_back_to_the_chat(api: FakeBotApi) -> None:
    """A deleted topic does not lose the reminder: it goes to the chat itself."""
    api.missing_threads.add((-100123, 42))
    result = send(api, "-100123:topic:42", "hi")
    assert "message_thread_id" not in api.messages()[0].params
    assert result.thread_dropped
    assert "Topic 42" in result.warnings[0]


def test_migrated_group_is_followed(api: FakeBotApi) -> None:
    """A group upgraded to a supergroup gets the message at its new id."""
    api.migrated_chats[-123] = -100999
    result = send(api, "-123", "hi")
    assert [m.params["chat_id"] for m in api.messages()] == [-100999]
    assert result.chat_id == -100999
    assert "-100999" in result.warnings[0]


# -- long messages ---------------------------------------------------------------------


def long_text() -> str:
    lines = [f"{n:04d} {'word ' * (n % 17)}🎉 line" for n in range(400)]
    return "\n".join(lines)[:10_000]


def test_long_message_arrives_in_order_with_nothing_lost(api: FakeBotApi) -> None:
    """A 10,000-character message arrives as ordered parts that join to the original."""
    text = long_text()
    seen: list[tuple[int, int]] = []

    async def record(index: int, message_id: int) -> None:
        seen.append((index, message_id))

    result = send(api, str(GROUP), text, on_part=record)
    texts = api.texts()
    assert len(text) == 10_000
    assert len(texts) == 3
    assert "".join(texts) == text
    assert all(utf16_len(t) <= 4096 for t in texts)
    assert seen == [(0, 1), (1, 2), (2, 3)]
    assert result.message_ids == [1, 2, 3]


def test_skip_parts_resumes_after_the_sent_parts(api: FakeBotApi) -> None:
    """skip_parts=1 sends only the parts an earlier run did not deliver."""
    text = long_text()
    seen: list[int] = []
    send(api, str(GROUP), text, skip_parts=1, on_part=lambda i, _m: seen.append(i))
    parts = split_text(text)
    assert api.texts() == parts[1:]
    assert seen == [1, 2]


# -- the token stays secret ------------------------------------------------------------


def test_token_is_never_logged(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx request lines are logged with the token replaced by ***."""

    async def main() -> None:
        async with make_sender(api) as sender:
            logging.getLogger("httpx").setLevel(
                logging.INFO
            )  # as a debugging user might
            await sender.send(parse_target("42"), "hello")

    try:
        with caplog.at_level(logging.DEBUG):
            asyncio.run(main())
    finally:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    assert "/bot***/sendMessage" in caplog.text
    assert api.token not in caplog.text


@pytest.mark.parametrize(
    "echo",
    [str.lower, str.upper, lambda token: quote(token, safe=""), lambda t: t.swapcase()],
    ids=["lower", "upper", "url-encoded", "swapped"],
)
def test_token_echoed_in_any_case_or_encoding_is_redacted(
    api: FakeBotApi, echo: Any
) -> None:
    """A reply that echoes the token, re-cased or URL-encoded, never carries it out."""
    api.fail_next(Fault(400, f"Bad Request: no route for /bot{echo(api.token)}/x"))
    failure = send_fails(api, "42", "hi")
    for text in (failure.text, str(failure)):
        assert "***" in text
        assert api.token.lower() not in text.lower()
        assert quote(api.token, safe="").lower() not in text.lower()


def test_log_lines_are_redacted_in_any_case_or_encoding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The daemon's log handler scrubs the token however it is spelled."""
    token = "123456:AbCdEf-gh"
    setup_logging("text", [token])
    try:
        log = logging.getLogger("reminders.test")
        log.warning("url %s and %s", token.upper(), quote(token, safe="").lower())
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert err.count("***") == 2
    assert "abcdef" not in err.lower()
