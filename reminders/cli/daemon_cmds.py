"""Running and watching: daemon, status, runs, run, send-test."""

from __future__ import annotations

from typing import Any

import click

from reminders import app, render
from reminders.app import AppContext
from reminders.cli.common import (
    Runtime,
    echo_json,
    json_option,
    pass_app,
    pass_runtime,
)
from reminders.config import bot_token
from reminders.errors import (
    EX_CONFIG,
    EX_UNAVAILABLE,
    ConfigError,
    DeliveryError,
    DeliveryFailure,
    TransientError,
    UsageError,
)

# Failures that may pass (flood control, no answer, a network fault or 5xx): `run`
# exits 75 for these, 69 for a refusal that retrying will not change.
TRANSIENT_ERRORS = {"RetryAfter", "TimedOut", "NetworkError"}


@click.command()
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), help="Log line format."
)
@click.option(
    "--exit-zero-on-config-error",
    "config_error_zero",
    is_flag=True,
    help="Exit 0 instead of 78 on a configuration error, for launchd, which "
    "restarts on any other exit.",
)
@pass_runtime
def daemon(runtime: Runtime, log_format: str | None, config_error_zero: bool) -> None:
    """Run the scheduler in the foreground (what the service runs).

    SIGTERM/SIGINT finish the send in flight and exit 0; SIGHUP re-reads the config.
    Exits 75 on a temporary cause (restart it), 78 on a configuration error (fix it).
    """
    from reminders.daemon import run_daemon
    from reminders.logs import setup_logging

    try:
        ctx = runtime.app
        token = bot_token(ctx.settings)
        setup_logging(log_format or ctx.settings.daemon.log_format, [token or ""])
        code = run_daemon(ctx)
    except ConfigError as exc:
        if not config_error_zero:
            raise
        click.echo(f"Error: {exc}", err=True)
        code = EX_CONFIG
    raise SystemExit(0 if config_error_zero and code == EX_CONFIG else code)


def _cluster_lines(state: dict[str, Any], now: int) -> list[str]:
    lease = state["lease"]
    lines = [
        f"lease:      epoch {lease['epoch']}, "
        + (f"held by {lease['holder']}" if lease["fresh"] else "free")
    ]
    for d in state["daemons"]:
        lines.append(
            f"  {d['role']:<8}  {d['host']} pid {d['pid']}, heartbeat "
            f"{render.relative(d['heartbeatMs'], now)}"
            + (f", epoch {d['epoch']}" if d["epoch"] is not None else "")
        )
    return lines


@click.command()
@json_option
@pass_app
def status(ctx: AppContext, as_json: bool) -> None:
    """Is the daemon running, what fires next, what failed lately.

    Exits 0 when the daemon runs and is fresh, 69 when it is stopped or stale.
    """
    from reminders.status import daemon_state

    state = daemon_state(ctx)
    if as_json:
        echo_json(state)
    else:
        zone = ctx.default_tz
        now = ctx.now_ms()
        daemon_line = state["daemon"]
        if state["pid"]:
            daemon_line += f" (pid {state['pid']}, heartbeat {render.relative(state['heartbeatMs'], now)})"
        counts = state["reminders"]
        runs = state["runsLast24h"]
        lines = [
            f"daemon:     {daemon_line}",
            *(_cluster_lines(state, now) if "lease" in state else []),
            f"next fire:  {render.instant(state['nextRunAtMs'], zone)} "
            f"{render.relative(state['nextRunAtMs'], now)}".rstrip(),
            f"reminders:  {counts['enabled']} enabled, {counts['disabled']} disabled",
            "last 24 h:  "
            + (", ".join(f"{n} {s}" for s, n in sorted(runs.items())) or "no runs"),
            f"database:   {state['database']}",
            f"config:     {state['config']}",
            f"bot token:  {state['botToken']}",
        ]
        for failure in state["recentFailures"]:
            lines.append(
                f"failed:     {failure.get('reminderName') or failure['reminderId']} at "
                f"{render.instant(failure['scheduledForMs'], zone)}: "
                f"{failure.get('errorClass')}: {failure.get('errorText')}"
            )
        if state["botToken"] == "(not set)":
            lines.append(
                "Add a bot token: set REMINDERS_TELEGRAM_BOT_TOKEN, or run "
                "`reminders config init` and set telegram.bot_token."
            )
        if state["daemon"] != "running":
            lines.append(
                "Start the daemon with `reminders daemon` or `reminders service install`."
            )
        click.echo("\n".join(lines))
    if state["daemon"] != "running":
        raise SystemExit(EX_UNAVAILABLE)


@click.command()
@click.argument("ref", required=False)
@click.option("--id", "id_flag", help="The reminder (OpenClaw's `cron runs --id`).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@json_option
@pass_app
def runs(
    ctx: AppContext, ref: str | None, id_flag: str | None, limit: int, as_json: bool
) -> None:
    """Run history: scheduled-for, lateness, status, message ids, error.

    LATE is measured at delivery (when Telegram accepted the first message), or at
    the start of the send for runs that delivered nothing.
    """
    if id_flag is not None and ref is not None and id_flag != ref:
        raise UsageError("Name the reminder once: either ID or --id ID.")
    history = app.run_history(ctx, ref if ref is not None else id_flag, limit)
    if as_json:
        echo_json([run.model_dump(exclude_none=True) for run in history])
        return
    if not history:
        click.echo("No runs yet.")
        return
    zone = ctx.default_tz
    rows = []
    for run in history:
        # Lateness at delivery (Telegram accepted the message) when something went
        # out, else when the send started; `--json` has both instants.
        lateness = run.delivery_lateness_ms
        if lateness is None:
            lateness = run.lateness_ms
        late = "" if lateness is None else f"{lateness / 1000:.3f}s"
        detail = (
            f"{run.errorClass}: {run.errorText}" if run.errorClass else (run.note or "")
        )
        rows.append(
            [
                render.instant(run.scheduledForMs, zone),
                (run.reminderName or run.reminderId)[:40],
                late,
                render.run_status(run),
                ",".join(str(i) for i in run.messageIds),
                detail,
            ]
        )
    click.echo(
        render.table(
            ["SCHEDULED", "REMINDER", "LATE", "STATUS", "MESSAGES", "DETAIL"], rows
        )
    )


def _sender(ctx: AppContext) -> Any:
    from reminders.delivery import make_sender

    return make_sender(ctx.settings)


@click.command("run")
@click.argument("ref")
@json_option
@pass_app
def run_(ctx: AppContext, ref: str, as_json: bool) -> None:
    """Deliver a reminder now, without moving its schedule."""
    reminder, run = app.run_now(ctx, ref)
    if as_json:
        echo_json(run.model_dump(exclude_none=True))
    elif run.status == "sent" and not run.messageIds:
        click.echo(f"Sent {reminder.name!r}: {run.note}.")
    elif run.status == "sent":
        click.echo(
            f"Sent {reminder.name!r}: message {', '.join(map(str, run.messageIds))}."
        )
    elif run.status == "skipped":
        click.echo(f"Recorded {reminder.name!r}: {run.note}.")
    if run.status == "failed" and run.errorClass == "ConfigError":
        raise ConfigError(f"Could not deliver {reminder.name!r}: {run.errorText}.")
    if run.status == "failed":
        if run.errorClass in TRANSIENT_ERRORS:
            raise TransientError(
                f"Could not deliver {reminder.name!r} now: {run.errorClass}: "
                f"{run.errorText}. Try `reminders run {reminder.id}` again later."
            )
        raise DeliveryError(
            f"Could not deliver {reminder.name!r}: {run.errorClass}: {run.errorText}"
        )


@click.command("send-test")
@click.option("--to", required=True, help="The chat to send to.")
@click.option("--text", default="Test message from reminders.", show_default=True)
@pass_app
def send_test(ctx: AppContext, to: str, text: str) -> None:
    """Send one message now, to check the token and the chat."""
    from reminders.targets import parse_target

    target = parse_target(to)
    if not bot_token(ctx.settings):
        raise ConfigError(
            "No bot token configured: set REMINDERS_TELEGRAM_BOT_TOKEN, or "
            f"telegram.bot_token in {ctx.paths.config}."
        )

    async def go() -> Any:
        async with _sender(ctx) as sender:
            return await sender.send(target, text)

    try:
        import asyncio

        result = asyncio.run(go())
    except DeliveryFailure as failure:
        error = DeliveryError if failure.permanent else TransientError
        raise error(
            f"Telegram refused the test message: {failure.error_class}: {failure.text}"
        ) from None
    click.echo(
        f"Sent to {result.chat_id}: message {', '.join(map(str, result.message_ids))}."
    )


COMMANDS = [daemon, status, runs, run_, send_test]
