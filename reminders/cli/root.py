"""The `reminders` command line."""

from __future__ import annotations

import click

from reminders.cli import (
    agent_cmds,
    health,
    manage,
    openclaw_cmds,
    operate,
    service_cmds,
    setup,
)
from reminders.cli.common import ReminderGroup, Runtime


@click.group(cls=ReminderGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="REMINDERS_CONFIG",
    help="Config file (default: $REMINDERS_HOME/config.toml or the user config dir).",
)
@click.version_option(package_name="reminders")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Reminders that fire on time and arrive in Telegram.

    The CLI works whether or not the daemon runs: it writes the database and the
    daemon picks changes up within seconds.
    """
    if ctx.obj is None:
        ctx.obj = Runtime(config_path)
    elif config_path and ctx.obj.config_path is None:
        ctx.obj.config_path = config_path
    ctx.call_on_close(ctx.obj.close)


@cli.group(cls=ReminderGroup)
def cron() -> None:
    """The same commands under OpenClaw's `cron` name (`reminders cron add ...`)."""


for command in manage.COMMANDS:
    cli.add_command(command)
    cron.add_command(command)
# OpenClaw's own aliases, for scripts written against `openclaw cron`.
for alias, name in (
    ("create", "add"),
    ("remove", "rm"),
    ("delete", "rm"),
    ("get", "show"),
):
    cron.add_command(cli.commands[name], alias)
for command in (operate.status, operate.runs, operate.run_):
    cron.add_command(command)
for command in (
    operate.COMMANDS
    + openclaw_cmds.COMMANDS
    + health.COMMANDS
    + setup.COMMANDS
    + service_cmds.COMMANDS
    + agent_cmds.COMMANDS
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="reminders")
