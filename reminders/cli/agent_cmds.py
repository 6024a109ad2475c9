"""For AI agents: `reminders mcp` (an MCP server) and `reminders skill install`."""

from __future__ import annotations

import click

from reminders.app import AppContext
from reminders.cli.common import pass_app
from reminders.errors import Unavailable


@click.command()
@pass_app
def mcp(ctx: AppContext) -> None:
    """Serve the management commands to an AI agent over MCP (stdio).

    Configure the agent with command `reminders` and args ["mcp"]. Needs the
    `mcp` extra: pip install 'reminders[mcp]'.
    """
    try:
        import mcp as _sdk  # noqa: F401 - only to tell whether the extra is there
    except ImportError:
        raise Unavailable(
            "The MCP server needs the `mcp` extra: pip install 'reminders[mcp]' "
            "(into the environment `reminders` runs from)."
        ) from None
    from reminders.mcp_server import serve

    serve(ctx)


@click.group()
def skill() -> None:
    """The Agent Skills file that teaches an agent to use this CLI."""


@skill.command("install")
@click.option(
    "--target",
    default="openclaw",
    show_default=True,
    metavar="openclaw|claude|DIR",
    help="~/.openclaw/skills, ~/.claude/skills, or another skills folder.",
)
@click.option("--print", "print_only", is_flag=True, help="Print it; write nothing.")
def skill_install(target: str, print_only: bool) -> None:
    """Write SKILL.md into the agent's skills folder (again: no change)."""
    from reminders import skill as skill_file

    if print_only:
        click.echo(skill_file.render(), nl=False)
        return
    installed = skill_file.install(target)
    verb = "Wrote" if installed.changed else "Unchanged:"
    click.echo(f"{verb} {installed.path}")


COMMANDS = [mcp, skill]
