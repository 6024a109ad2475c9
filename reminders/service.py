"""Service files: a systemd unit or a launchd agent that runs `reminders daemon`.

Rendering is pure (and tested on any OS); installing is a thin shell-out to
systemctl or launchctl, skipped with a printed hint where they are missing.
"""

from __future__ import annotations

import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

UNIT_NAME = "reminders.service"
LAUNCHD_LABEL = "dev.reminders.daemon"


@dataclass(frozen=True)
class ServiceSpec:
    """What the service runs and where it may write."""

    executable: str
    data_dir: str
    environment: dict[str, str] = field(default_factory=dict)
    system: bool = False
    user: str | None = None
    log_dir: str | None = None
    # A 0600 file of KEY=value lines (the bot token), read by systemd for the unit.
    environment_file: str | None = None
    # False when a path the daemon needs lies in /tmp, which PrivateTmp would hide.
    private_tmp: bool = True


def _quote(value: str) -> str:
    """systemd quoting: double quotes, with backslashes and quotes escaped."""
    if value and all(c.isalnum() or c in "/._-+:@=," for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_systemd(spec: ServiceSpec) -> str:
    lines = [
        "[Unit]",
        "Description=reminders: scheduled reminders delivered to Telegram",
    ]
    if spec.system:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={_quote(spec.executable)} daemon",
        "ExecReload=/bin/kill -HUP $MAINPID",
        # Exit codes: 75 (temporary: a database that cannot be written yet), 1
        # (the scheduler stalled) and 70 (a bug) restart; 78 is a configuration
        # error, which a restart cannot fix; 0 is a requested stop.
        "Restart=on-failure",
        "RestartSec=5",
        "RestartPreventExitStatus=78",
        "WatchdogSec=60",
        "TimeoutStopSec=60",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    for key, value in sorted(spec.environment.items()):
        lines.append(f"Environment={_quote(f'{key}={value}')}")
    if spec.environment_file:
        lines.append(f"EnvironmentFile={_quote(spec.environment_file)}")
    if spec.system and spec.user:
        lines.append(f"User={spec.user}")
    lines += [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={_quote(spec.data_dir)}",
        f"PrivateTmp={'yes' if spec.private_tmp else 'no'}",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if spec.system else 'default.target'}",
        "",
    ]
    return "\n".join(lines)


def render_launchd(spec: ServiceSpec) -> bytes:
    log_dir = spec.log_dir or str(Path.home() / "Library" / "Logs" / "reminders")
    plist = {
        "Label": LAUNCHD_LABEL,
        # launchd restarts on any non-zero exit: a configuration error exits 0
        # instead of 78 so it is not restarted in a loop (the log says why).
        "ProgramArguments": [
            spec.executable,
            "daemon",
            "--exit-zero-on-config-error",
        ],
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "ProcessType": "Background",
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1", **spec.environment},
        "StandardOutPath": f"{log_dir}/daemon.out.log",
        "StandardErrorPath": f"{log_dir}/daemon.err.log",
    }
    return plistlib.dumps(plist)


TEMP_DIRS = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108 - named, not written


def in_temp_dir(path: str | Path) -> bool:
    """Whether `path` lies in /tmp or /var/tmp, which a PrivateTmp unit sees empty."""
    resolved = Path(path).expanduser().resolve()
    return any(
        resolved == temp.resolve() or temp.resolve() in resolved.parents
        for temp in TEMP_DIRS
    )


def unit_path(system: bool) -> Path:
    if system:
        return Path("/etc/systemd/system") / UNIT_NAME
    return Path.home() / ".config" / "systemd" / "user" / UNIT_NAME


def plist_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def is_macos() -> bool:
    return sys.platform == "darwin"


def executable() -> str:
    """The absolute path of the installed `reminders` script."""
    found = shutil.which("reminders")
    candidate = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if candidate and candidate.name == "reminders" and candidate.exists():
        return str(candidate)
    beside = Path(sys.executable).parent / "reminders"
    if beside.exists():
        return str(beside)
    return str(Path(found).resolve()) if found else f"{sys.executable} -m reminders"


def systemctl(system: bool, *args: str) -> list[str]:
    return ["systemctl", *([] if system else ["--user"]), *args]


def run_commands(commands: list[list[str]]) -> list[str]:
    """Run each command; returns what failed, as text for the user."""
    problems = []
    for command in commands:
        if shutil.which(command[0]) is None:
            problems.append(f"{command[0]} not found; run: {shlex.join(command)}")
            continue
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            problems.append(f"{shlex.join(command)}: {result.stderr.strip()}")
    return problems
