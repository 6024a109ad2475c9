"""OpenClaw rows to reminders: the legacy repairs OpenClaw's loader and doctor make,
then what a reminder here needs (a Telegram target, a zone, a valid schedule).

Structural faults (a row that is not an object, a field of the wrong type) raise
ImportFormatError naming the job and the field; jobs we cannot deliver raise
Refused with the reason.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from reminders import triggers
from reminders.errors import ImportFormatError, ReminderError
from reminders.jsonread import MAX_SAFE_INT
from reminders.openclaw import AGENT_FIELDS, INERT, SYSTEM_PAYLOADS, TELEGRAM, Refused
from reminders.schema import Reminder, check_text_length, ms_to_iso, parse_reminder
from reminders.targets import parse_target, parse_webhook_url
from reminders.timeparse import MIN_EVERY_MS

_NAMESPACE = uuid.UUID("6f1c3a52-9d7e-4b0a-8c21-5e4f3d2b1a09")
_SCHEDULE_KEYS = ("kind", "at", "atMs", "everyMs", "anchorMs", "expr", "cron", "tz",
                  "staggerMs")  # fmt: skip
_DELIVERY_KEYS = (
    "deliver",
    "channel",
    "provider",
    "to",
    "threadId",
    "bestEffortDeliver",
)
# Job fields a reminder keeps; any other top-level field is dropped, and said so.
_KEPT = {
    "id", "agentId", "sessionKey", "name", "description", "enabled", "deleteAfterRun",
    "createdAtMs", "updatedAtMs", "schedule", "sessionTarget", "wakeMode", "payload",
    "delivery", "failureAlert", "state",
}  # fmt: skip
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
MAX_INSTANT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_BOOLEANS = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
}


class Where:
    """Names a job in error messages: its index, and its id when it has one."""

    def __init__(self, index: int, job_id: str | None) -> None:
        self.text = f"job {index}" + (f" ({job_id})" if job_id else "")

    def fail(self, field: str, problem: str) -> ImportFormatError:
        return ImportFormatError(
            f"{self.text}: field {field!r} {problem}. Fix it in the file."
        )


def _bool(value: Any, where: Where, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise where.fail(name, f"should be true or false, not {value!r}")


def _int(value: Any, where: Where, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise where.fail(name, f"should be a number, not {value!r}")
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > MAX_SAFE_INT:
            raise where.fail(name, f"is out of range ({value:.6g})")
        return int(value)
    raise where.fail(name, f"should be a number, not {value!r}")


def _instant(value: Any, where: Where, name: str) -> int | None:
    """Epoch milliseconds between 1970 and the year 9999."""
    ms = _int(value, where, name)
    if ms is not None and not 0 <= ms <= MAX_INSTANT_MS:
        raise where.fail(name, f"is not a time between 1970 and 9999 ({ms})")
    return ms


def _text(value: Any, where: Where, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise where.fail(name, f"should be text, not {type(value).__name__}")


def normalise(row: Any, index: int) -> dict[str, Any]:
    """OpenClaw's legacy repairs, giving a current-era job object."""
    if not isinstance(row, dict):
        raise ImportFormatError(
            f"job {index}: not a JSON object but {type(row).__name__}. "
            "Remove it or fix the file."
        )
    job = dict(row)
    if "jobId" in job and "id" not in job:
        job["id"] = job.pop("jobId")
    where = Where(index, str(job["id"]) if job.get("id") is not None else None)
    if job.get("id") is not None and not isinstance(job["id"], str | int):
        raise where.fail("id", "should be text")
    if not job.get("id"):
        digest = json.dumps(row, sort_keys=True, default=str)
        job["id"] = f"cron-{uuid.uuid5(_NAMESPACE, digest)}"
    job["id"] = str(job["id"])
    if "session" in job and "sessionTarget" not in job:
        job["sessionTarget"] = job.pop("session")
    job["schedule"] = _schedule(job, where)
    job["payload"] = _payload(job, where)
    job["delivery"] = _delivery(job, where)
    for key in ("enabled", "deleteAfterRun"):
        job[key] = _bool(job.get(key), where, key)
    if job["enabled"] is None:
        job["enabled"] = True
    if job["deleteAfterRun"] is None and job["schedule"].get("kind") == "at":
        job["deleteAfterRun"] = True
    for key in ("createdAtMs", "updatedAtMs"):
        job[key] = _instant(job.get(key), where, key)
    for key in (
        "name",
        "description",
        "agentId",
        "sessionKey",
        "sessionTarget",
        "wakeMode",
    ):
        job[key] = _text(job.get(key), where, key)
    if job.get("state") is not None and not isinstance(job["state"], dict):
        raise where.fail("state", "should be an object")
    return job


def _schedule(job: dict[str, Any], where: Where) -> dict[str, Any]:
    schedule = job.get("schedule")
    if schedule is None:
        schedule = {key: job.pop(key) for key in _SCHEDULE_KEYS if key in job}
    if isinstance(schedule, str):
        schedule = {"kind": "cron", "expr": schedule}
    if not isinstance(schedule, dict):
        raise where.fail("schedule", "should be an object")
    schedule = dict(schedule)
    if "cron" in schedule and "expr" not in schedule:
        schedule["expr"] = schedule.pop("cron")
    if "atMs" in schedule:
        at_ms = _instant(schedule.pop("atMs"), where, "schedule.atMs")
        schedule.setdefault("at", ms_to_iso(at_ms or 0))
    if not schedule.get("kind"):
        kinds = (("at", "at"), ("everyMs", "every"), ("expr", "cron"))
        schedule["kind"] = next((kind for key, kind in kinds if key in schedule), None)
    for key in ("everyMs", "staggerMs"):
        if key in schedule:
            schedule[key] = _int(schedule[key], where, f"schedule.{key}")
    if "anchorMs" in schedule:
        anchor = schedule["anchorMs"]
        schedule["anchorMs"] = _instant(anchor, where, "schedule.anchorMs")
    for key in ("at", "expr", "tz"):
        if key in schedule:
            schedule[key] = _text(schedule[key], where, f"schedule.{key}")
    return schedule


def _payload(job: dict[str, Any], where: Where) -> dict[str, Any]:
    payload = job.get("payload")
    if payload is None:
        payload = {}
        for key in ("message", "text", "command"):
            if key in job:
                payload[key] = job.pop(key)
        for key in (*AGENT_FIELDS, "tools"):
            if key in job:
                payload["toolsAllow" if key == "tools" else key] = job.pop(key)
    if not isinstance(payload, dict):
        raise where.fail("payload", "should be an object")
    payload = dict(payload)
    kind = str(payload.get("kind") or "")
    kind = {"agentturn": "agentTurn", "systemevent": "systemEvent"}.get(
        kind.lower(), kind
    )
    if not kind:
        hints = any(key in payload for key in AGENT_FIELDS)
        kind = "agentTurn" if "message" in payload or hints else "systemEvent"
        if kind == "agentTurn" and "message" not in payload and "text" in payload:
            payload["message"] = payload.pop("text")
    payload["kind"] = kind
    for key in ("text", "message"):
        payload[key] = _text(payload.get(key), where, f"payload.{key}")
        if payload[key] is None:
            payload.pop(key)
    return payload


def _delivery(job: dict[str, Any], where: Where) -> dict[str, Any] | None:
    delivery = job.get("delivery")
    if delivery is not None and not isinstance(delivery, dict):
        raise where.fail("delivery", "should be an object")
    legacy = {}
    for source in (job, job["payload"]):
        for key in _DELIVERY_KEYS:
            if key in source:
                legacy[key] = source.pop(key)
    if delivery is None and not legacy:
        return None
    delivery = dict(delivery or {})
    if legacy:
        if "deliver" in legacy:
            delivery.setdefault(
                "mode", "none" if legacy["deliver"] is False else "announce"
            )
        if legacy.get("channel") or legacy.get("provider"):
            delivery.setdefault(
                "channel", legacy.get("channel") or legacy.get("provider")
            )
        for key in ("to", "threadId"):
            if key in legacy:
                delivery.setdefault(key, legacy[key])
        if "bestEffortDeliver" in legacy:
            delivery.setdefault("bestEffort", legacy["bestEffortDeliver"])
    mode = str(delivery.get("mode") or "announce").strip().lower()
    delivery["mode"] = "announce" if mode == "deliver" else mode
    if isinstance(delivery.get("channel"), str):
        delivery["channel"] = delivery["channel"].strip().lower()
    if delivery.get("to") is not None:
        delivery["to"] = str(delivery["to"])
    return delivery


def infer_name(job: dict[str, Any]) -> str:
    """OpenClaw's inferLegacyName."""
    payload, schedule = job["payload"], job["schedule"]
    text = str(payload.get("text") or payload.get("message") or "").strip()
    if text:
        first = text.splitlines()[0].strip()
        return first if len(first) <= 60 else first[:59] + "…"
    if schedule.get("kind") == "cron":
        return f"Cron: {schedule.get('expr')}"
    if schedule.get("kind") == "every":
        return f"Every: {schedule.get('everyMs')}ms"
    return "One-shot" if schedule.get("kind") == "at" else "Cron job"


def is_system_job(job: dict[str, Any]) -> bool:
    return (
        bool(job.get("declarationKey")) or job["payload"].get("kind") in SYSTEM_PAYLOADS
    )


def convert(
    job: dict[str, Any],
    state: dict[str, Any] | None,
    *,
    default_tz: str,
    default_to: str | None,
    last_is_telegram: bool,
    now_ms: int,
) -> tuple[Reminder, list[str]]:
    """A normalised job as a reminder, with notes on every conversion made."""
    notes: list[str] = []
    payload, schedule = job["payload"], job["schedule"]
    if payload["kind"] not in ("systemEvent", "agentTurn"):
        raise Refused(f"payload kind {payload['kind']!r} is not a reminder")
    if payload["kind"] == "agentTurn":
        notes.append(
            "agentTurn: its message is delivered as written (there is no agent here)"
        )
    delivery = _target(job.get("delivery"), default_to, last_is_telegram, notes)
    kind = schedule.get("kind")
    if kind not in ("at", "every", "cron"):
        raise Refused(f"schedule kind {kind!r} is not supported (at, every or cron)")
    try:
        if kind == "cron":
            triggers.validate_cron(str(schedule.get("expr") or ""))
            if schedule.get("tz"):
                triggers.validate_tz(schedule["tz"])
            else:
                schedule["tz"] = default_tz
                notes.append(
                    f"cron had no zone: evaluated in the configured zone {default_tz}"
                )
    except ReminderError as exc:
        raise Refused(f"invalid schedule: {exc}") from None
    if kind == "every" and (schedule.get("everyMs") or 0) < MIN_EVERY_MS:
        raise Refused(
            f"everyMs {schedule.get('everyMs')} is shorter than the 1 s minimum here"
        )
    if kind == "every" and schedule.get("anchorMs") is None:
        schedule["anchorMs"] = job.get("createdAtMs") or now_ms
    inert = [key for key in INERT if job.get(key)]
    inert += [key for key in AGENT_FIELDS if key in payload]
    if inert:
        notes.append(f"kept but inert here: {', '.join(inert)}")
    dropped = [key for key in job if key not in _KEPT]
    if dropped:
        notes.append(
            f"dropped, with no meaning here (not exported back): {', '.join(dropped)}"
        )
    created = job.get("createdAtMs") or now_ms
    data = {
        key: job.get(key)
        for key in ("id", "agentId", "sessionKey", "description", "enabled",
                    "deleteAfterRun", "sessionTarget", "wakeMode", "failureAlert")
    }  # fmt: skip
    data.update(
        name=(job.get("name") or "").strip() or infer_name(job),
        createdAtMs=created,
        updatedAtMs=job.get("updatedAtMs") or created,
        schedule={k: v for k, v in schedule.items() if v is not None},
        payload=payload,
        delivery=delivery,
        state={**(job.get("state") or {}), **(state or {})},
    )
    try:
        reminder = parse_reminder({k: v for k, v in data.items() if v is not None})
        check_text_length(reminder.text)
    except ReminderError as exc:
        raise Refused(f"invalid job: {exc}") from None
    return reminder, notes


def _webhook_target(delivery: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    try:
        url = parse_webhook_url(delivery.get("to"))
    except ReminderError as exc:
        raise Refused(f"webhook: {exc}") from None
    host = urlsplit(url).hostname
    notes.append(
        f"webhook: POSTed to {host} as a signed Standard Webhooks event, "
        "not OpenClaw's finished-run event with a Bearer token"
    )
    if delivery.get("failureDestination"):
        notes.append("failureDestination kept but inert: alerts use delivery settings")
    delivery["to"] = url
    return delivery


def _target(
    delivery: dict[str, Any] | None,
    default_to: str | None,
    last_is_telegram: bool,
    notes: list[str],
) -> dict[str, Any]:
    delivery = dict(delivery or {})
    mode = delivery.get("mode", "announce")
    if mode == "webhook":
        return _webhook_target(delivery, notes)
    if mode == "none":
        notes.append("delivery mode none: runs are recorded, nothing is sent")
        delivery.setdefault("channel", "telegram")
        return delivery
    if mode != "announce":
        raise Refused(f"delivery mode {mode!r} is not known")
    channel, to = delivery.get("channel"), delivery.get("to")
    prefixed = isinstance(to, str) and to.split(":", 1)[0].strip().lower() in TELEGRAM
    if channel not in (None, "last", *TELEGRAM):
        raise Refused(f"channel {channel!r} is not Telegram")
    if not to:
        if not default_to:
            raise Refused(
                "no Telegram target (OpenClaw delivered it inside the agent "
                "session); pass --default-to CHAT to send it to a chat"
            )
        delivery["to"] = default_to
        notes.append(f"no target: sent to --default-to {default_to}")
    elif channel in (None, "last") and not prefixed and not last_is_telegram:
        raise Refused(
            f"channel {channel or 'unset'!r} with target {to!r} has no telegram: "
            "prefix, so it may be another channel; pass --last-is-telegram if it "
            "is Telegram"
        )
    try:
        parse_target(delivery["to"], delivery.get("threadId"))
    except ReminderError as exc:
        raise Refused(f"target: {exc}") from None
    if delivery.get("accountId"):
        notes.append("accountId kept but inert: one bot here")
    delivery["channel"] = "telegram"
    return delivery
