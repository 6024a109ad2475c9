"""`reminders import` and `reminders export`: move to and from OpenClaw in one command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from reminders.app import AppContext
from reminders.cli.common import echo_json, json_option, pass_app
from reminders.errors import UsageError
from reminders.files import write_private
from reminders.transfer import ImportPlan, apply_import, export_jobs, plan_import

PROGRESS_FROM = 500


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--replace", is_flag=True, help="Update reminders whose job changed.")
@click.option(
    "--default-to",
    help="Chat for jobs that have no Telegram target (default: delivery.default_to).",
)
@click.option(
    "--last-is-telegram",
    is_flag=True,
    help="Read channel 'last' (without a telegram: prefix) as Telegram.",
)
@json_option
@pass_app
def import_(
    ctx: AppContext,
    path: Path,
    dry_run: bool,
    replace: bool,
    default_to: str | None,
    last_is_telegram: bool,
    as_json: bool,
) -> None:
    """Import an OpenClaw store: jobs.json (any era), ~/.openclaw, or openclaw.sqlite.

    All or nothing, and idempotent by id: importing the same store twice changes
    nothing the second time.
    """
    plan = plan_import(
        ctx,
        path,
        replace=replace,
        default_to=default_to,
        last_is_telegram=last_is_telegram,
        progress=_progress(),
    )
    runs = 0 if dry_run else apply_import(ctx, plan)
    if as_json:
        echo_json({**plan.to_json(), "dryRun": dry_run, "runsAdded": runs})
        return
    click.echo(render_report(plan, dry_run, runs))


def _progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if total >= PROGRESS_FROM and (done % 100 == 0 or done == total - 1):
            click.echo(
                f"\rReading jobs: {done + 1}/{total}", err=True, nl=done == total - 1
            )

    return show


def render_report(plan: ImportPlan, dry_run: bool, runs: int) -> str:
    lines = [f"{'Would import' if dry_run else 'Imported'} from {plan.source}:"]
    for report in plan.reports:
        label = report.name or "(no name)"
        line = f"  {report.action:<9} {report.id or '-'}  {label}"
        if report.reason:
            line += f": {report.reason}"
        lines.append(line)
        lines += [f"              - {note}" for note in report.notes]
    summary = ", ".join(
        f"{plan.count(action)} {action}"
        for action in ("imported", "updated", "unchanged", "kept", "refused", "skipped")
        if plan.count(action)
    )
    lines.append(
        f"{summary or 'no jobs'}; {len(plan.runs)} past run(s) in the history"
        + ("" if dry_run else f" ({runs} new)")
        + "."
    )
    if dry_run:
        lines.append("Dry run: nothing was changed.")
    return "\n".join(lines)


@click.command()
@click.argument("path", required=False)
@pass_app
def export(ctx: AppContext, path: str | None) -> None:
    """Write every reminder as an OpenClaw jobs.json (to stdout without PATH or
    with `-`)."""
    target = None if path in (None, "-") else _export_target(path)
    text = export_jobs(ctx)
    if target is None:
        click.echo(text)
        return
    try:
        write_private(target, text)
    except OSError as exc:
        raise UsageError(
            f"Cannot write {target} ({exc.strerror or exc}). Give a file in a folder "
            "you can write, or `-` for standard output."
        ) from None
    click.echo(f"Wrote {target}.", err=True)


def _export_target(path: str) -> Path:
    """The file to write, refusing a name that can only be a mistake."""
    if not path.strip():
        raise UsageError(
            "The export path is empty. Give a file name such as jobs.json."
        )
    target = Path(path).expanduser()
    if target.is_dir() or path.endswith(("/", "\\")):
        raise UsageError(
            f"{path} is a folder. Give a file in it, such as {target / 'jobs.json'}."
        )
    if target.exists() and not target.is_file():
        raise UsageError(
            f"{path} is not a regular file. Give a file name such as jobs.json."
        )
    return target


COMMANDS = [import_, export]
