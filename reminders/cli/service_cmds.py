"""`reminders service install/uninstall/status`: keep the daemon running."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import click

from reminders import service
from reminders.cli.common import Runtime, pass_runtime, warn
from reminders.errors import NotFound


def _spec(runtime: Runtime, system: bool) -> service.ServiceSpec:
    environment = {}
    for key in ("REMINDERS_HOME", "REMINDERS_CONFIG"):
        if os.environ.get(key):
            environment[key] = str(Path(os.environ[key]).expanduser().resolve())
    if runtime.config_path and "REMINDERS_CONFIG" not in environment:
        environment["REMINDERS_CONFIG"] = str(Path(runtime.config_path).resolve())
    return service.ServiceSpec(
        executable=service.executable(),
        data_dir=str(runtime.paths.data_dir),
        environment=environment,
        system=system,
        user=os.environ.get("SUDO_USER") or os.environ.get("USER"),
    )


@click.group("service")
def service_group() -> None:
    """Install the daemon as a systemd unit (Linux) or launchd agent (macOS)."""


@service_group.command("install")
@click.option(
    "--user/--system",
    "user_mode",
    default=True,
    help="User unit (default) or system unit.",
)
@click.option(
    "--print", "print_only", is_flag=True, help="Print the file instead of installing."
)
@pass_runtime
def install(runtime: Runtime, user_mode: bool, print_only: bool) -> None:
    """Write the service file, then enable and start it where the tool is there."""
    spec = _spec(runtime, system=not user_mode)
    if service.is_macos():
        path, content = service.plist_path(), service.render_launchd(spec).decode()
        uid = os.getuid()
        commands = [["launchctl", "bootstrap", f"gui/{uid}", str(path)]]
    else:
        path, content = service.unit_path(not user_mode), service.render_systemd(spec)
        commands = [
            service.systemctl(not user_mode, "daemon-reload"),
            service.systemctl(not user_mode, "enable", "--now", service.UNIT_NAME),
        ]
    if print_only:
        click.echo(content, nl=False)
        return
    runtime.paths.data_dir.mkdir(parents=True, exist_ok=True)
    if service.is_macos():
        Path(spec.log_dir or Path.home() / "Library/Logs/reminders").mkdir(
            parents=True, exist_ok=True
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    click.echo(f"Wrote {path}.")
    problems = service.run_commands(commands)
    for problem in problems:
        warn(problem)
    if problems:
        click.echo("Then check it with `reminders status`. Commands to finish by hand:")
        for command in commands:
            click.echo(f"  {shlex.join(command)}")
    else:
        click.echo("Service enabled and started. Check it with `reminders status`.")


@service_group.command("uninstall")
@click.option("--user/--system", "user_mode", default=True)
def uninstall(user_mode: bool) -> None:
    """Stop and disable the service and delete its file."""
    if service.is_macos():
        path = service.plist_path()
        commands = [
            ["launchctl", "bootout", f"gui/{os.getuid()}/{service.LAUNCHD_LABEL}"]
        ]
    else:
        path = service.unit_path(not user_mode)
        commands = [
            service.systemctl(not user_mode, "disable", "--now", service.UNIT_NAME)
        ]
    if not path.exists():
        raise NotFound(f"No service file at {path}; nothing to uninstall.")
    for problem in service.run_commands(commands):
        warn(problem)
    path.unlink()
    if not service.is_macos():
        service.run_commands([service.systemctl(not user_mode, "daemon-reload")])
    click.echo(f"Removed {path}.")


@service_group.command("status")
@click.option("--user/--system", "user_mode", default=True)
def service_status(user_mode: bool) -> None:
    """Is the service file installed, enabled and active."""
    path = (
        service.plist_path() if service.is_macos() else service.unit_path(not user_mode)
    )
    click.echo(f"file:    {path} ({'installed' if path.exists() else 'not installed'})")
    if service.is_macos() or not path.exists():
        return
    for what in ("is-enabled", "is-active"):
        command = service.systemctl(not user_mode, what, service.UNIT_NAME)
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, check=False
            )
            answer = result.stdout.strip() or result.stderr.strip()
        except FileNotFoundError:
            answer = "systemctl not found"
        click.echo(f"{what.removeprefix('is-')}: {answer}".ljust(9))


COMMANDS = [service_group]
