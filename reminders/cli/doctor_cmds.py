"""At a glance: `doctor` checks everything a reminder needs, `agenda` shows what comes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from reminders import app, render, service, triggers
from reminders.cli.common import Runtime, echo_json, json_option, pass_app, pass_runtime
from reminders.config import bot_token, default_timezone, token_exposure
from reminders.errors import EX_UNAVAILABLE, ReminderError
from reminders.schema import AtSchedule

Check = tuple[str, str, str]  # name, "ok" | "warn" | "fail", detail (with the fix)


class Advice(ReminderError):
    """Worth knowing, but nothing is broken: a WARN line, not a FAIL."""


def _check(name: str, probe: Callable[[], str]) -> Check:
    try:
        return name, "ok", probe()
    except Advice as exc:
        return name, "warn", str(exc)
    except ReminderError as exc:
        return name, "fail", str(exc)
    except Exception as exc:
        return name, "fail", f"{type(exc).__name__}: {exc}"


def _checks(runtime: Runtime) -> list[Check]:
    checks = [
        _check(
            "config",
            lambda: f"valid ({runtime.paths.config})" if runtime.settings else "",
        )
    ]
    if checks[0][1] == "fail":
        return checks
    ctx = runtime.app
    checks.append(_check("secrets", lambda: _secrets(runtime)))
    checks.append(_check("token", lambda: _token(runtime)))
    checks.append(_check("database", lambda: _database(runtime)))
    checks.append(_check("daemon", lambda: _daemon(runtime)))
    checks.append(_check("service", _service))
    checks.append(_check("time zone", lambda: _zone(runtime)))
    checks.append(_check("clock", lambda: _clock(ctx)))
    checks.append(_check("webhooks", lambda: _webhooks(runtime)))
    return checks


def _secrets(runtime: Runtime) -> str:
    exposed = token_exposure(runtime.paths.config)
    if exposed:
        raise ReminderError(exposed)
    return "no bot token readable by other users"


def _token(runtime: Runtime) -> str:
    from reminders.cli.daemon_cmds import _sender

    if not bot_token(runtime.settings):
        raise ReminderError(
            "no bot token. Set REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token."
        )

    async def probe() -> str:
        async with _sender(runtime.app):
            pass
        return f"accepted by {runtime.settings.telegram.api_base_url}"

    import asyncio

    return asyncio.run(probe())


def _database(runtime: Runtime) -> str:
    from reminders.status import mark_checked

    mark_checked(runtime.app)
    return f"migrated and writable ({runtime.app.store.label})"


def _daemon(runtime: Runtime) -> str:
    from reminders.status import daemon_state

    state = daemon_state(runtime.app)
    if state["daemon"] != "running":
        raise ReminderError(
            f"daemon {state['daemon']}. Start it: `reminders service install` or "
            "`reminders daemon`."
        )
    if "lease" in state:  # several daemons on PostgreSQL
        leaders = [d for d in state["daemons"] if d["role"] == "leader"]
        if len(leaders) != 1 or not state["lease"]["fresh"]:
            raise ReminderError(
                f"{len(leaders)} daemons lead on the lease (want exactly one). "
                "Check `reminders status` and the daemons' logs."
            )
        standby = sum(d["role"] == "standby" for d in state["daemons"])
        leader = leaders[0]
        return (
            f"leader {leader['host']} pid {leader['pid']} on a fresh lease (epoch "
            f"{state['lease']['epoch']}), {standby} standby"
        )
    return f"running (pid {state['pid']})"


def _service() -> str:
    path = service.plist_path() if service.is_macos() else service.unit_path(False)
    system = service.unit_path(True)
    if path.exists():
        return f"installed ({path})"
    if not service.is_macos() and system.exists():
        return f"installed ({system})"
    raise Advice(
        "no service installed: fine while you run `reminders daemon` yourself; "
        "`reminders service install` keeps it running."
    )


def _zone(runtime: Runtime) -> str:
    from reminders.triggers import validate_tz

    return validate_tz(default_timezone(runtime.settings)).key


def _clock(ctx: app.AppContext) -> str:
    now = ctx.now_ms()
    if now < 1_704_067_200_000:  # 2024-01-01
        raise ReminderError("the system clock is before 2024. Set the date (NTP).")
    from reminders.status import newest_change_ms

    if newest_change_ms(ctx) - now > 60_000:
        raise ReminderError(
            "the clock is behind the newest stored change. Check the system time (NTP)."
        )
    return render.instant(now, ctx.default_tz)


def _webhooks(runtime: Runtime) -> str:
    from reminders.status import webhook_urls
    from reminders.targets import webhook_warning

    urls = webhook_urls(runtime.app)
    if not urls:
        return "no webhook reminders"
    problems = []
    if not runtime.settings.delivery.webhook_secret:
        problems.append(
            "requests go unsigned, so receivers cannot tell them from forgeries. Set "
            'delivery.webhook_secret = "whsec_..." (base64 of 32 random bytes, e.g. '
            "`openssl rand -base64 32`); `reminders config init` writes one"
        )
    plain = sum(1 for url in urls if webhook_warning(url))
    if plain:
        problems.append(
            f"{plain} use plain http to another machine. Switch them to https:// "
            "with `reminders edit ID --webhook URL`"
        )
    if problems:
        raise Advice(f"{len(urls)} webhook reminder(s): " + "; ".join(problems) + ".")
    return f"{len(urls)} webhook reminder(s), requests signed"


@click.command()
@json_option
@pass_runtime
def doctor(runtime: Runtime, as_json: bool) -> None:
    """Check config, secrets, token, database, daemon, service, zone, clock and webhooks.

    One line each: ok, WARN (works, but worth fixing) or FAIL. Exits 69 when a
    check FAILs; a WARN (no service installed, unsigned webhooks) does not.
    """
    checks = _checks(runtime)
    if as_json:
        echo_json(
            [
                {"check": n, "ok": level != "fail", "level": level, "detail": d}
                for n, level, d in checks
            ]
        )
    else:
        for name, level, detail in checks:
            label = "ok" if level == "ok" else level.upper()
            click.echo(f"{label:<4}  {name:<9}  {detail}")
    if any(level == "fail" for _, level, _ in checks):
        raise SystemExit(EX_UNAVAILABLE)


@click.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="At most this many fires per reminder.",
)
@json_option
@pass_app
def agenda(ctx: app.AppContext, days: int, limit: int, as_json: bool) -> None:
    """Upcoming fires over the next N days, grouped by day in your zone.

    A reminder that fires more than --limit times in the window is cut, and the
    agenda says so.
    """
    now = ctx.now_ms()
    until = now + days * 86_400_000
    fires: list[tuple[int, str, str]] = []
    cut: list[tuple[str, int]] = []  # name, last fire shown
    for reminder in app.list_reminders(ctx, include_disabled=False):
        if reminder.state.nextRunAtMs is None:
            continue
        if isinstance(reminder.schedule, AtSchedule):
            times = [reminder.state.nextRunAtMs]
        else:
            times = [reminder.state.nextRunAtMs, *app.upcoming(ctx, reminder, limit)]
        shown = [ms for ms in sorted(set(times)) if ms <= until][:limit]
        after = (
            triggers.next_run(reminder, ctx.default_tz, shown[-1]) if shown else None
        )
        if len(shown) == limit and after is not None and after <= until:
            cut.append((reminder.name, shown[-1]))
        fires += [(ms, reminder.id, reminder.name) for ms in shown]
    fires.sort()
    zone = ctx.default_tz
    notes = [
        f"Cut: {name!r} fires more than {limit} times in {days} day(s); shown up to "
        f"{render.instant(last, zone)}. See more with --limit {limit * 10} or fewer "
        "--days."
        for name, last in cut
    ]
    if as_json:
        echo_json(
            [
                {"atMs": ms, "at": render.instant(ms, zone), "id": i, "name": n}
                for ms, i, n in fires
            ]
        )
        for note in notes:
            click.echo(note, err=True)
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
    for note in notes:
        click.echo(note)


COMMANDS = [doctor, agenda]
