"""A reminder's OpenClaw JSON, built from what a user asked for (a ReminderSpec).

The flag rules live here: one schedule, a future `--at`, an `--every` of 1 s or
more, a cron expression that fires, one non-empty text within MAX_TEXT_CHARS, a
chat or a webhook. What they build is the JSON `Reminder.to_json()` gives, keys
in the model's order, so a spec as the CLI gives it (text flags, inert OpenClaw
options as text) needs no second reading: `app.build_job` stores it as built and
pydantic never loads. Anything else (`plain_spec` says which) is read through the
pydantic model, which is where the shape of a reminder is ruled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reminders import triggers
from reminders.errors import ScheduleError, ValidationError
from reminders.targets import parse_target, parse_webhook_url
from reminders.timeparse import MIN_EVERY_MS, ms_to_iso, parse_at, parse_duration

if TYPE_CHECKING:
    from reminders.config import Settings

PAST_TOLERANCE_MS = 60_000
MAX_AHEAD_MS = 10 * 366 * 86_400_000
TELEGRAM_CHANNELS = {"telegram", "tg", "last"}
# 16 Telegram messages of 4096 characters: more is a file, not a reminder.
MAX_TEXT_CHARS = 16 * 4096
# OpenClaw options `add` keeps as given (text) without acting on them.
INERT_TEXT_KEYS = ("agentId", "sessionKey", "sessionTarget", "wakeMode")
PARSE_MODES = ("HTML", "MarkdownV2")
# A reminder's top-level keys in the order Reminder declares (and dumps) them.
JOB_KEYS = (
    "id", "agentId", "sessionKey", "name", "description", "enabled",
    "deleteAfterRun", "createdAtMs", "updatedAtMs", "schedule", "sessionTarget",
    "wakeMode", "payload", "delivery", "failureAlert", "catchUpMs", "nagEveryMs",
    "nagMax", "state",
)  # fmt: skip
DELIVERY_KEYS = (
    "mode", "channel", "to", "threadId", "accountId", "bestEffort", "silent",
    "parseMode",
)  # fmt: skip


def check_text_length(text: str) -> None:
    """Refuse a reminder text longer than MAX_TEXT_CHARS, saying by how much."""
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(
            f"The reminder text is {len(text):,} characters; the limit is "
            f"{MAX_TEXT_CHARS:,} (16 Telegram messages). Shorten it or send a link."
        )


@dataclass
class ReminderSpec:
    """What a user asked for with `add` or `edit`; None means not given."""

    name: str | None = None
    description: str | None = None
    at: str | None = None
    every: str | None = None
    cron: str | None = None
    tz: str | None = None
    stagger: str | None = None
    exact: bool = False
    message: str | None = None
    system_event: str | None = None
    channel: str | None = None
    to: str | None = None
    webhook: str | None = None
    thread_id: str | None = None
    deliver: bool | None = None
    delete_after_run: bool | None = None
    enabled: bool | None = None
    silent: bool | None = None
    parse_mode: str | None = None
    catch_up: str | None = None
    anchor_ms: int | None = None
    nag: str | None = None  # re-send every ... until Done ("off" stops nagging)
    nag_max: int | None = None
    starting: str | None = None  # the first slot of an --every, in --at's grammar
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """No flag given at all: nothing to change."""
        return (
            not self.exact
            and not self.extra
            and all(
                getattr(self, name) is None
                for name in self.__dataclass_fields__
                if name not in ("exact", "extra")
            )
        )

    @property
    def schedule_flags(self) -> list[str]:
        given = {"--at": self.at, "--every": self.every, "--cron": self.cron}
        return [flag for flag, value in given.items() if value is not None]


_NOT_TEXT = {
    "exact": bool,
    "deliver": bool,
    "delete_after_run": bool,
    "enabled": bool,
    "silent": bool,
    "nag_max": int,
}
_SURROGATE = re.compile("[\ud800-\udfff]")  # not text: no database stores it


def plain_spec(spec: ReminderSpec) -> bool:
    """True when the JSON built from `spec` is right by construction: each flag
    is text (storable text: no lone surrogate) or its bool or int, no anchor
    or start, a known parse mode, and only the inert OpenClaw options, as text.
    Other specs are read through pydantic before they are stored."""
    values = [
        (name, getattr(spec, name))
        for name in spec.__dataclass_fields__
        if name != "extra" and getattr(spec, name) is not None
    ]
    if any(name in ("anchor_ms", "starting") for name, _ in values):
        return False
    if spec.parse_mode not in (None, "", *PARSE_MODES):
        return False
    if any(key not in INERT_TEXT_KEYS for key in spec.extra):
        return False
    values += list(spec.extra.items())
    return all(
        type(value) is _NOT_TEXT.get(name, str)
        and (type(value) is not str or value.isascii() or not _SURROGATE.search(value))
        for name, value in values
    )


def infer_name(text: str) -> str:
    """OpenClaw's rule: the first line of the text, at most 60 characters."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return first if len(first) <= 60 else first[:59] + "…"


def schedule_json(spec: ReminderSpec, default_tz: str, now_ms: int) -> dict[str, Any]:
    """The schedule object from --at, --every or --cron (exactly one of them)."""
    flags = spec.schedule_flags
    if len(flags) != 1:
        raise ValidationError("Choose exactly one schedule: --at, --every, or --cron.")
    if spec.tz is not None and spec.every is not None and spec.starting is None:
        raise ValidationError(
            "--tz is only valid with --cron or --at; drop it for --every."
        )
    if (spec.stagger is not None or spec.exact) and spec.cron is None:
        raise ValidationError("--stagger/--exact are only valid for --cron schedules.")
    if spec.stagger is not None and spec.exact:
        raise ValidationError("Choose either --stagger or --exact, not both.")
    tz = spec.tz.strip() if spec.tz is not None else None
    zone = triggers.validate_tz(tz or default_tz)
    if spec.at is not None:
        at_ms = parse_at(spec.at, zone=zone, now_ms=now_ms)
        if at_ms < now_ms - PAST_TOLERANCE_MS:
            minutes = (now_ms - at_ms) // 60_000
            raise ScheduleError(
                f"--at {spec.at!r} is {minutes} minute(s) in the past. "
                "Give a future time, such as 20m or tomorrow 9:00."
            )
        if at_ms > now_ms + MAX_AHEAD_MS:
            raise ScheduleError(f"--at {spec.at!r} is more than 10 years ahead.")
        return {"kind": "at", "at": ms_to_iso(at_ms)}
    if spec.every is not None:
        every_ms = parse_duration(spec.every)
        if every_ms < MIN_EVERY_MS:
            raise ScheduleError(
                f"--every {spec.every!r} is shorter than the minimum of 1s. "
                "Give 1s or more, such as 30s or 10m."
            )
        anchor = now_ms if spec.anchor_ms is None else spec.anchor_ms
        if spec.starting is not None:
            anchor = parse_at(spec.starting, zone=zone, now_ms=now_ms)
        return {"kind": "every", "everyMs": every_ms, "anchorMs": anchor}
    expr = " ".join(str(spec.cron).split())
    triggers.validate_cron(expr)
    stagger = parse_duration(spec.stagger) if spec.stagger is not None else None
    stagger = 0 if spec.exact else stagger
    cron = {"kind": "cron", "expr": expr, "tz": zone.key}
    return cron if stagger is None else {**cron, "staggerMs": stagger}


def payload_json(spec: ReminderSpec) -> dict[str, Any]:
    """The payload object from --system-event or --message (exactly one)."""
    given = [text for text in (spec.system_event, spec.message) if text is not None]
    if len(given) != 1:
        raise ValidationError(
            "Choose exactly one payload: --system-event or --message."
        )
    if not given[0].strip():
        raise ValidationError("The reminder text is empty. Pass the text to send.")
    check_text_length(given[0])
    if spec.system_event is not None:
        return {"kind": "systemEvent", "text": spec.system_event}
    return {"kind": "agentTurn", "message": str(spec.message)}


def _check_channel(channel: str | None) -> None:
    if channel is not None and channel.strip().lower() not in TELEGRAM_CHANNELS:
        raise ValidationError(
            f"Channel {channel!r} is not supported: reminders go to Telegram. "
            "Use --channel telegram (or leave it out)."
        )


def _webhook_delivery(
    spec: ReminderSpec, base: dict[str, Any] | None
) -> dict[str, Any]:
    """`--webhook URL`: POST the reminder there instead of sending it to a chat."""
    chat_flags = {
        "--to": spec.to,
        "--thread-id": spec.thread_id,
        "--channel": spec.channel,
        "--announce" if spec.deliver else "--no-deliver": spec.deliver,
    }
    given = [flag for flag, value in chat_flags.items() if value is not None]
    if given:
        raise ValidationError(
            f"--webhook cannot be combined with {', '.join(given)}: a reminder goes "
            "either to a webhook or to a Telegram chat. Drop one of them."
        )
    kept = dict(base or {})
    for key in ("to", "threadId", "channel", "silent", "parseMode", "mode"):
        kept.pop(key, None)
    url = parse_webhook_url(spec.webhook)
    return _in_order({**kept, "mode": "webhook", "to": url}, DELIVERY_KEYS)


def delivery_json(
    spec: ReminderSpec, base: dict[str, Any] | None, default_to: str = ""
) -> dict[str, Any]:
    """The delivery object: `base` (a stored one, None for a new reminder) with the
    flags given applied."""
    if spec.webhook is not None:
        return _webhook_delivery(spec, base)
    _check_channel(spec.channel)
    delivery: dict[str, Any] = (
        dict(base) if base else {"mode": "announce", "channel": "telegram"}
    )
    if delivery.get("mode") == "webhook":
        if spec.to is None and spec.deliver is None and spec.thread_id is None:
            parse_webhook_url(delivery.get("to"))
            return delivery  # an edit that leaves the webhook alone
        # A chat given to a webhook reminder moves it back to Telegram.
        delivery["mode"], delivery["to"] = "announce", None
    if spec.deliver is not None:
        delivery["mode"] = "announce" if spec.deliver else "none"
    if spec.to is not None:
        delivery["to"] = spec.to.strip()
    if spec.thread_id is not None:
        delivery["threadId"] = spec.thread_id
    if spec.silent is not None:
        delivery["silent"] = spec.silent or None
    if spec.parse_mode is not None:
        delivery["parseMode"] = spec.parse_mode or None
    delivery["channel"] = "telegram"
    if delivery.get("mode", "announce") == "announce":
        delivery["to"] = delivery.get("to") or default_to.strip() or None
        if not delivery["to"]:
            raise ValidationError(
                "Missing --to: say which Telegram chat gets this reminder "
                "(for example --to 123456789), set delivery.default_to in the "
                "config, or pass --no-deliver."
            )
        parse_target(delivery["to"], delivery.get("threadId"))
    elif spec.thread_id is not None:
        parse_target(delivery.get("to") or "0", delivery.get("threadId"))
    return _in_order(delivery, DELIVERY_KEYS)


def apply_nag(settings: Settings, spec: ReminderSpec, data: dict[str, Any]) -> None:
    """Apply --nag/--nag-max to a reminder's JSON; only a chat with buttons nags."""
    if spec.nag is None and spec.nag_max is None:
        return
    if spec.nag is not None and spec.nag.strip().lower() in ("off", "0", "none"):
        data.pop("nagEveryMs", None)
        data.pop("nagMax", None)
        return
    if not settings.telegram.interactive:
        raise ValidationError(
            "--nag needs the Done button, which reminders shows only with "
            "[telegram] interactive = true in config.toml; turn it on or drop --nag."
        )
    if spec.nag is not None:
        data["nagEveryMs"] = parse_duration(spec.nag)
    if "nagEveryMs" not in data:
        raise ValidationError(
            "--nag-max needs --nag: say how often to re-send, e.g. --nag 15m."
        )
    if spec.nag_max is not None:
        if spec.nag_max < 1:
            raise ValidationError("--nag-max must be 1 or more.")
        data["nagMax"] = spec.nag_max


def job_json(
    spec: ReminderSpec,
    *,
    reminder_id: str,
    now_ms: int,
    default_tz: str,
    settings: Settings,
) -> dict[str, Any]:
    """A new reminder's JSON from `spec`, all but its state."""
    schedule = schedule_json(spec, default_tz, now_ms)
    payload = payload_json(spec)
    text = payload.get("text", payload.get("message", ""))
    name = (spec.name or "").strip() or infer_name(text)
    if spec.name is not None and not spec.name.strip():
        raise ValidationError(
            "The name is empty. Pass --name with some text, or leave it out."
        )
    delete_after_run = spec.delete_after_run
    if delete_after_run is None and schedule["kind"] == "at":
        delete_after_run = True
    data: dict[str, Any] = {
        "id": reminder_id,
        "name": name,
        "description": (spec.description or "").strip() or None,
        "enabled": spec.enabled if spec.enabled is not None else True,
        "deleteAfterRun": delete_after_run,
        "createdAtMs": now_ms,
        "updatedAtMs": now_ms,
        "schedule": schedule,
        "payload": payload,
        "delivery": delivery_json(spec, None, settings.delivery.default_to),
        "catchUpMs": parse_duration(spec.catch_up)
        if spec.catch_up is not None
        else None,
        **spec.extra,
    }
    apply_nag(settings, spec, data)
    return _in_order(data, JOB_KEYS)


def _in_order(data: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """`data` without None values, the known keys first in `order`, as pydantic
    dumps a model (fields in declaration order, then extra keys)."""
    known = {key: data[key] for key in order if data.get(key) is not None}
    return known | {
        key: value
        for key, value in data.items()
        if key not in known and value is not None
    }
