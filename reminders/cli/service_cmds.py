"""`reminders service install/uninstall/status`: keep the daemon running."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import click

from reminders import service
from reminders.cli.common import Runtime, pass_runtime, warn
from reminders.config import setting_variables
from reminders.errors import NotFound
from reminders.files import write_private

TOKEN_VAR = "REMINDERS_TELEGRAM_BOT_TOKEN"  # noqa: S105 - a variable name


def _spec(
    runtime: Runtime, system: bool
) -> tuple[service.ServiceSpec, dict[Path, str]]:
    """The service as this shell would run the daemon, and the private files (the
    bot token) it needs written beside the database."""
    environment = {}
    for key in ("REMINDERS_HOME", "REMINDERS_CONFIG"):
        if os.environ.get(key):
            environment[key] = str(Path(os.environ[key]).expanduser().resolve())
    if runtime.config_path and "REMINDERS_CONFIG" not in environment:
        environment["REMINDERS_CONFIG"] = str(Path(runtime.config_path).resolve())
    # Settings given as REMINDERS_<SECTION>_<KEY> here apply to the service too.
    for key in setting_variables():
        if key != TOKEN_VAR and os.environ.get(key) is not None:
            environment[key] = os.environ[key]
    data_dir = runtime.paths.data_dir
    secrets: dict[Path, str] = {}
    environment_file = None
    token = os.environ.get(TOKEN_VAR, "").strip()
    if token and service.is_macos():
        secrets[data_dir / "bot-token"] = token + "\n"
        environment["REMINDERS_TELEGRAM_TOKEN_FILE"] = str(data_dir / "bot-token")
    elif token:
        secrets[data_dir / "service.env"] = f"{TOKEN_VAR}={token}\n"
        environment_file = str(data_dir / "service.env")
    token_file = runtime.settings.telegram.token_file
    needed: list[str | Path] = [data_dir, runtime.paths.config]
    if token_file:
        needed.append(token_file)
    hidden = [str(path) for path in needed if service.in_temp_dir(path)]
    for path in hidden:
        warn(
            f"{path} is under a temporary folder: the service runs without "
            "PrivateTmp so it can reach it, but such folders are emptied at boot. "
            "Set REMINDERS_HOME to a lasting folder and install again."
        )
    spec = service.ServiceSpec(
        executable=service.executable(),
        data_dir=str(data_dir),
        environment=environment,
        system=system,
        user=os.environ.get("SUDO_USER") or os.environ.get("USER"),
        environment_file=environment_file,
        private_tmp=not hidden,
    )
    return spec, secrets


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
    spec, secrets = _spec(runtime, system=not user_mode)
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
    for secret_path, text in secrets.items():
        write_private(secret_path, text)
        click.echo(f"Wrote {secret_path} (mode 0600): the bot token for the service.")
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
@pass_runtime
def uninstall(runtime: Runtime, user_mode: bool) -> None:
    """Stop and disable the service and delete its file (and its copy of the token)."""
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
    for secret in ("service.env", "bot-token"):
        (runtime.paths.data_dir / secret).unlink(missing_ok=True)
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
