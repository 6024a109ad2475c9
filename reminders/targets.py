"""Telegram targets in every form OpenClaw writes them, parsed to chat and thread.

Accepted: `123456789`, `-1001234567890`, `@channel`, a bare username, `t.me/name`
links, `-100...:topic:42`, `-100...:42`, the legacy `telegram:group:<id>`, any of
them behind repeated `telegram:`/`tg:` prefixes, and a separate `threadId`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reminders.errors import ValidationError

_PREFIX = re.compile(r"^(?:telegram|tg):", re.IGNORECASE)
_CHAT_ID = re.compile(r"^-?\d+$")
_USERNAME = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{4,})$")
_LINK = re.compile(r"^(?:https?://)?t\.me/([A-Za-z][A-Za-z0-9_]{4,})/?$", re.IGNORECASE)
_TOPIC = re.compile(r"^(-?\d+):(?:topic:)?(\d+)$")
GENERAL_TOPIC = 1


def is_group(chat_id: int | str) -> bool:
    """Negative ids and public @usernames are groups, supergroups or channels."""
    return isinstance(chat_id, str) or chat_id < 0


@dataclass(frozen=True)
class Target:
    """Where a message goes: a chat id (int) or `@username`, and a forum topic."""

    chat_id: int | str
    thread_id: int | None = None

    def __str__(self) -> str:
        if self.thread_id is None:
            return str(self.chat_id)
        return f"{self.chat_id}:topic:{self.thread_id}"


def parse_target(to: str | int | None, thread_id: str | int | None = None) -> Target:
    """Parse a `to` string (and an optional threadId) into a Target, or explain why not."""
    raw = str(to if to is not None else "").strip()
    text = raw
    while _PREFIX.match(text):
        text = _PREFIX.sub("", text, count=1)
    if text.lower().startswith("group:"):
        text = text[len("group:") :]
    if not text:
        raise ValidationError(
            "No Telegram chat given. Pass --to CHAT_ID (for example --to 123456789 "
            "or --to @channel)."
        )
    topic: int | None = None
    chat: int | str
    if match := _TOPIC.match(text):
        chat, topic = int(match.group(1)), int(match.group(2))
    elif _CHAT_ID.match(text):
        chat = int(text)
    elif match := (_LINK.match(text) or _USERNAME.match(text)):
        chat = "@" + match.group(1)
    else:
        raise ValidationError(
            f"{raw!r} is not a Telegram chat. Use a numeric chat id (123456789, "
            "-1001234567890), @username, or -100...:topic:42 for a forum topic."
        )
    if thread_id is not None and str(thread_id).strip() != "":
        try:
            explicit = int(str(thread_id).strip())
        except ValueError:
            explicit = 0
        if explicit <= 0:
            raise ValidationError(
                f"Thread id {thread_id!r} is not a positive whole number. "
                "Pass --thread-id with a forum topic number such as 42."
            )
        topic = topic if topic is not None else explicit
    if topic is not None and topic <= 0:
        raise ValidationError(f"Topic {topic} in {raw!r} must be a positive number.")
    target = Target(chat, topic)
    if topic == GENERAL_TOPIC and is_group(target.chat_id):
        # Telegram rejects message_thread_id=1: the General topic is the chat itself.
        target = Target(chat, None)
    return target


# -- webhook targets ----------------------------------------------------------------

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_SHOWN_CHARS = 120
# A host (and port) that is or holds an IP literal, or looks like an IPv4 address.
_ODD_HOST = re.compile(r"[\[\]]|^[0-9.]+(?::|$)")


def shown_url(url: str) -> str:
    """A URL as messages may quote it: without `user:password@` (never echoed),
    and cut short when it is long."""
    text = _USERINFO.sub(r"\1***@", url)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    return text


def parse_webhook_url(url: str | None) -> str:
    """A webhook URL, stripped; only http:// and https:// with a host are accepted."""
    from urllib.parse import urlsplit

    text = str(url or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    shown = shown_url(text)
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            f"{shown!r} is not a webhook URL. Give an http:// or https:// URL, "
            "such as --webhook https://example.com/hooks/reminders."
        )
    if not parts.hostname or any(ch.isspace() for ch in text):
        raise ValidationError(
            f"{shown!r} has no host or contains spaces. Give a full URL, such as "
            "https://example.com/hooks/reminders."
        )
    host = parts.netloc.rpartition("@")[2]
    if not (text.isascii() and text.isprintable()) or _ODD_HOST.search(host):
        _check_sendable(text, shown)
    return text


def _check_sendable(url: str, shown: str) -> None:
    """What urlsplit lets through but the HTTP client refuses (an IDNA name no
    codec takes, an IP literal out of range, a control character): asked of the
    client itself, and only for such URLs, since importing it takes ~0.1 s."""
    import httpx

    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValidationError(
            f"{shown!r} cannot be sent to ({exc}). Give the host as a plain "
            "name or IP address, such as https://example.com/hooks/reminders."
        ) from None


def is_loopback_host(host: str | None) -> bool:
    """Is `host` this machine (localhost, 127.0.0.0/8, ::1)?"""
    import ipaddress

    name = (host or "").strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def webhook_warning(url: str) -> str | None:
    """Why a webhook URL deserves a warning (plain http off this machine), or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None  # not a URL at all: parse_webhook_url says why
    if parts.scheme.lower() == "http" and host and not is_loopback_host(host):
        return (
            f"{shown_url(url)} uses plain http to another machine: the reminder "
            "text travels unencrypted. Use https:// if the receiver offers it."
        )
    return None
