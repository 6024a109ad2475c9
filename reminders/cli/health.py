"""At a glance: `doctor` checks everything a reminder needs, `agenda` shows what comes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from reminders import app, render, service
from reminders.cli.common import Runtime, echo_json, json_option, pass_app, pass_runtime
from reminders.config import bot_token, default_timezone
from reminders.errors import EX_UNAVAILABLE, ReminderError
from reminders.schema import AtSchedule

Check = tuple[str, bool, str]  # name, passed, detail (with the fix when it failed)


def _check(name: str, probe: Callable[[], str]) -> Check:
    try:
        return name, True, probe()
    except ReminderError as exc:
        return name, False, str(exc)
    except Exception as exc:
        return name, False, f"{type(exc).__name__}: {exc}"


def _checks(runtime: Runtime) -> list[Check]:
    checks = [
        _check(
            "config",
            lambda: f"valid ({runtime.paths.config})" if runtime.settings else "",
        )
    ]
    if not checks[0][1]:
        return checks
    ctx = runtime.app
    checks.append(_check("token", lambda: _token(runtime)))
    checks.append(_check("database", lambda: _database(runtime)))
    checks.append(_check("daemon", lambda: _daemon(runtime)))
    checks.append(_check("service", _service))
    checks.append(_check("time zone", lambda: _zone(runtime)))
    checks.append(_check("clock", lambda: _clock(ctx)))
    return checks


def _token(runtime: Runtime) -> str:
    from reminders.cli.operate import _sender

    if not bot_token(runtime.settings):
        raise ReminderError(
            "no bot token. Set REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token."
        )

    async def probe() -> str:
        sender = _sender(runtime.app)
        await sender.start()
        await sender.close()
        return f"accepted by {runtime.settings.telegram.api_base_url}"

    import asyncio

    return asyncio.run(probe())


def _database(runtime: Runtime) -> str:
    store = runtime.app.store
    with store.write() as conn:
        store.set_meta(conn, "doctor.checked_ms", str(runtime.app.now_ms()))
    return f"migrated and writable ({store.label})"


def _daemon(runtime: Runtime) -> str:
    from reminders.app import daemon_state

    state = daemon_state(runtime.app)
    if state["daemon"] != "running":
        raise ReminderError(
            f"daemon {state['daemon']}. Start it: `reminders service install` or "
            "`reminders daemon`."
        )
    return f"running (pid {state['pid']})"


def _service() -> str:
    path = service.plist_path() if service.is_macos() else service.unit_path(False)
    system = service.unit_path(True)
    if path.exists():
        return f"installed ({path})"
    if not service.is_macos() and system.exists():
        return f"installed ({system})"
    raise ReminderError("no service installed. Run `reminders service install`.")


def _zone(runtime: Runtime) -> str:
    from reminders.triggers import validate_tz

    return validate_tz(default_timezone(runtime.settings)).key


def _clock(ctx: app.AppContext) -> str:
    now = ctx.now_ms()
    if now < 1_704_067_200_000:  # 2024-01-01
        raise ReminderError("the system clock is before 2024. Set the date (NTP).")
    with ctx.store.read() as conn:
        latest = max((r.updatedAtMs for r in ctx.store.all(conn)), default=0)
    if latest - now > 60_000:
        raise ReminderError(
            "the clock is behind the newest stored change. Check the system time (NTP)."
        )
    return render.instant(now, ctx.default_tz)


@click.command()
@json_option
@pass_runtime
def doctor(runtime: Runtime, as_json: bool) -> None:
    """Check config, token, database, daemon, service, zone and clock, one line each."""
    checks = _checks(runtime)
    if as_json:
        echo_json([{"check": n, "ok": ok, "detail": d} for n, ok, d in checks])
    else:
        for name, ok, detail in checks:
            click.echo(f"{'ok  ' if ok else 'FAIL'}  {name:<9}  {detail}")
    if not all(ok for _, ok, _ in checks):
        raise SystemExit(EX_UNAVAILABLE)


@click.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@json_option
@pass_app
def agenda(ctx: app.AppContext, days: int, as_json: bool) -> None:
    """Upcoming fires over the next N days, grouped by day in your zone."""
    now = ctx.now_ms()
    until = now + days * 86_400_000
    fires: list[tuple[int, str, str]] = []
    for reminder in app.list_reminders(ctx, include_disabled=False):
        if reminder.state.nextRunAtMs is None:
            continue
        if isinstance(reminder.schedule, AtSchedule):
            times = [reminder.state.nextRunAtMs]
        else:
            times = [reminder.state.nextRunAtMs] + app.upcoming(ctx, reminder, 500)
        for ms in sorted(set(times)):
            if ms <= until:
                fires.append((ms, reminder.id, reminder.name))
    fires.sort()
    zone = ctx.default_tz
    if as_json:
        echo_json(
            [
                {"atMs": ms, "at": render.instant(ms, zone), "id": i, "name": n}
                for ms, i, n in fires
            ]
        )
        return
    if not fires:
        click.echo(f"Nothing in the next {days} day(s).")
        return
    day = None
    for ms, _, name in fires:
        local = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone))
        if local.date() != day:
            day = local.date()
            click.echo(f"{local:%A %Y-%m-%d} ({zone})")
        click.echo(f"  {local:%H:%M:%S}  {name}")


COMMANDS = [doctor, agenda]
