"""What a webhook carries, under the Standard Webhooks convention
(standardwebhooks.com): the `webhook-id` of a run, the JSON body of its event and
the `webhook-signature` over both. Pure functions: the same run always gives the
same id and body, so a resend after a crash is recognisable as one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import TYPE_CHECKING

from reminders.config import decode_secret
from reminders.schema import ms_to_iso

if TYPE_CHECKING:
    from reminders.schema import Reminder, Run

EVENT_TYPE = "reminder.fired"
_NAMESPACE = uuid.UUID("0b7f4d3e-2c6a-4e59-9a1d-8f3b5c7e2d14")


def sign(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """`webhook-signature`: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    mac = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def message_id(reminder_id: str, scheduled_for_ms: int) -> str:
    """The `webhook-id` of a run: derived from what makes a run unique, so every
    attempt, and a resend after a crash, carries the same id."""
    return "msg_" + uuid.uuid5(_NAMESPACE, f"{reminder_id}:{scheduled_for_ms}").hex


def event_body(reminder: Reminder, run: Run) -> bytes:
    """The JSON body: the same bytes for every attempt of one run."""
    fired = run.startedAtMs if run.startedAtMs is not None else run.scheduledForMs
    event = {
        "type": EVENT_TYPE,
        "timestamp": ms_to_iso(fired),
        "data": {
            "id": reminder.id,
            "name": reminder.name,
            "text": reminder.text,
            "scheduledFor": ms_to_iso(run.scheduledForMs),
            "firedAt": ms_to_iso(fired),
            "runId": run.id,
        },
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
