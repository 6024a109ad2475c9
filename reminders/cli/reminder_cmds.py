"""Managing reminders: add, list, show, edit, rm, enable, disable, next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from reminders import app, render
from reminders.app import AppContext, ReminderSpec
from reminders.cli.common import echo_json, json_option, pass_app, warn
from reminders.errors import ValidationError
from reminders.targets import webhook_warning
from reminders.timeparse import format_duration

# OpenClaw flags that mean something only inside OpenClaw: accepted, kept, inert.
INERT_VALUE_FLAGS = {
    "--session": "sessionTarget",
    "--wake": "wakeMode",
    "--agent": "agentId",
    "--session-key": "sessionKey",
    "--model": None,
    "--thinking": None,
    "--timeout-seconds": None,
    "--tools": None,
    "--account": None,
    "--url": None,
    "--token": None,
    "--timeout": None,
}
INERT_SWITCHES = ("--light-context", "--best-effort-deliver", "--expect-final")


def schedule_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags `add` and `edit` share, named as `openclaw cron add` names them."""
    options = [
        click.option(
            "--name", help="A short name (default: the first line of the text)."
        ),
        click.option("--description", help="A longer note, not sent."),
        click.option(
            "--at", help="One time: 2026-12-24T09:00, 18:00, 20m, tomorrow 9:00."
        ),
        click.option("--every", help="A fixed interval: 30s, 10m, 1h30m, 1d."),
        click.option("--cron", "cron_expr", help='A cron expression: "0 9 * * 1-5".'),
        click.option("--tz", help="IANA zone for --cron and offset-less --at."),
        click.option(
            "--stagger", help="Spread a cron slot by a fixed offset up to this."
        ),
        click.option("--exact", is_flag=True, help="No stagger (the default here)."),
        click.option("--message", help="The text to send (OpenClaw agentTurn)."),
        click.option("--system-event", help="The text to send (OpenClaw systemEvent)."),
        click.option(
            "--channel", help="telegram (the default; OpenClaw's last is read so)."
        ),
        click.option(
            "--to",
            help="Telegram chat: 123456789, -100..., @channel, -100...:topic:42.",
        ),
        click.option(
            "--webhook",
            metavar="URL",
            help="POST the reminder to this http(s) URL instead of a chat.",
        ),
        click.option("--thread-id", help="Forum topic id in the chat."),
        click.option(
            "--announce/--no-deliver",
            "deliver",
            default=None,
            help="Send to Telegram (default) or only record the run.",
        ),
        click.option("--deliver", "deliver_alias", is_flag=True, hidden=True),
        click.option(
            "--delete-after-run/--keep-after-run",
            "delete_after_run",
            default=None,
            help="One-shots: delete after a sent run (default) or keep, disabled.",
        ),
        click.option(
            "--silent/--no-silent",
            default=None,
            help="Send without a notification sound.",
        ),
        click.option(
            "--parse-mode",
            type=click.Choice(["HTML", "MarkdownV2", "plain"]),
            help="Telegram markup for the text (falls back to plain text).",
        ),
        click.option(
            "--catch-up", help="How late a missed slot still fires (default 1h)."
        ),
        click.option(
            "--nag",
            help="Re-send every 15m (say) until Done is pressed; off to stop. "
            "Needs telegram.interactive.",
        ),
        click.option(
            "--nag-max",
            type=click.IntRange(1, 1000),
            help="At most this many re-sends per delivery (default 8).",
        ),
    ]
    for flag, key in INERT_VALUE_FLAGS.items():
        dest = "inert_" + flag.lstrip("-").replace("-", "_")
        options.append(
            click.option(flag, dest, hidden=True, help=f"OpenClaw only ({key}).")
        )
    for flag in INERT_SWITCHES:
        dest = "inert_" + flag.lstrip("-").replace("-", "_")
        options.append(click.option(flag, dest, is_flag=True, hidden=True))
    for option in reversed(options):
        func = option(func)
    return func


def spec_from_flags(flags: dict[str, Any]) -> ReminderSpec:
    extra: dict[str, Any] = {}
    ignored = []
    for flag, key in INERT_VALUE_FLAGS.items():
        value = flags.pop("inert_" + flag.lstrip("-").replace("-", "_"))
        if value is not None:
            ignored.append(flag)
            if key:
                extra[key] = value
    for flag in INERT_SWITCHES:
        if flags.pop("inert_" + flag.lstrip("-").replace("-", "_")):
            ignored.append(flag)
    if ignored:
        warn(
            f"{', '.join(ignored)} only mean something inside OpenClaw; kept, no effect here."
        )
    if flags.get("webhook") and (insecure := webhook_warning(flags["webhook"])):
        warn(insecure)
    deliver = flags.pop("deliver")
    if flags.pop("deliver_alias"):
        deliver = True
    parse_mode = flags.pop("parse_mode")
    return ReminderSpec(
        cron=flags.pop("cron_expr"),
        deliver=deliver,
        parse_mode=("" if parse_mode == "plain" else parse_mode),
        extra=extra,
        **flags,
    )


def describe_added(ctx: AppContext, job: dict[str, Any]) -> str:
    """A reminder (its OpenClaw JSON) as `add` and `edit` report it: id, name,
    schedule and when it fires next."""
    schedule = job["schedule"]
    zone = app.zone_of_schedule(ctx.default_tz, schedule)
    next_ms = job.get("state", {}).get("nextRunAtMs")
    now_ms = ctx.now_ms()
    if next_ms is None:
        when = render.why_no_next(job)
    elif next_ms <= now_ms:
        when = (
            f"{render.instant(next_ms, zone)}, due now: delivered as soon as the "
            "daemon runs, marked late"
        )
    else:
        when = f"{render.instant(next_ms, zone)}, {render.relative(next_ms, now_ms)}"
    schedule_text = render.schedule_json_text(schedule, zone)
    return f"{job['id']}\n  {job['name']}: {schedule_text}\n  next: {when}"


@click.command()
@click.argument("positional", nargs=-1)
@schedule_options
@click.option("--disabled", is_flag=True, help="Store it disabled.")
@json_option
@pass_app
def add(
    ctx: AppContext,
    positional: tuple[str, ...],
    disabled: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """Add a reminder. Prints its id and its first fire time.

    \b
    reminders add --name Standup --cron "0 9 * * 1-5" --tz Europe/Berlin \\
        --message "Standup in 5 minutes" --to 123456789
    reminders add --at 20m --system-event "Tea is ready" --to 123456789
    """
    spec = spec_from_flags(flags)
    _apply_positional(spec, positional)
    if disabled:
        spec.enabled = False
    job = app.add_job(ctx, spec)
    if as_json:
        echo_json(job)
    else:
        click.echo(f"Added {describe_added(ctx, job)}")


def _apply_positional(spec: ReminderSpec, positional: tuple[str, ...]) -> None:
    """OpenClaw's `cron add [scheduleOrName] [message]` form."""
    if not positional:
        return
    if len(positional) > 2:
        raise ValidationError(
            "Too many arguments: give at most a schedule and a message."
        )
    first, message = positional[0], (positional[1] if len(positional) > 1 else None)
    if spec.schedule_flags:
        spec.name = spec.name or first
    elif first.lower().startswith("every "):
        spec.every = first[len("every ") :]
    elif len(first.split()) in (5, 6):
        spec.cron = first
    else:
        spec.at = first
    if message is not None and spec.message is None and spec.system_event is None:
        spec.message = message


LIST_SCREEN = 100  # rows `list` prints unless --limit says otherwise


@click.command("list")
@click.option("--all", "include_all", is_flag=True, help="Include disabled reminders.")
@click.option(
    "--limit",
    type=click.IntRange(0),
    help=f"Show at most N, soonest first (default {LIST_SCREEN}; 0 = every one; "
    "--json lists every one unless given).",
)
@json_option
@pass_app
def list_(ctx: AppContext, include_all: bool, limit: int | None, as_json: bool) -> None:
    """List reminders, soonest first."""
    if as_json:
        reminders = app.list_reminders(ctx, include_disabled=include_all)
        echo_json([reminder.to_json() for reminder in reminders[: limit or None]])
        return
    shown = LIST_SCREEN if limit is None else (limit or None)
    rows, total = app.list_rows(ctx, include_disabled=include_all, limit=shown)
    if not rows:
        click.echo(
            "No reminders." + ("" if include_all else " (`--all` shows disabled ones.)")
        )
        return
    short = app.short_ids(ctx, [row["id"] for row in rows])
    click.echo(
        render.table(
            ["ID", "NAME", "SCHEDULE", "NEXT", "TO", "LAST"],
            [_list_line(ctx, row, short) for row in rows],
        )
    )
    if len(rows) < total:
        click.echo(
            f"Showing the first {len(rows):,} of {total:,}: `--limit N` shows more, "
            "`--limit 0` every one."
        )


def _list_line(
    ctx: AppContext, row: dict[str, Any], short: dict[str, str]
) -> list[str]:
    """One table line from a stored row, without building the whole reminder."""
    schedule, state = row["schedule"], row["state"] or {}
    zone = app.zone_of_schedule(ctx.default_tz, schedule)
    status = state.get("lastRunStatus") or "-"
    if state.get("lastError") and status == "error":
        status = f"error: {state['lastError']}"
    name = row["name"] if row["enabled"] else f"{row['name']} (disabled)"
    return [
        short[row["id"]],
        name,
        render.schedule_json_text(schedule, zone),
        render.instant(row["next_run_at_ms"], zone),
        render.target_json_text(row["delivery"]),
        status,
    ]


@click.command()
@click.argument("ref")
@json_option
@pass_app
def show(ctx: AppContext, ref: str, as_json: bool) -> None:
    """Show one reminder (by id, id prefix or exact name)."""
    reminder = app.show(ctx, ref)
    if as_json:
        echo_json(reminder.to_json())
        return
    zone = app.zone_of(ctx, reminder)
    state = reminder.state
    lines = [
        f"id:        {reminder.id}",
        f"name:      {reminder.name}",
        f"enabled:   {'yes' if reminder.enabled else 'no'}",
        f"schedule:  {render.schedule_text(reminder, zone)}",
        f"next:      {render.instant(state.nextRunAtMs, zone)}",
        f"to:        {render.target_text(reminder)}",
        f"text:      {reminder.text}",
        f"last run:  {render.instant(state.lastRunAtMs, zone)} {state.lastRunStatus or ''}".rstrip(),
    ]
    if reminder.description:
        lines.insert(2, f"about:     {reminder.description}")
    if reminder.nagEveryMs:
        cap = reminder.nagMax or app.DEFAULT_NAG_MAX
        every = format_duration(reminder.nagEveryMs)
        lines.append(f"nag:       every {every} until Done, at most {cap} times")
    if state.lastError:
        lines.append(f"error:     {state.lastError}")
    click.echo("\n".join(lines))


@click.command()
@click.argument("ref")
@schedule_options
@click.option("--enable/--disable", "enabled", default=None, help="Turn it on or off.")
@json_option
@pass_app
def edit(
    ctx: AppContext, ref: str, enabled: bool | None, as_json: bool, **flags: Any
) -> None:
    """Change a reminder; only the flags given change."""
    spec = spec_from_flags(flags)
    spec.enabled = enabled
    reminder = app.edit(ctx, ref, spec)
    if as_json:
        echo_json(reminder.to_json())
    else:
        click.echo(f"Updated {describe_added(ctx, reminder.to_json())}")


def _toggle(enabled: bool) -> click.Command:
    verb = "enable" if enabled else "disable"

    @click.command(verb)
    @click.argument("ref")
    @json_option
    @pass_app
    def toggle(ctx: AppContext, ref: str, as_json: bool) -> None:
        reminder = app.set_enabled(ctx, ref, enabled)
        if as_json:
            echo_json(reminder.to_json())
        else:
            click.echo(
                f"{verb.capitalize()}d {describe_added(ctx, reminder.to_json())}"
            )

    toggle.help = f"{verb.capitalize()} a reminder."
    return toggle


@click.command()
@click.argument("ref")
@json_option
@pass_app
def rm(ctx: AppContext, ref: str, as_json: bool) -> None:
    """Delete a reminder (its run history stays)."""
    reminder = app.remove(ctx, ref)
    if as_json:
        echo_json({"id": reminder.id, "removed": True})
    else:
        click.echo(f"Removed {reminder.id} ({reminder.name}).")


@click.command("next")
@click.argument("ref")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=5, show_default=True)
@json_option
@pass_app
def next_(ctx: AppContext, ref: str, count: int, as_json: bool) -> None:
    """The next N fire times, to check a schedule before trusting it."""
    reminder = app.show(ctx, ref)
    times = app.upcoming(ctx, reminder, count)
    zone = app.zone_of(ctx, reminder)
    if as_json:
        echo_json([{"atMs": ms, "at": render.instant(ms, zone)} for ms in times])
        return
    for ms in times:
        click.echo(f"{render.instant(ms, zone)}  {render.relative(ms, ctx.now_ms())}")


COMMANDS = [add, list_, show, edit, rm, _toggle(True), _toggle(False), next_]
