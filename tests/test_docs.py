"""The README documents every command, and every command explains itself."""

from __future__ import annotations

import click

from reminders.cli import cli
from tests.conftest import REPO


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        if name == "cron":  # an alias group of the same commands
            continue
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    """Each command and sub-command has help text and appears in README.md."""
    readme = (REPO / "README.md").read_text()
    for name, command in _commands(cli):
        assert (command.help or "").strip(), f"{name} has no help"
        wanted = f"reminders {name}" if " " not in name else name
        assert wanted in readme, f"{wanted!r} is not in README.md"


def test_readme_gives_the_test_command_ci_runs() -> None:
    """The README's test command is the one .ci/run executes."""
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in readme and ".venv/bin/python -m pytest" in ci
    assert (
        "pip install -e '.[test]'" in readme
        and "pip install --quiet -e '.[test]'" in ci
    )
