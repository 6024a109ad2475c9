"""Use-cases, one function per verb. No click, no SQL: the store and clock are handed in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from reminders import triggers
from reminders.clock import Clock, SystemClock
from reminders.config import Paths, Settings, database_url, default_timezone
from reminders.errors import (
    ReminderNotFound,
    ScheduleError,
    UsageError,
    ValidationError,
)
from reminders.schema import (
    AgentTurnPayload,
    AtSchedule,
    CronSchedule,
    Delivery,
    EverySchedule,
    Reminder,
    Run,
    SystemEventPayload,
    check_text_length,
    ms_to_iso,
    parse_reminder,
)
from reminders.store import Store
from reminders.targets import parse_target, parse_webhook_url
from reminders.timeparse import MIN_EVERY_MS, parse_at, parse_duration
from reminders.transaction import Transaction
from reminders.triggers import anchor_of, next_run

PAST_TOLERANCE_MS = 60_000
DEFAULT_NAG_MAX = 8  # re-sends per delivery when --nag-max is not given
MAX_AHEAD_MS = 10 * 366 * 86_400_000
TELEGRAM_CHANNELS = {"telegram", "tg", "last"}


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


# -- scheduling -----------------------------------------------------------------


def upcoming(ctx: AppContext, reminder: Reminder, count: int) -> list[int]:
    schedule = reminder.schedule
    if isinstance(schedule, AtSchedule):
        return [schedule.at_ms]
    return triggers.upcoming_ms(
        schedule,
        reminder_id=reminder.id,
        default_tz=ctx.default_tz,
        after_ms=ctx.now_ms(),
        count=count,
        anchor_ms=anchor_of(reminder),
    )


def zone_of(ctx: AppContext, reminder: Reminder) -> str:
    schedule = reminder.schedule
    if isinstance(schedule, CronSchedule) and schedule.tz:
        return schedule.tz
    return ctx.default_tz


# -- building reminders from flags ----------------------------------------------


def infer_name(text: str) -> str:
    """OpenClaw's rule: the first line of the text, at most 60 characters."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return first if len(first) <= 60 else first[:59] + "…"


def _schedule(ctx: AppContext, spec: ReminderSpec, now_ms: int) -> Any:
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
    zone = triggers.validate_tz(tz or ctx.default_tz)
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
        return AtSchedule(at=ms_to_iso(at_ms))
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
        return EverySchedule(everyMs=every_ms, anchorMs=anchor)
    expr = " ".join(str(spec.cron).split())
    triggers.validate_cron(expr)
    stagger = parse_duration(spec.stagger) if spec.stagger is not None else None
    return CronSchedule(expr=expr, tz=zone.key, staggerMs=0 if spec.exact else stagger)


def _payload(spec: ReminderSpec) -> SystemEventPayload | AgentTurnPayload:
    given = [text for text in (spec.system_event, spec.message) if text is not None]
    if len(given) != 1:
        raise ValidationError(
            "Choose exactly one payload: --system-event or --message."
        )
    if not given[0].strip():
        raise ValidationError("The reminder text is empty. Pass the text to send.")
    check_text_length(given[0])
    if spec.system_event is not None:
        return SystemEventPayload(text=spec.system_event)
    return AgentTurnPayload(message=str(spec.message))


def _check_channel(channel: str | None) -> None:
    if channel is not None and channel.strip().lower() not in TELEGRAM_CHANNELS:
        raise ValidationError(
            f"Channel {channel!r} is not supported: reminders go to Telegram. "
            "Use --channel telegram (or leave it out)."
        )


def _webhook_delivery(spec: ReminderSpec, base: Delivery | None) -> Delivery:
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
    kept = base.model_dump(exclude_none=True) if base else {}
    for key in ("to", "threadId", "channel", "silent", "parseMode", "mode"):
        kept.pop(key, None)
    url = parse_webhook_url(spec.webhook)
    return Delivery.model_validate({**kept, "mode": "webhook", "to": url})


def _delivery(
    spec: ReminderSpec, base: Delivery | None, default_to: str = ""
) -> Delivery:
    if spec.webhook is not None:
        return _webhook_delivery(spec, base)
    _check_channel(spec.channel)
    delivery = base.model_copy() if base else Delivery()
    if delivery.mode == "webhook":
        if spec.to is None and spec.deliver is None and spec.thread_id is None:
            parse_webhook_url(delivery.to)
            return delivery  # an edit that leaves the webhook alone
        # A chat given to a webhook reminder moves it back to Telegram.
        delivery.mode, delivery.to = "announce", None
    if spec.deliver is not None:
        delivery.mode = "announce" if spec.deliver else "none"
    if spec.to is not None:
        delivery.to = spec.to.strip()
    if spec.thread_id is not None:
        delivery.threadId = spec.thread_id
    if spec.silent is not None:
        delivery.silent = spec.silent or None
    if spec.parse_mode is not None:
        delivery.parseMode = spec.parse_mode or None  # type: ignore[assignment]
    delivery.channel = "telegram"
    if delivery.mode == "announce":
        delivery.to = delivery.to or default_to.strip() or None
        if not delivery.to:
            raise ValidationError(
                "Missing --to: say which Telegram chat gets this reminder "
                "(for example --to 123456789), set delivery.default_to in the "
                "config, or pass --no-deliver."
            )
        parse_target(delivery.to, delivery.threadId)
    elif spec.thread_id is not None:
        parse_target(delivery.to or "0", delivery.threadId)
    return delivery


def _nag(ctx: AppContext, spec: ReminderSpec, data: dict[str, Any]) -> None:
    """Apply --nag/--nag-max to a reminder's JSON; only a chat with buttons nags."""
    if spec.nag is None and spec.nag_max is None:
        return
    if spec.nag is not None and spec.nag.strip().lower() in ("off", "0", "none"):
        data.pop("nagEveryMs", None)
        data.pop("nagMax", None)
        return
    if not ctx.settings.telegram.interactive:
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


def build_reminder(ctx: AppContext, spec: ReminderSpec) -> Reminder:
    now_ms = ctx.now_ms()
    reminder_id = str(uuid.uuid4())
    schedule = _schedule(ctx, spec, now_ms)
    payload = _payload(spec)
    text = payload.text if isinstance(payload, SystemEventPayload) else payload.message
    name = (spec.name or "").strip() or infer_name(text)
    if spec.name is not None and not spec.name.strip():
        raise ValidationError(
            "The name is empty. Pass --name with some text, or leave it out."
        )
    delete_after_run = spec.delete_after_run
    if delete_after_run is None and isinstance(schedule, AtSchedule):
        delete_after_run = True
    data: dict[str, Any] = {
        "id": reminder_id,
        "name": name,
        "description": (spec.description or "").strip() or None,
        "enabled": spec.enabled if spec.enabled is not None else True,
        "deleteAfterRun": delete_after_run,
        "createdAtMs": now_ms,
        "updatedAtMs": now_ms,
        "schedule": schedule.model_dump(exclude_none=True),
        "payload": payload.model_dump(exclude_none=True),
        "delivery": _delivery(spec, None, ctx.settings.delivery.default_to).model_dump(
            exclude_none=True
        ),
        "catchUpMs": parse_duration(spec.catch_up)
        if spec.catch_up is not None
        else None,
        **spec.extra,
    }
    _nag(ctx, spec, data)
    reminder = parse_reminder(data)
    reminder.state.nextRunAtMs = next_run(reminder, ctx.default_tz, now_ms)
    return reminder


# -- verbs -----------------------------------------------------------------------


def add(ctx: AppContext, spec: ReminderSpec) -> Reminder:
    reminder = build_reminder(ctx, spec)
    with ctx.store.write() as tx:
        tx.save(reminder, ctx.now_ms())
    return reminder


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
            known = set(tx.ids()) | set(ids)  # some may be gone since
        else:
            known = set(ids)
            for rid in ids:
                known.update(tx.id_neighbours(rid))
    prefixes = shortest_prefixes(list(known), MIN_ID_PREFIX)
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
    now_ms = ctx.now_ms()
    with ctx.store.write() as tx:
        current = resolve(ctx, ref, tx)
        data = current.model_dump(exclude_none=True)
        schedule_changed = False
        if spec.schedule_flags:
            data["schedule"] = _keep_unnamed(
                current, spec, _schedule(ctx, spec, now_ms)
            ).model_dump(exclude_none=True)
            schedule_changed = True
        elif spec.tz is not None or spec.stagger is not None or spec.exact:
            data["schedule"] = _patch_cron(ctx, current, spec)
            schedule_changed = True
        if spec.system_event is not None or spec.message is not None:
            data["payload"] = _payload(spec).model_dump(exclude_none=True)
        if spec.name is not None:
            if not spec.name.strip():
                raise ValidationError("The name is empty. Pass --name with some text.")
            data["name"] = spec.name.strip()
        if spec.description is not None:
            data["description"] = spec.description.strip() or None
        if spec.enabled is not None:
            data["enabled"] = spec.enabled
        if spec.delete_after_run is not None:
            data["deleteAfterRun"] = spec.delete_after_run
        if spec.catch_up is not None:
            data["catchUpMs"] = parse_duration(spec.catch_up)
        data["delivery"] = _delivery(
            spec, current.delivery, ctx.settings.delivery.default_to
        ).model_dump(exclude_none=True)
        _nag(ctx, spec, data)
        data.update(spec.extra)
        data["updatedAtMs"] = now_ms
        updated = parse_reminder(data)
        if schedule_changed or spec.enabled is not None:
            if schedule_changed and isinstance(updated.schedule, AtSchedule):
                updated.state.lastRunAtMs = current.state.lastRunAtMs
            updated.state.nextRunAtMs = next_run(updated, ctx.default_tz, now_ms)
            if _rearm(current, updated, schedule_changed):
                updated.state.nextRunAtMs = now_ms
        elif not updated.enabled:
            updated.state.nextRunAtMs = None
        tx.save(updated, now_ms)
    return updated


def _keep_unnamed(current: Reminder, spec: ReminderSpec, new: Any) -> Any:
    """A new --cron keeps the zone and stagger it had unless --tz/--stagger/--exact say
    otherwise: `edit` changes only what is named."""
    old = current.schedule
    if isinstance(new, CronSchedule) and isinstance(old, CronSchedule):
        if spec.tz is None:
            new.tz = old.tz
        if spec.stagger is None and not spec.exact:
            new.staggerMs = old.staggerMs
    return new


def _rearm(current: Reminder, updated: Reminder, schedule_changed: bool) -> bool:
    """Enabling a one-shot whose delivery failed (no token yet, a bad chat) delivers
    it again at once, late, instead of leaving it enabled with nothing to fire."""
    return (
        not schedule_changed
        and not current.enabled
        and updated.enabled
        and isinstance(updated.schedule, AtSchedule)
        and updated.state.nextRunAtMs is None
        and current.state.lastRunStatus == "error"
    )


def _patch_cron(
    ctx: AppContext, current: Reminder, spec: ReminderSpec
) -> dict[str, Any]:
    schedule = current.schedule
    if not isinstance(schedule, CronSchedule):
        raise ValidationError(
            "--tz, --stagger and --exact alone change a --cron schedule only; "
            "give a new --at or --every instead."
        )
    if spec.stagger is not None and spec.exact:
        raise ValidationError("Choose either --stagger or --exact, not both.")
    patched = schedule.model_copy()
    if spec.tz is not None:
        patched.tz = triggers.validate_tz(spec.tz.strip()).key
    if spec.exact:
        patched.staggerMs = 0
    elif spec.stagger is not None:
        patched.staggerMs = parse_duration(spec.stagger)
    return patched.model_dump(exclude_none=True)


def set_enabled(ctx: AppContext, ref: str, enabled: bool) -> Reminder:
    return edit(ctx, ref, ReminderSpec(enabled=enabled))


def remove(ctx: AppContext, ref: str) -> Reminder:
    with ctx.store.write() as tx:
        reminder = resolve(ctx, ref, tx)
        tx.delete(reminder.id, ctx.now_ms())
    return reminder


# -- running and watching ------------------------------------------------------


def run_history(ctx: AppContext, ref: str | None, limit: int) -> list[Run]:
    """The latest runs, of one reminder (a deleted one keeps its history) or all."""
    reminder_id, deleted = None, False
    if ref:
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
        sender: Any = make_sender(ctx.settings)
        if reminder.webhook_url is None:  # a webhook reminder needs no bot
            with contextlib.suppress(Unavailable):  # the run records why
                await sender.start()
        try:
            firer = make_firer(ctx.store, sender, ctx.settings, ctx.clock)
            return await firer.run_now(reminder)
        finally:
            await sender.close()

    return reminder, asyncio.run(go())


def daemon_state(ctx: AppContext) -> dict[str, Any]:
    """Is a daemon running, what fires next, counts, recent failures."""
    from reminders.config import bot_token, mask
    from reminders.daemon import META_HEARTBEAT, META_PID, STALE_AFTER_S, daemon_alive

    now = ctx.now_ms()
    with ctx.store.read() as tx:
        heartbeat = tx.get_meta(META_HEARTBEAT)
        pid_text = tx.get_meta(META_PID)
        counts = tx.counts()
        next_due = tx.next_due_at()
        runs = tx.count_runs_since(now - 86_400_000)
        recent = [r for r in tx.runs(limit=200) if r.status == "failed"]
    cluster: dict[str, Any] = {}
    if ctx.store.postgres:  # several daemons: the lease says who runs
        from reminders.lease import daemons_summary

        state, pid, beat_ms, cluster = daemons_summary(ctx.store, now)
    else:
        alive = daemon_alive(ctx)
        beat_ms = int(heartbeat) if heartbeat else None
        fresh = beat_ms is not None and now - beat_ms < STALE_AFTER_S * 1000
        state = "running" if alive and fresh else ("stale" if alive else "stopped")
        pid = int(pid_text) if alive and pid_text else None
    return {
        "daemon": state,
        "pid": pid,
        "heartbeatMs": beat_ms,
        **cluster,
        "nextRunAtMs": next_due,
        "reminders": counts,
        "runsLast24h": runs,
        "recentFailures": [r.model_dump(exclude_none=True) for r in recent[:5]],
        "database": ctx.store.label,
        "config": str(ctx.paths.config),
        "botToken": mask(bot_token(ctx.settings)),
        "timezone": ctx.default_tz,
    }
