"""Use-cases, one function per verb. No click, no SQL: the store and clock are handed in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from reminders import triggers
from reminders.build import PAST_TOLERANCE_MS as PAST_TOLERANCE_MS
from reminders.build import ReminderSpec as ReminderSpec
from reminders.build import (
    apply_nag,
    delivery_json,
    job_json,
    payload_json,
    plain_spec,
    schedule_json,
)
from reminders.build import infer_name as infer_name
from reminders.clock import Clock, SystemClock
from reminders.config import Paths, Settings, database_url, default_timezone
from reminders.errors import (
    ReminderNotFound,
    UsageError,
    ValidationError,
)
from reminders.store import Store
from reminders.timeparse import parse_duration

if TYPE_CHECKING:
    from reminders.schema import Reminder, Run
    from reminders.transaction import Transaction

DEFAULT_NAG_MAX = 8  # re-sends per delivery when --nag-max is not given


@dataclass
class AppContext:
    """What every use-case needs: settings, where things live, a clock, the store."""

    settings: Settings
    paths: Paths
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def store(self) -> Store:
        from reminders.migrate import open_store

        return open_store(database_url(self.settings, self.paths))

    @cached_property
    def default_tz(self) -> str:
        return default_timezone(self.settings)

    def now_ms(self) -> int:
        return self.clock.now_ms()


# -- scheduling -----------------------------------------------------------------


def upcoming(ctx: AppContext, reminder: Reminder, count: int) -> list[int]:
    schedule = reminder.schedule
    if schedule.kind == "at":
        return [schedule.at_ms]
    return triggers.upcoming_ms(
        schedule,
        reminder_id=reminder.id,
        default_tz=ctx.default_tz,
        after_ms=ctx.now_ms(),
        count=count,
        anchor_ms=triggers.anchor_of(reminder),
    )


def zone_of(ctx: AppContext, reminder: Reminder) -> str:
    return zone_of_schedule(ctx.default_tz, reminder.schedule)


def zone_of_schedule(default_tz: str, schedule: triggers.Schedule) -> str:
    """The zone a schedule's times read in: a cron's own, else the configured one."""
    if isinstance(schedule, dict):  # stored JSON: `list` asks this of every row
        kind, zone = schedule.get("kind"), schedule.get("tz")
    else:
        kind, zone = schedule.kind, getattr(schedule, "tz", None)
    return str(zone) if kind == "cron" and zone else default_tz


# -- adding ----------------------------------------------------------------------


def build_job(ctx: AppContext, spec: ReminderSpec) -> dict[str, Any]:
    """A new reminder's OpenClaw JSON, with its first fire time in its state.

    A spec as the CLI gives it is right by construction and is used as built; any
    other is read through the Reminder model first, which refuses what it must.
    """
    now_ms = ctx.now_ms()
    job = job_json(
        spec,
        reminder_id=str(uuid.uuid4()),
        now_ms=now_ms,
        default_tz=ctx.default_tz,
        settings=ctx.settings,
    )
    if not plain_spec(spec):
        from reminders.schema import parse_reminder

        job = parse_reminder(job).to_json()
        job.pop("state", None)
    next_ms = triggers.next_run_of_job(job, ctx.default_tz, now_ms)
    job["state"] = {} if next_ms is None else {"nextRunAtMs": next_ms}
    return job


def build_reminder(ctx: AppContext, spec: ReminderSpec) -> Reminder:
    from reminders.schema import parse_reminder

    return parse_reminder(build_job(ctx, spec))


def add_job(ctx: AppContext, spec: ReminderSpec) -> dict[str, Any]:
    """Add a reminder; its OpenClaw JSON as stored."""
    job = build_job(ctx, spec)
    with ctx.store.write() as tx:
        tx.save(job, ctx.now_ms())
    return job


def add(ctx: AppContext, spec: ReminderSpec) -> Reminder:
    from reminders.schema import parse_reminder

    return parse_reminder(add_job(ctx, spec))


# -- verbs -----------------------------------------------------------------------


def resolve(ctx: AppContext, ref: str, tx: Transaction | None = None) -> Reminder:
    """A reminder by id, unique id prefix or exact name."""
    if tx is None:
        with ctx.store.read() as tx:
            return resolve(ctx, ref, tx)
    if not ref.strip():
        raise UsageError(
            "The reminder id is empty. Give an id, a unique id prefix or a name "
            "(`reminders list --all` shows them)."
        )
    found = tx.find(ref.strip())
    if not found:
        raise ReminderNotFound(ref)
    if len(found) > 1:
        which = ", ".join(f"{r.id} ({r.name})" for r in found[:5])
        raise ValidationError(
            f"{ref!r} matches {len(found)} reminders: {which}. Use the full id."
        )
    return found[0]


def short_ids(ctx: AppContext, ids: list[str]) -> dict[str, str]:
    """The shortest prefix by which each of `ids` can be named. Only each id's
    neighbours in sorted order can share its prefix, so a screen costs the same
    at any size."""
    from reminders.render import shortest_prefixes
    from reminders.transaction import MIN_ID_PREFIX

    with ctx.store.read() as tx:
        if len(ids) > 1_000:  # a long listing: one pass over every id is cheaper
            known = tx.ids()
            known += set(ids).difference(known)  # some may be gone since
        else:
            near = set(ids)
            for rid in ids:
                near.update(tx.id_neighbours(rid))
            known = list(near)
    prefixes = shortest_prefixes(known, MIN_ID_PREFIX)
    return {rid: prefixes[rid] for rid in ids}


def show(ctx: AppContext, ref: str) -> Reminder:
    return resolve(ctx, ref)


def list_reminders(ctx: AppContext, *, include_disabled: bool) -> list[Reminder]:
    with ctx.store.read() as tx:
        return tx.all(include_disabled=include_disabled)


def list_rows(
    ctx: AppContext, *, include_disabled: bool, limit: int | None
) -> tuple[list[dict[str, Any]], int]:
    """Stored rows for a listing, soonest first, and how many there are in all."""
    with ctx.store.read() as tx:
        return tx.listing(include_disabled=include_disabled, limit=limit)


def edit(ctx: AppContext, ref: str, spec: ReminderSpec) -> Reminder:
    if spec.is_empty:
        raise UsageError(
            "Nothing to change: give at least one flag, such as --name, --cron or "
            "--to (`reminders edit --help` lists them)."
        )
    from reminders.schema import parse_reminder

    now_ms = ctx.now_ms()
    with ctx.store.write() as tx:
        current = resolve(ctx, ref, tx)
        data = current.model_dump(exclude_none=True)
        schedule_changed = False
        if spec.schedule_flags:
            data["schedule"] = _keep_unnamed(
                data["schedule"], spec, schedule_json(spec, ctx.default_tz, now_ms)
            )
            schedule_changed = True
        elif spec.tz is not None or spec.stagger is not None or spec.exact:
            data["schedule"] = _patch_cron(data["schedule"], spec)
            schedule_changed = True
        if spec.system_event is not None or spec.message is not None:
            data["payload"] = payload_json(spec)
        if spec.name is not None:
            if not spec.name.strip():
                raise ValidationError("The name is empty. Pass --name with some text.")
            data["name"] = spec.name.strip()
        if spec.description is not None:
            data["description"] = spec.description.strip() or None
        if spec.enabled is not None:
            data["enabled"] = spec.enabled
            if not spec.enabled:
                tx.stop_nags(current.id)
        if spec.delete_after_run is not None:
            data["deleteAfterRun"] = spec.delete_after_run
        if spec.catch_up is not None:
            data["catchUpMs"] = parse_duration(spec.catch_up)
        data["delivery"] = delivery_json(
            spec, data.get("delivery"), ctx.settings.delivery.default_to
        )
        apply_nag(ctx.settings, spec, data)
        if spec.nag is not None and "nagEveryMs" not in data:
            tx.stop_nags(current.id)  # --nag off ends the chain under way too
        data.update(spec.extra)
        data["updatedAtMs"] = now_ms
        updated = parse_reminder(data)
        if schedule_changed or spec.enabled is not None:
            if schedule_changed and updated.schedule.kind == "at":
                updated.state.lastRunAtMs = current.state.lastRunAtMs
            updated.state.nextRunAtMs = triggers.next_run(
                updated, ctx.default_tz, now_ms
            )
            if _rearm(current, updated, schedule_changed):
                updated.state.nextRunAtMs = now_ms
        elif not updated.enabled:
            updated.state.nextRunAtMs = None
        tx.save(updated, now_ms)
    return updated


def _keep_unnamed(
    old: dict[str, Any], spec: ReminderSpec, new: dict[str, Any]
) -> dict[str, Any]:
    """A new --cron keeps the zone and stagger it had unless --tz/--stagger/--exact say
    otherwise: `edit` changes only what is named."""
    if new["kind"] == "cron" and old["kind"] == "cron":
        kept = [
            key
            for key, named in (
                ("tz", spec.tz is not None),
                ("staggerMs", spec.stagger is not None or spec.exact),
            )
            if not named
        ]
        new = {key: value for key, value in new.items() if key not in kept}
        new.update({key: old[key] for key in kept if key in old})
    return new


def _rearm(current: Reminder, updated: Reminder, schedule_changed: bool) -> bool:
    """Enabling a one-shot whose delivery failed (no token yet, a bad chat) delivers
    it again at once, late, instead of leaving it enabled with nothing to fire."""
    return (
        not schedule_changed
        and not current.enabled
        and updated.enabled
        and updated.schedule.kind == "at"
        and updated.state.nextRunAtMs is None
        and current.state.lastRunStatus == "error"
    )


def _patch_cron(schedule: dict[str, Any], spec: ReminderSpec) -> dict[str, Any]:
    if schedule["kind"] != "cron":
        raise ValidationError(
            "--tz, --stagger and --exact alone change a --cron schedule only; "
            "give a new --at or --every instead."
        )
    if spec.stagger is not None and spec.exact:
        raise ValidationError("Choose either --stagger or --exact, not both.")
    patched = dict(schedule)
    if spec.tz is not None:
        patched["tz"] = triggers.validate_tz(spec.tz.strip()).key
    if spec.exact:
        patched["staggerMs"] = 0
    elif spec.stagger is not None:
        patched["staggerMs"] = parse_duration(spec.stagger)
    return patched


def set_enabled(ctx: AppContext, ref: str, enabled: bool) -> Reminder:
    return edit(ctx, ref, ReminderSpec(enabled=enabled))


def remove(ctx: AppContext, ref: str) -> Reminder:
    with ctx.store.write() as tx:
        reminder = resolve(ctx, ref, tx)
        tx.remove(reminder.id, ctx.now_ms())
    return reminder


# -- running and watching ------------------------------------------------------


def run_history(ctx: AppContext, ref: str | None, limit: int) -> list[Run]:
    """The latest runs, of one reminder (a deleted one keeps its history) or all."""
    reminder_id, deleted = None, False
    if ref is not None:
        try:
            reminder_id = resolve(ctx, ref).id
        except ReminderNotFound:
            reminder_id, deleted = ref, True
    with ctx.store.read() as tx:
        history = tx.runs(reminder_id, limit=limit)
    if deleted and not history:
        raise ReminderNotFound(str(ref))
    return history


def run_now(ctx: AppContext, ref: str) -> tuple[Reminder, Run]:
    """Deliver a reminder now without moving its schedule; the run as recorded."""
    import asyncio
    import contextlib

    from reminders.delivery import make_sender
    from reminders.errors import Unavailable
    from reminders.firing import make_firer

    reminder = resolve(ctx, ref)

    async def go() -> Run:
        # Closed at the end; opened here only for a Telegram reminder (a webhook
        # reminder needs no bot, and a failure alert opens it when it sends).
        sender: Any = make_sender(ctx.settings)
        async with contextlib.aclosing(sender):
            if reminder.webhook_url is None:
                with contextlib.suppress(Unavailable):  # the run records why
                    await sender.start()
            firer = make_firer(ctx.store, sender, ctx.settings, ctx.clock)
            try:
                return await firer.run_now(reminder)
            finally:
                firer.close()

    return reminder, asyncio.run(go())
