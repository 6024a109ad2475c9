"""The `reminders` group and its lazily loaded commands.

Each command's module is imported only when that command runs (or `--help` lists
them all), so `reminders add` pays for what adding needs and nothing else.
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

import click

from reminders.cli.common import ReminderGroup, Runtime

# Each command and the module under reminders.cli holding it (in its COMMANDS).
MANAGE = ("add", "list", "show", "edit", "rm", "enable", "disable", "next")
COMMAND_MODULES = {
    **dict.fromkeys(MANAGE, "reminder_cmds"),
    **dict.fromkeys(("daemon", "status", "runs", "run", "send-test"), "daemon_cmds"),
    **dict.fromkeys(("import", "export"), "openclaw_cmds"),
    **dict.fromkeys(("doctor", "agenda"), "doctor_cmds"),
    **dict.fromkeys(("config", "db"), "config_cmds"),
    "service": "service_cmds",
    **dict.fromkeys(("mcp", "skill"), "agent_cmds"),
}
# OpenClaw's own aliases, for scripts written against `openclaw cron`.
CRON_ALIASES = {"create": "add", "remove": "rm", "delete": "rm", "get": "show"}
CRON_COMMANDS = (*MANAGE, "status", "runs", "run")


class LazyGroup(ReminderGroup):
    """A group whose commands (name: the name they are defined under) are
    imported from their module on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        name = self.lazy[cmd_name]
        module = importlib.import_module(f"reminders.cli.{COMMAND_MODULES[name]}")
        (command,) = (c for c in module.COMMANDS if c.name == name)
        self.add_command(command, cmd_name)
        return command  # type: ignore[no-any-return]


@click.group(cls=LazyGroup, lazy={name: name for name in COMMAND_MODULES})
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
    if not gc.isenabled():  # main() paused the collector: the command has loaded
        gc.freeze()
        gc.enable()


@cli.group(
    cls=LazyGroup,
    lazy={**{name: name for name in CRON_COMMANDS}, **CRON_ALIASES},
)
def cron() -> None:
    """The same commands under OpenClaw's `cron` name (`reminders cron add ...`)."""
