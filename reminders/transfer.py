"""Import and export use-cases: plan an OpenClaw import, apply it, write an export."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reminders.app import AppContext, list_reminders
from reminders.errors import ImportFormatError
from reminders.openclaw import JOB_KEYS, JobReport, Refused, read_runs, read_source
from reminders.openclaw_convert import convert, is_system_job, normalise
from reminders.schema import AtSchedule, Reminder
from reminders.triggers import next_run

RUN_STATUS = {"ok": "sent", "error": "failed", "skipped": "skipped"}
OURS = ("catchUpMs", "nagEveryMs", "nagMax")
OUR_DELIVERY = ("silent", "parseMode")


@dataclass
class ImportPlan:
    source: str
    reports: list[JobReport] = field(default_factory=list)
    writes: list[Reminder] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for report in self.reports if report.action == action)

    def to_json(self) -> dict[str, Any]:
        actions = ("imported", "updated", "unchanged", "kept", "refused", "skipped")
        return {
            "source": self.source,
            "summary": {action: self.count(action) for action in actions},
            "runs": len(self.runs),
            "jobs": [report.to_json() for report in self.reports],
        }


def _definition(reminder: Reminder) -> dict[str, Any]:
    data = reminder.to_json()
    for key in ("state", "updatedAtMs"):
        data.pop(key, None)
    return data


def plan_import(
    ctx: AppContext,
    path: Path,
    *,
    replace: bool = False,
    default_to: str | None = None,
    last_is_telegram: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportPlan:
    """Read, normalise and convert every job; decide what each one becomes."""
    source = read_source(path)
    default_to = default_to or ctx.settings.delivery.default_to or None
    now = ctx.now_ms()
    plan = ImportPlan(source.label)
    jobs = [normalise(raw.data, raw.index) for raw in source.jobs]
    with ctx.store.read() as db:
        existing = db.get_many([job["id"] for job in jobs])
    seen: set[str] = set()
    for number, (raw, job) in enumerate(zip(source.jobs, jobs, strict=True)):
        if progress:
            progress(number, len(source.jobs))
        report = JobReport(raw.index, job["id"], job.get("name"), "imported")
        plan.reports.append(report)
        if job["id"] in seen:
            raise ImportFormatError(
                f"job {raw.index} ({job['id']}): the id appears twice."
            )
        seen.add(job["id"])
        if is_system_job(job):
            report.action, report.reason = "skipped", "an OpenClaw system job"
            continue
        current = existing.get(job["id"])
        try:
            reminder, report.notes = convert(
                job,
                raw.state,
                default_tz=ctx.default_tz,
                default_to=default_to,
                last_is_telegram=last_is_telegram,
                # A time the file leaves out (createdAtMs, an every anchor) is the
                # one the first import chose, so a second import finds no change.
                now_ms=now if current is None else current.createdAtMs,
            )
        except Refused as refused:
            report.action, report.reason = "refused", str(refused)
            continue
        report.name = reminder.name
        _plan_state(ctx, reminder, report, now)
        if current is not None:
            if _definition(current) == _definition(reminder):
                report.action = "unchanged"
            elif not replace:
                report.action = "kept"
                report.reason = "differs from the file; --replace takes the file's"
            else:
                report.action = "updated"
                reminder.state = current.state
                reminder.state.nextRunAtMs = next_run(reminder, ctx.default_tz, now)
                plan.writes.append(reminder)
        else:
            plan.writes.append(reminder)
        plan.runs += _runs(source.runs_dir, reminder)
    for job_id, name, reason in source.quarantined:
        plan.reports.append(
            JobReport(
                -1,
                job_id,
                name,
                "skipped",
                f"quarantined by OpenClaw ({reason}); fix it there and import again",
            )
        )
    return plan


def _plan_state(
    ctx: AppContext, reminder: Reminder, report: JobReport, now: int
) -> None:
    state = reminder.state
    if isinstance(reminder.schedule, AtSchedule):
        done = state.lastRunStatus == "ok" or state.lastStatus == "ok"
        if done and (state.lastRunAtMs or 0) >= reminder.schedule.at_ms - 60_000:
            state.lastRunAtMs = state.lastRunAtMs or reminder.schedule.at_ms
        state.nextRunAtMs = next_run(reminder, ctx.default_tz, now)
        if state.nextRunAtMs is not None and state.nextRunAtMs <= now:
            report.notes.append(
                "its time has passed: it fires at once when the daemon "
                "runs, marked late"
            )
        return
    state.nextRunAtMs = next_run(reminder, ctx.default_tz, now)
    state.runningAtMs = None


def _runs(runs_dir: Path | None, reminder: Reminder) -> list[dict[str, Any]]:
    rows = []
    for entry in read_runs(runs_dir, reminder.id):
        started = int(_number(entry.get("runAtMs")) or entry["ts"])
        status = RUN_STATUS.get(str(entry.get("status")), "failed")
        if status == "sent" and entry.get("delivered") is False:
            status = "skipped"
        rows.append(
            {
                "reminder_id": reminder.id,
                "reminder_name": reminder.name,
                "scheduled_for_ms": started,
                "started_at_ms": started,
                "finished_at_ms": started + int(_number(entry.get("durationMs")) or 0),
                "status": status,
                "error_text": _text(entry.get("error") or entry.get("deliveryError")),
                "attempts": 1,
                "note": "imported from OpenClaw",
            }
        )
    return rows


def _number(value: Any) -> int | float | None:
    """A run log's number, or None for anything else (a string, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def apply_import(ctx: AppContext, plan: ImportPlan) -> int:
    """Write the plan in one transaction; returns how many runs were added."""
    now = ctx.now_ms()
    added = 0
    with ctx.store.write() as db:
        for reminder in plan.writes:
            db.save(reminder, now)
        for run in plan.runs:
            added += db.insert_run(**run) is not None
    return added


def export_jobs(ctx: AppContext) -> str:
    """Every reminder as an OpenClaw jobs.json v1, formatted as OpenClaw writes it."""
    jobs = []
    for reminder in list_reminders(ctx, include_disabled=True):
        data = reminder.to_json()
        for key in OURS:
            data.pop(key, None)
        delivery = data.get("delivery")
        if delivery:
            for key in OUR_DELIVERY:
                delivery.pop(key, None)
        kind = data["payload"]["kind"]
        data.setdefault(
            "sessionTarget", "main" if kind == "systemEvent" else "isolated"
        )
        data.setdefault("wakeMode", "now")
        jobs.append({key: data[key] for key in JOB_KEYS if key in data})
    return json.dumps({"version": 1, "jobs": jobs}, indent=2, ensure_ascii=False)
