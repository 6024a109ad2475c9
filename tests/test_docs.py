"""The README documents every command, and every command explains itself."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import click
import pytest

from reminders.cli import cli
from tests.conftest import REPO


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
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
    assert "pip install -e '.[test]'" in readme
    # CI installs the same test extra, plus the gates it runs first
    assert "pip install --quiet -e '.[test,lint]'" in ci
    assert "'.[test,lint]'" in readme
    for gate in ("ruff check .", "ruff format --check .", "mypy"):
        assert gate in ci and gate in readme, gate


def _blocks(section: str) -> list[str]:
    """The command lines of the README section's indented code blocks, with
    backslash continuations joined."""
    readme = (REPO / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line[4:] for line in body.splitlines() if line.startswith("    ")]
    return [cmd.strip() for cmd in "\n".join(lines).replace("\\\n", " ").splitlines()]


def test_install_and_test_commands_name_reminders_by_its_venv_path() -> None:
    """Before the quick start's activation step nothing calls a bare `reminders`,
    which is not on PATH after `.venv/bin/pip install .`; and pip puts it there."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "reminders" in scripts
    for section in ("Install and start", "Run the tests"):
        for command in _blocks(section):
            for step in command.split("&&"):
                program = step.split()[0]
                assert program != "reminders", f"bare reminders in {section}: {step}"


@pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "reminders").exists(),
    reason="needs the README's install step (.venv in the checkout)",
)
@pytest.mark.slow
def test_quick_start_runs_verbatim_in_a_fresh_shell(tmp_path: Path) -> None:
    """The quick start's commands, copied as they stand into a new shell with no
    virtualenv active, all succeed."""
    script = "set -e\n" + "\n".join(_blocks("Quick start")) + "\n"
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "REMINDERS_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Added ") == 3
    assert "Standup" in result.stdout and "No runs yet." in result.stdout
