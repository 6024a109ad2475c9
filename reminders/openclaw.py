"""OpenClaw job stores: read any era, normalise legacy rows, convert, and write back.

Reading follows OpenClaw's own loader and `openclaw doctor --fix`: a `jobs.json`
(`{"version":1,"jobs":[...]}` or a bare list, JSON5 comments and trailing commas
allowed) with its `jobs-state.json` sidecar and `runs/<id>.jsonl` logs, a
`~/.openclaw` folder, or the 2026.6+ SQLite state database (read-only). A row that
is not a job at all stops the import with the index and field at fault; a job we
cannot deliver (another channel, no Telegram target, a bad URL or schedule) is
refused in the report and the rest still import.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reminders import jsonread
from reminders.errors import ImportFormatError, NotFound

# Keys OpenClaw writes, in its order; anything of ours is left out of an export.
JOB_KEYS = (
    "id", "agentId", "sessionKey", "name", "description", "enabled", "deleteAfterRun",
    "createdAtMs", "updatedAtMs", "schedule", "sessionTarget", "wakeMode", "payload",
    "delivery", "failureAlert", "state",
)  # fmt: skip
AGENT_FIELDS = ("model", "fallbacks", "thinking", "timeoutSeconds", "lightContext",
                "toolsAllow", "allowUnsafeExternalContent")  # fmt: skip
INERT = ("agentId", "sessionKey", "sessionTarget", "wakeMode")
SYSTEM_PAYLOADS = {"heartbeat", "command", "script"}
TELEGRAM = {"telegram", "tg"}
_NAMESPACE = uuid.UUID("6f1c3a52-9d7e-4b0a-8c21-5e4f3d2b1a09")


class Refused(Exception):
    """A job we will not import, with the reason a user should read."""


@dataclass
class RawJob:
    index: int
    data: Any
    state: dict[str, Any] | None = None


@dataclass
class Source:
    label: str
    jobs: list[RawJob]
    runs_dir: Path | None = None
    # Rows OpenClaw itself set aside (jobs-quarantine.json): id, name, reason.
    quarantined: list[tuple[str | None, str | None, str]] = field(default_factory=list)


@dataclass
class JobReport:
    index: int
    id: str | None
    name: str | None
    action: str  # imported | updated | unchanged | kept | refused | skipped
    reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "id": self.id,
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "notes": self.notes,
        }
        return {key: value for key, value in data.items() if value not in (None, [])}


# -- reading ---------------------------------------------------------------------


def read_source(path: Path) -> Source:
    """Find and read the store at `path` (a file, a ~/.openclaw folder, a database)."""
    path = path.expanduser()
    if not path.exists():
        raise NotFound(
            f"{path} does not exist. Give a jobs.json, ~/.openclaw or openclaw.sqlite."
        )
    if path.is_dir():
        for candidate in (
            "cron/jobs.json",
            "cron/jobs.json.migrated",
            "state/openclaw.sqlite",
            "jobs.json",
            "openclaw.sqlite",
        ):
            if (path / candidate).is_file():
                return read_source(path / candidate)
        raise NotFound(
            f"No OpenClaw cron store in {path} (looked for cron/jobs.json and "
            "state/openclaw.sqlite)."
        )
    what = "jobs.json or openclaw.sqlite"
    if jsonread.read_bytes(path, what, head=16) == b"SQLite format 3\x00":
        return _read_sqlite(path)
    return _read_json_store(path, jsonread.read_bytes(path, what))


def _parse_json(path: Path, data: bytes | None = None) -> Any:
    if data is None:
        data = jsonread.read_bytes(path)
    text = jsonread.decode(data, str(path))
    return jsonread.loads(text, str(path), json5_fallback=True)


def _sidecar(path: Path, suffix: str) -> Path:
    name = path.name
    migrated = name.endswith(".migrated")
    base = name.removesuffix(".migrated")
    stem = base[: -len(".json")] if base.endswith(".json") else base
    return path.with_name(f"{stem}{suffix}" + (".migrated" if migrated else ""))


def _read_json_store(path: Path, raw: bytes) -> Source:
    data = _parse_json(path, raw)
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        rows = data["jobs"]
    elif isinstance(data, list):
        rows = data
    else:
        raise ImportFormatError(
            f'{path} holds no job list: expected {{"version": 1, "jobs": [...]}} or a list.'
        )
    states: dict[str, Any] = {}
    state_path = _sidecar(path, "-state.json")
    if state_path.is_file():
        sidecar = _parse_json(state_path)
        if isinstance(sidecar, dict) and isinstance(sidecar.get("jobs"), dict):
            states = sidecar["jobs"]
    jobs = []
    for index, row in enumerate(rows):
        job_id = _job_id(row) if isinstance(row, dict) else None
        entry = states.get(job_id) if job_id is not None else None
        state = None
        if isinstance(entry, dict):
            if entry.get("scheduleIdentity") in (None, schedule_identity(row)):
                state = dict(entry.get("state") or {})
            else:  # the schedule changed since: its pending next run no longer holds
                state = {
                    k: v
                    for k, v in (entry.get("state") or {}).items()
                    if k != "nextRunAtMs"
                }
        jobs.append(RawJob(index, row, state))
    runs = path.parent / "runs"
    return Source(str(path), jobs, runs if runs.is_dir() else None, _quarantined(path))


def _quarantined(path: Path) -> list[tuple[str | None, str | None, str]]:
    """Rows in the quarantine sidecar, so the report can say they were not imported."""
    quarantine = _sidecar(path, "-quarantine.json")
    if not quarantine.is_file():
        return []
    try:
        data = _parse_json(quarantine)
    except ImportFormatError:
        return [(None, None, f"{quarantine.name} is unreadable")]
    entries = data.get("jobs") if isinstance(data, dict) else None
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        job = entry["job"] if isinstance(entry.get("job"), dict) else {}
        job_id, name = job.get("id"), job.get("name")
        found.append(
            (
                str(job_id) if job_id is not None else None,
                str(name) if name is not None else None,
                str(entry.get("reason") or "unknown reason"),
            )
        )
    return found


def _read_sqlite(path: Path) -> Source:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT job_id, enabled, job_json, state_json FROM cron_jobs"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ImportFormatError(f"Cannot read cron_jobs from {path}: {exc}.") from None
    jobs = []
    for index, (job_id, enabled, job_json, state_json) in enumerate(rows):
        label = f"{path}: job {index} ({job_id})"
        if not isinstance(job_json, str) or not isinstance(state_json, str | None):
            raise ImportFormatError(f"{label}: job_json is not JSON text.")
        job = jsonread.loads(job_json, label)
        state = jsonread.loads(state_json, label) if state_json else None
        if isinstance(job, dict):
            job.setdefault("id", job_id)
            if enabled is not None:
                job["enabled"] = bool(enabled)
        jobs.append(RawJob(index, job, state if isinstance(state, dict) else None))
    return Source(str(path), jobs, None)


def _job_id(row: Any) -> str | None:
    value = row.get("id", row.get("jobId")) if isinstance(row, dict) else None
    return str(value) if value not in (None, "") else None


def schedule_identity(job: dict[str, Any]) -> str:
    """OpenClaw's scheduleIdentity: compact JSON of version, enabled and schedule."""
    schedule = job.get("schedule") or {}
    canon: dict[str, Any] = {"kind": schedule.get("kind")}
    if schedule.get("kind") == "at":
        at = schedule.get("at", schedule.get("atMs"))
        canon["at"] = str(at) if at is not None else None
    elif schedule.get("kind") == "every":
        canon["everyMs"] = schedule.get("everyMs")
        if schedule.get("anchorMs") is not None:
            canon["anchorMs"] = schedule["anchorMs"]
    else:
        canon["expr"] = schedule.get("expr")
        for key in ("tz", "staggerMs"):
            if schedule.get(key) is not None:
                canon[key] = schedule[key]
    identity = {
        "version": 1,
        "enabled": job.get("enabled", True) is not False,
        "schedule": canon,
    }
    return json.dumps(identity, separators=(",", ":"), ensure_ascii=False)


def read_runs(runs_dir: Path | None, job_id: str) -> Iterator[dict[str, Any]]:
    """Finished runs from runs/<id>.jsonl, skipping lines OpenClaw's reader skips."""
    if runs_dir is None or "/" in job_id or "\\" in job_id:
        return
    path = runs_dir / f"{job_id}.jsonl"
    if not path.is_file():
        return
    try:
        data = jsonread.read_bytes(path)
    except (ImportFormatError, NotFound):  # history is a bonus: skip what won't read
        return
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            entry = jsonread.loads(line, str(path))
        except ImportFormatError:
            continue
        if (
            isinstance(entry, dict)
            and entry.get("action") == "finished"
            and entry.get("jobId") == job_id
            and isinstance(entry.get("ts"), int | float)
        ):
            yield entry
