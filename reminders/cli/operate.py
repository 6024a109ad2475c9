"""Running and watching: daemon, status, runs, run, send-test."""

from __future__ import annotations

from typing import Any

import click

from reminders import app, render
from reminders.app import AppContext
from reminders.cli.common import echo_json, json_option, pass_app
from reminders.config import bot_token
from reminders.errors import EX_UNAVAILABLE, DeliveryError, TransientError


@click.command()
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), help="Log line format."
)
@pass_app
def daemon(ctx: AppContext, log_format: str | None) -> None:
    """Run the scheduler in the foreground (what the service runs).

    SIGTERM/SIGINT finish the send in flight and exit 0; SIGHUP re-reads the config.
    """
    from reminders.daemon import run_daemon
    from reminders.logs import setup_logging

    token = bot_token(ctx.settings)
    setup_logging(log_format or ctx.settings.daemon.log_format, [token or ""])
    raise SystemExit(run_daemon(ctx))


@click.command()
@json_option
@pass_app
def status(ctx: AppContext, as_json: bool) -> None:
    """Is the daemon running, what fires next, what failed lately.

    Exits 0 when the daemon runs and is fresh, 69 when it is stopped or stale.
    """
    state = app.daemon_state(ctx)
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
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@json_option
@pass_app
def runs(ctx: AppContext, ref: str | None, limit: int, as_json: bool) -> None:
    """Run history: scheduled-for, lateness, status, message ids, error."""
    history = app.run_history(ctx, ref, limit)
    if as_json:
        echo_json([run.model_dump(exclude_none=True) for run in history])
        return
    if not history:
        click.echo("No runs yet.")
        return
    zone = ctx.default_tz
    rows = []
    for run in history:
        late = "" if run.lateness_ms is None else f"{run.lateness_ms / 1000:.3f}s"
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
    elif run.status == "sent":
        click.echo(
            f"Sent {reminder.name!r}: message {', '.join(map(str, run.messageIds))}."
        )
    elif run.status == "skipped":
        click.echo(f"Recorded {reminder.name!r}: {run.note}.")
    if run.status == "failed":
        raise DeliveryError(
            f"Could not deliver {reminder.name!r}: {run.errorClass}: {run.errorText}"
        )


@click.command("send-test")
@click.option("--to", required=True, help="The chat to send to.")
@click.option("--text", default="Test message from reminders.", show_default=True)
@pass_app
def send_test(ctx: AppContext, to: str, text: str) -> None:
    """Send one message now, to check the token and the chat."""
    from reminders.delivery import DeliveryFailure
    from reminders.targets import parse_target

    target = parse_target(to)

    async def go() -> Any:
        sender = _sender(ctx)
        await sender.start()
        try:
            return await sender.send(target, text)
        finally:
            await sender.close()

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
