"""OpenClaw's agent `cron` tool over our use-cases.

The same actions (status, list, add, update, remove, run, runs), the job object as
an OpenClaw agent sends it (nested under `job`, or flat beside `action`), and
replies in OpenClaw's shape (a job with its `id` and `state.nextRunAtMs`), so a
prompt or skill written for OpenClaw needs no change. Every rule is `app`'s: a job
object is read into the same ReminderSpec that `reminders add` flags become.
"""

from __future__ import annotations

from typing import Any

from reminders import app
from reminders.app import AppContext, ReminderSpec
from reminders.errors import ValidationError
from reminders.schema import Reminder, Run

ACTIONS = ("status", "list", "add", "update", "remove", "run", "runs", "wake")
# OpenClaw's flat-params recovery: job fields an agent may put beside `action`.
FLAT_JOB_KEYS = (
    "name", "schedule", "sessionTarget", "wakeMode", "payload", "delivery", "enabled",
    "description", "deleteAfterRun", "agentId", "sessionKey", "message", "text",
    "model", "thinking", "timeoutSeconds", "allowUnsafeExternalContent",
)  # fmt: skip
INERT_KEYS = ("sessionTarget", "wakeMode", "agentId", "sessionKey")
RUN_STATUS = {
    "sent": "ok",
    "failed": "error",
    "skipped": "skipped",
    "missed": "skipped",
}
RUNS_LIMIT = 200
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def call(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    """Run one `cron` tool call; raises our errors for bad input."""
    action = str(params.get("action") or "").strip().lower()
    if action not in ACTIONS:
        raise ValidationError(
            f"Unknown cron action {params.get('action')!r}: use one of "
            + ", ".join(ACTIONS[:-1])
            + "."
        )
    return HANDLERS[action](ctx, params)


def job_json(reminder: Reminder) -> dict[str, Any]:
    """A reminder as OpenClaw's job object (our own fields ride along)."""
    data = reminder.to_json()
    kind = data["payload"]["kind"]
    data.setdefault("sessionTarget", "main" if kind == "systemEvent" else "isolated")
    data.setdefault("wakeMode", "now")
    return data


# -- actions ---------------------------------------------------------------------


def _status(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    from reminders.status import daemon_state

    state = daemon_state(ctx)
    counts = state["reminders"]
    return {
        "enabled": state["daemon"] == "running",
        "storePath": state["database"],
        "jobs": sum(counts.values()),
        "nextWakeAtMs": state["nextRunAtMs"],
        "daemon": state["daemon"],
    }


def _list(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    include = _bool(params.get("includeDisabled"), "includeDisabled") or False
    jobs = [job_json(r) for r in app.list_reminders(ctx, include_disabled=include)]
    return _page("jobs", jobs)


def _add(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    job = params.get("job")
    if not job:
        flat = {k: params[k] for k in FLAT_JOB_KEYS if params.get(k) is not None}
        if {"schedule", "payload", "message", "text"} & flat.keys():
            job = flat
    if not isinstance(job, dict):
        raise ValidationError(
            "job required: pass the job object as `job` "
            '(schedule, payload, delivery), e.g. {"action": "add", "job": {...}}.'
        )
    return job_json(app.add(ctx, job_spec(job, partial=False)))


def _update(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _job_id(params)
    patch = params.get("patch")
    if not isinstance(patch, dict):
        raise ValidationError("patch required: pass the fields to change as `patch`.")
    return job_json(app.edit(ctx, ref, job_spec(patch, partial=True)))


def _remove(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    reminder = app.remove(ctx, _job_id(params))
    return {"ok": True, "removed": True, "id": reminder.id}


def _run(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _job_id(params)
    mode = params.get("runMode")
    if mode not in (None, "force", "due"):
        raise ValidationError(
            f"runMode {mode!r} is not a run mode: use force (run now, the default) "
            "or due (run only if its time has come)."
        )
    if mode == "due":
        due = app.show(ctx, ref).state.nextRunAtMs
        if due is None or due > ctx.now_ms():
            return {"ok": True, "ran": False, "reason": "not-due"}
    reminder, run = app.run_now(ctx, ref)
    return {"ok": True, "ran": True, "id": reminder.id, "run": run_entry(run)}


def _runs(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = params.get("jobId") or params.get("id")
    limit = params.get("limit")
    limit = 50 if limit is None else limit
    if type(limit) is not int or not 1 <= limit <= RUNS_LIMIT:
        raise ValidationError(f"limit must be a whole number from 1 to {RUNS_LIMIT}.")
    history = app.run_history(ctx, str(ref) if ref else None, limit)
    return _page("entries", [run_entry(run) for run in history])


def _wake(ctx: AppContext, params: dict[str, Any]) -> dict[str, Any]:
    raise ValidationError(
        "wake: there is no agent session here to wake; add a reminder instead "
        '(action "add").'
    )


HANDLERS = {
    "status": _status,
    "list": _list,
    "add": _add,
    "update": _update,
    "remove": _remove,
    "run": _run,
    "runs": _runs,
    "wake": _wake,
}


def _page(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: items,
        "total": len(items),
        "offset": 0,
        "limit": len(items),
        "hasMore": False,
        "nextOffset": None,
    }


def run_entry(run: Run) -> dict[str, Any]:
    """A run as an OpenClaw run-log entry, with our own fields beside it."""
    finished = run.finishedAtMs
    started = run.startedAtMs
    entry: dict[str, Any] = {
        **run.model_dump(exclude_none=True, exclude={"id", "status"}),
        "runId": run.id,
        "runStatus": run.status,
        "ts": finished or started or run.scheduledForMs,
        "jobId": run.reminderId,
        "jobName": run.reminderName,
        "action": "finished" if run.status != "sending" else "started",
        "status": RUN_STATUS.get(run.status, run.status),
        "error": run.errorText,
        "delivered": run.status == "sent",
        "deliveryStatus": {"sent": "delivered", "failed": "not-delivered"}.get(
            run.status, "not-requested" if run.status == "skipped" else "unknown"
        ),
        "runAtMs": started,
        "durationMs": finished - started if finished and started else None,
    }
    return {key: value for key, value in entry.items() if value is not None}


# -- job objects to what `add`/`edit` take ----------------------------------------


def _job_id(params: dict[str, Any]) -> str:
    ref = params.get("jobId") or params.get("id")
    if not isinstance(ref, str | int) or not str(ref).strip():
        raise ValidationError(
            "jobId required: pass the job's id (`jobId`; `id` is accepted too)."
        )
    return str(ref)


def job_spec(job: dict[str, Any], *, partial: bool) -> ReminderSpec:
    """Read an OpenClaw job object (or a patch) into the spec `add`/`edit` take."""
    spec = ReminderSpec()
    for key in ("name", "description"):
        if job.get(key) is not None:
            setattr(spec, key, _text(job[key], key))
    for key, attr in (("enabled", "enabled"), ("deleteAfterRun", "delete_after_run")):
        if job.get(key) is not None:
            setattr(spec, attr, _bool(job[key], key))
    spec.extra = {key: job[key] for key in INERT_KEYS if job.get(key) is not None}
    schedule = job.get("schedule")
    if schedule is not None:
        _schedule(spec, _object(schedule, "schedule"))
    payload = job.get("payload")
    if payload is None and ("message" in job or "text" in job):
        payload = {key: job[key] for key in ("message", "text") if key in job}
    if payload is not None:
        _payload(spec, _object(payload, "payload"))
    delivery = job.get("delivery")
    if delivery is not None:
        _delivery(spec, _object(delivery, "delivery"))
    if not partial and spec.schedule_flags == []:
        raise ValidationError(
            'job.schedule required: {"kind": "at", "at": "<ISO time>"}, '
            '{"kind": "every", "everyMs": <ms>} or {"kind": "cron", "expr": "..."}.'
        )
    return spec


def _schedule(spec: ReminderSpec, schedule: dict[str, Any]) -> None:
    kind = schedule.get("kind")
    if kind is None:
        kind = next(
            (k for k in ("at", "atMs", "everyMs", "expr") if k in schedule), None
        )
        kind = {"atMs": "at", "everyMs": "every", "expr": "cron"}.get(str(kind), kind)
    tz = _text(schedule.get("tz"), "schedule.tz")
    if kind == "at":
        at = schedule.get("at", schedule.get("atMs"))
        if isinstance(at, int) and not isinstance(at, bool):
            at = str(at)
        spec.at = _text(at, "schedule.at") or ""
        spec.tz = tz or "UTC"  # OpenClaw reads an ISO time without offset as UTC
    elif kind == "every":
        spec.every = f"{_int(schedule.get('everyMs'), 'schedule.everyMs')}ms"
        if schedule.get("anchorMs") is not None:
            spec.anchor_ms = _int(schedule["anchorMs"], "schedule.anchorMs")
            if not 0 <= spec.anchor_ms <= LAST_MS:
                raise ValidationError(
                    f"schedule.anchorMs {spec.anchor_ms} is not a time: give epoch "
                    "ms from 0 to 253402300799999 (the end of year 9999)."
                )
    elif kind == "cron":
        spec.cron = _text(schedule.get("expr", schedule.get("cron")), "schedule.expr")
        spec.tz = tz
        stagger = schedule.get("staggerMs")
        if stagger is not None:
            stagger_ms = _int(stagger, "schedule.staggerMs")
            spec.exact = stagger_ms == 0
            spec.stagger = f"{stagger_ms}ms" if stagger_ms else None
    else:
        raise ValidationError(
            f"schedule.kind {kind!r} is not supported: use at, every or cron."
        )


def _payload(spec: ReminderSpec, payload: dict[str, Any]) -> None:
    kind = str(payload.get("kind") or "").lower()
    if not kind:
        kind = "agentturn" if "message" in payload else "systemevent"
    if kind == "systemevent":
        spec.system_event = _text(payload.get("text"), "payload.text") or ""
    elif kind == "agentturn":
        text = payload.get("message", payload.get("text"))
        spec.message = _text(text, "payload.message") or ""
    else:
        raise ValidationError(
            f"payload.kind {payload.get('kind')!r} is not a reminder: "
            "use systemEvent (text) or agentTurn (message)."
        )


def _delivery(spec: ReminderSpec, delivery: dict[str, Any]) -> None:
    mode = str(delivery.get("mode") or "announce").strip().lower()
    if mode == "webhook":
        spec.webhook = _text(delivery.get("to"), "delivery.to") or ""
        return
    if mode not in ("announce", "deliver", "none"):
        raise ValidationError(
            f"delivery.mode {mode!r} is not supported: use announce (a Telegram "
            "chat), webhook (an http(s) URL) or none (only record runs)."
        )
    spec.deliver = mode != "none"
    spec.channel = _text(delivery.get("channel"), "delivery.channel")
    to = delivery.get("to")
    spec.to = None if to is None else str(to)
    thread = delivery.get("threadId")
    spec.thread_id = None if thread is None else str(thread)


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{field} should be an object, not {value!r}.")
    return value


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(f"{field} should be text, not {value!r}.")


def _int(value: Any, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValidationError(f"{field} should be a whole number of ms, not {value!r}.")


def _bool(value: Any, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(f"{field} should be true or false, not {value!r}.")
