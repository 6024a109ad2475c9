"""Reminders in OpenClaw's cron job shape.

Field names are OpenClaw's JSON names (camelCase) and every instant is UTC epoch
milliseconds, so a reminder dumps to exactly the JSON OpenClaw writes. Fields are
declared in the order OpenClaw writes its keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from reminders.build import MAX_TEXT_CHARS as MAX_TEXT_CHARS
from reminders.build import check_text_length as check_text_length
from reminders.errors import ValidationError
from reminders.timeparse import iso_to_ms as iso_to_ms
from reminders.timeparse import ms_to_iso as ms_to_iso

STRICT = ConfigDict(extra="forbid", populate_by_name=True)
# OpenClaw-only options we keep on import and export without acting on them.
LENIENT = ConfigDict(extra="allow", populate_by_name=True)


class AtSchedule(BaseModel):
    model_config = STRICT
    kind: Literal["at"] = "at"
    at: str

    @field_validator("at")
    @classmethod
    def _instant(cls, value: str) -> str:
        try:
            return ms_to_iso(iso_to_ms(value))
        except ValueError:
            raise ValueError(f"not an ISO 8601 instant: {value!r}") from None

    @property
    def at_ms(self) -> int:
        return iso_to_ms(self.at)


class EverySchedule(BaseModel):
    model_config = STRICT
    kind: Literal["every"] = "every"
    everyMs: int = Field(ge=1)
    anchorMs: int | None = Field(default=None, ge=0)


class CronSchedule(BaseModel):
    model_config = STRICT
    kind: Literal["cron"] = "cron"
    expr: str = Field(min_length=1)
    tz: str | None = None
    staggerMs: int | None = Field(default=None, ge=0)


Schedule = Annotated[
    AtSchedule | EverySchedule | CronSchedule, Field(discriminator="kind")
]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the reminder text is empty")
    return value


ReminderText = Annotated[str, AfterValidator(_not_blank)]


class SystemEventPayload(BaseModel):
    model_config = STRICT
    kind: Literal["systemEvent"] = "systemEvent"
    text: ReminderText


class AgentTurnPayload(BaseModel):
    """An OpenClaw agent turn; here its message is delivered as written."""

    model_config = LENIENT
    kind: Literal["agentTurn"] = "agentTurn"
    message: ReminderText


Payload = Annotated[SystemEventPayload | AgentTurnPayload, Field(discriminator="kind")]

ParseMode = Literal["HTML", "MarkdownV2"]


class Delivery(BaseModel):
    model_config = LENIENT
    # webhook: POST to the http(s) URL in `to` (OpenClaw's shape); no channel.
    mode: Literal["announce", "none", "webhook"] = "announce"
    channel: str | None = "telegram"
    to: str | None = None
    threadId: int | str | None = None
    accountId: str | None = None
    bestEffort: bool | None = None
    # Ours: not in OpenClaw's schema.
    silent: bool | None = None
    parseMode: ParseMode | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_channel_for_webhooks(cls, data: Any) -> Any:
        # A webhook has no chat channel: keep one from appearing by default, so
        # a webhook job reads back (and exports) exactly as it was given.
        if isinstance(data, dict) and data.get("mode") == "webhook":
            return {"channel": None, **data}
        return data


class FailureAlert(BaseModel):
    """OpenClaw's per-job failure alert; unknown OpenClaw fields are kept."""

    model_config = LENIENT
    after: int | None = Field(default=None, ge=0, le=1_000_000)
    cooldownMs: int | None = Field(default=None, ge=0, le=10 * 366 * 86_400_000)
    channel: str | None = None
    to: str | int | None = None
    mode: Literal["announce", "webhook"] | None = None
    accountId: str | None = None
    includeSkipped: bool | None = None


class ReminderState(BaseModel):
    """Runtime state as OpenClaw keeps it; unknown OpenClaw fields are kept."""

    model_config = LENIENT
    nextRunAtMs: int | None = None
    runningAtMs: int | None = None
    lastRunAtMs: int | None = None
    lastRunStatus: Literal["ok", "error", "skipped"] | None = None
    lastStatus: Literal["ok", "error", "skipped"] | None = None
    lastError: str | None = None
    lastDurationMs: int | None = None
    consecutiveErrors: int | None = None
    lastDelivered: bool | None = None
    lastDeliveryStatus: (
        Literal["delivered", "not-delivered", "unknown", "not-requested"] | None
    ) = None
    lastDeliveryError: str | None = None
    lastFailureAlertAtMs: int | None = None


class Reminder(BaseModel):
    model_config = STRICT
    id: str = Field(min_length=1)
    agentId: str | None = None
    sessionKey: str | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    enabled: bool = True
    deleteAfterRun: bool | None = None
    createdAtMs: int
    updatedAtMs: int
    schedule: Schedule
    sessionTarget: str | None = None
    wakeMode: str | None = None
    payload: Payload
    delivery: Delivery | None = None
    failureAlert: FailureAlert | Literal[False] | None = None
    # Ours: how late a missed recurring slot may still be caught up.
    catchUpMs: int | None = Field(default=None, ge=0)
    # Ours: re-send every nagEveryMs until Done is pressed, at most nagMax times.
    nagEveryMs: int | None = Field(default=None, ge=1)
    nagMax: int | None = Field(default=None, ge=1)
    state: ReminderState = Field(default_factory=ReminderState)

    @property
    def text(self) -> str:
        if isinstance(self.payload, SystemEventPayload):
            return self.payload.text
        return self.payload.message

    @property
    def is_one_shot(self) -> bool:
        return isinstance(self.schedule, AtSchedule)

    @property
    def delivers(self) -> bool:
        return self.delivery is None or self.delivery.mode != "none"

    @property
    def webhook_url(self) -> str | None:
        """The URL a webhook reminder is POSTed to ("" when it has none); None for
        other deliveries."""
        delivery = self.delivery
        return (delivery.to or "") if delivery and delivery.mode == "webhook" else None

    def to_json(self) -> dict[str, Any]:
        """The OpenClaw JSON object, without empty keys."""
        return self.model_dump(mode="json", exclude_none=True)


def parse_reminder(data: dict[str, Any]) -> Reminder:
    """Build a reminder from OpenClaw-shaped JSON, or raise our ValidationError."""
    import pydantic

    try:
        return Reminder.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(describe_validation_error(exc)) from None


def describe_validation_error(exc: Any) -> str:
    """One line from a pydantic error: the first problem, with its field path."""
    first = exc.errors()[0]
    # A union member's tag (FailureAlert, literal[False]) is not a field name.
    where = ".".join(
        str(part)
        for part in first["loc"]
        if not (isinstance(part, str) and (part[:1].isupper() or "[" in part))
    )
    where = where or "value"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


class Run(BaseModel):
    """One fire of a reminder, as kept in the run history."""

    model_config = STRICT
    id: int
    reminderId: str
    reminderName: str | None = None
    scheduledForMs: int
    startedAtMs: int | None = None
    finishedAtMs: int | None = None
    deliveredAtMs: int | None = None
    status: Literal["sending", "sent", "failed", "missed", "skipped"]
    trigger: Literal["schedule", "catch-up", "manual", "late", "nag"] = "schedule"
    messageIds: list[int] = Field(default_factory=list)
    errorClass: str | None = None
    errorText: str | None = None
    attempts: int = 0
    note: str | None = None
    response: str | None = None  # what was pressed in the chat: done, snoozed ...
    responseAtMs: int | None = None

    @property
    def lateness_ms(self) -> int | None:
        """How late the send started."""
        if self.startedAtMs is None:
            return None
        return self.startedAtMs - self.scheduledForMs

    @property
    def delivery_lateness_ms(self) -> int | None:
        """How late Telegram accepted the first message; None when nothing went out."""
        if self.deliveredAtMs is None:
            return None
        return self.deliveredAtMs - self.scheduledForMs
