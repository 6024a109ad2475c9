"""How reminders and runs map to table rows and back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic loads only where a model is built
    from reminders.schema import Reminder, Run

OPTION_KEYS = (
    "agentId",
    "sessionKey",
    "sessionTarget",
    "wakeMode",
    "failureAlert",
    "catchUpMs",
    "nagEveryMs",
    "nagMax",
)
REMINDER_COLUMNS = (
    "id", "name", "description", "enabled", "delete_after_run", "created_at_ms",
    "updated_at_ms", "schedule", "payload", "delivery", "state", "options",
    "next_run_at_ms", "revision",
)  # fmt: skip
RUN_COLUMNS = (
    "reminder_id", "reminder_name", "scheduled_for_ms", "started_at_ms",
    "finished_at_ms", "status", "trigger", "message_ids", "error_class", "error_text",
    "attempts", "note", "delivered_at_ms", "response", "response_at_ms",
)  # fmt: skip


@dataclass(frozen=True)
class Change:
    revision: int
    reminder_id: str
    op: str


def dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def load_columns(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Decode the JSON `columns` of many rows in place. Text (SQLite's) is read in
    one parse of all of it, a few times faster than one parse per value."""
    texts = [row[column] for row in rows for column in columns]
    try:
        joined = ",".join(["null" if text is None else text for text in texts])
    except TypeError:  # decoded already (PostgreSQL's driver reads JSON itself)
        joined = None
    values = json.loads(f"[{joined}]") if joined is not None else []
    if len(values) != len(texts):  # not text, or a value that is not one JSON value
        values = [load(text) for text in texts]
    it = iter(values)
    for row in rows:
        for column in columns:
            row[column] = next(it)


def reminder_to_row(reminder: Reminder | dict[str, Any]) -> dict[str, Any]:
    """The row for a reminder, or for its validated JSON (`Reminder.to_json()`)."""
    data = reminder if isinstance(reminder, dict) else reminder.to_json()
    enabled = data.get("enabled", True)
    state = data.get("state", {})
    return {
        "id": data["id"],
        "name": data["name"],
        "description": data.get("description"),
        "enabled": enabled,
        "delete_after_run": data.get("deleteAfterRun"),
        "created_at_ms": data["createdAtMs"],
        "updated_at_ms": data["updatedAtMs"],
        "schedule": dump(data["schedule"]),
        "payload": dump(data["payload"]),
        "delivery": dump(data.get("delivery")),
        "state": dump(state),
        "options": dump({key: data[key] for key in OPTION_KEYS if key in data}),
        "next_run_at_ms": state.get("nextRunAtMs") if enabled else None,
    }


def row_to_reminder(row: dict[str, Any]) -> Reminder:
    try:
        return _row_to_reminder(row)
    except ValueError as exc:  # pydantic's ValidationError
        # A failureAlert stored before it was validated on write: it could never
        # have worked, so the reminder loads without it rather than not at all.
        options = load(row["options"]) or {}
        if "failureAlert" not in str(exc) or "failureAlert" not in options:
            raise
        options.pop("failureAlert")
        return _row_to_reminder({**row, "options": dump(options)})


def _row_to_reminder(row: dict[str, Any]) -> Reminder:
    from reminders.schema import Reminder

    if isinstance(row["schedule"], str):
        return Reminder.model_validate_json(_reminder_json(row))
    data: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "deleteAfterRun": None
        if row["delete_after_run"] is None
        else bool(row["delete_after_run"]),
        "createdAtMs": row["created_at_ms"],
        "updatedAtMs": row["updated_at_ms"],
        "schedule": load(row["schedule"]),
        "payload": load(row["payload"]),
        "delivery": load(row["delivery"]),
        "state": load(row["state"]),
        **(load(row["options"]) or {}),
    }
    return Reminder.model_validate(data)


def _reminder_json(row: dict[str, Any]) -> str:
    """One JSON document from a SQLite row, its JSON columns spliced in as text:
    pydantic parses it in one pass, about twice as fast as json.loads per column."""

    def quoted(value: str | None) -> str:
        return "null" if value is None else encode_basestring(value)

    delete_after_run = row["delete_after_run"]
    parts = [
        f'"id":{quoted(row["id"])}',
        f'"name":{quoted(row["name"])}',
        f'"description":{quoted(row["description"])}',
        f'"enabled":{"true" if row["enabled"] else "false"}',
        '"deleteAfterRun":'
        + (
            "null"
            if delete_after_run is None
            else "true"
            if delete_after_run
            else "false"
        ),
        f'"createdAtMs":{int(row["created_at_ms"])}',
        f'"updatedAtMs":{int(row["updated_at_ms"])}',
        f'"schedule":{row["schedule"]}',
        f'"payload":{row["payload"]}',
        f'"delivery":{row["delivery"] or "null"}',
        f'"state":{row["state"]}',
    ]
    options = (row["options"] or "{}").strip()
    if options not in ("{}", ""):
        parts.append(options[1:-1])
    return "{" + ",".join(parts) + "}"


def row_to_run(row: dict[str, Any]) -> Run:
    from reminders.schema import Run

    return Run(
        id=row["id"],
        reminderId=row["reminder_id"],
        reminderName=row["reminder_name"],
        scheduledForMs=row["scheduled_for_ms"],
        startedAtMs=row["started_at_ms"],
        finishedAtMs=row["finished_at_ms"],
        deliveredAtMs=row["delivered_at_ms"],
        status=row["status"],
        trigger=row["trigger"],
        messageIds=list(load(row["message_ids"]) or []),
        errorClass=row["error_class"],
        errorText=row["error_text"],
        attempts=row["attempts"],
        note=row["note"],
        response=row.get("response"),
        responseAtMs=row.get("response_at_ms"),
    )


_LATER = ("response", "response_at_ms")  # a press in the chat sets these afterwards


def run_values(args: dict[str, Any]) -> dict[str, Any]:
    """The `runs` row from insert_run's arguments."""
    values = {name: args[name] for name in RUN_COLUMNS if name not in _LATER}
    values.update(dict.fromkeys(_LATER))
    values["message_ids"] = dump(list(args["message_ids"]))
    return values
