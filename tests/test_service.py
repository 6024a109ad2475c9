"""Service files: rendered text for systemd and launchd, and the notify protocol."""

from __future__ import annotations

import os
import plistlib
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from reminders import sdnotify
from reminders.service import ServiceSpec, render_launchd, render_systemd
from tests.conftest import Cli, reminders_cmd

SPEC = ServiceSpec(
    executable="/home/ann/.venv/bin/reminders",
    data_dir="/home/ann/.local/share/reminders",
    environment={"REMINDERS_HOME": "/srv/my reminders"},
)


def test_systemd_unit_has_the_promised_settings() -> None:
    """The unit runs the daemon as Type=notify, restarts on failure, stops on 78."""
    unit = render_systemd(SPEC)
    for line in (
        "Type=notify",
        "ExecStart=/home/ann/.venv/bin/reminders daemon",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "WatchdogSec=60",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/home/ann/.local/share/reminders",
        "PrivateTmp=yes",
        'Environment="REMINDERS_HOME=/srv/my reminders"',
        "WantedBy=default.target",
    ):
        assert line in unit.splitlines(), line
    system = render_systemd(
        ServiceSpec(**{**SPEC.__dict__, "system": True, "user": "ann"})
    )
    assert "User=ann" in system and "WantedBy=multi-user.target" in system


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)
def test_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the unit."""
    exe = tmp_path / "reminders"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / "reminders.service"
    unit.write_text(
        render_systemd(ServiceSpec(executable=str(exe), data_dir=str(tmp_path)))
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_launchd_plist_round_trips() -> None:
    """The plist parses back with RunAtLoad, KeepAlive, logs and environment."""
    data = plistlib.loads(render_launchd(SPEC))
    assert data["ProgramArguments"] == [
        "/home/ann/.venv/bin/reminders",
        "daemon",
        "--exit-zero-on-config-error",
    ]
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["EnvironmentVariables"]["REMINDERS_HOME"] == "/srv/my reminders"
    assert data["StandardErrorPath"].endswith("daemon.err.log")


@pytest.mark.slow
def test_launchd_agent_stays_stopped_on_a_config_error(home: Path) -> None:
    """launchd restarts on any non-zero exit, so the agent's daemon command exits 0
    on a configuration error (one line says why) and 78 without the flag."""
    (home / "config.toml").write_text("[daemon]\npoll_interval = 'often'\n")
    flags = plistlib.loads(render_launchd(SPEC))["ProgramArguments"][1:]
    as_agent = reminders_cmd(home, *flags)
    assert as_agent.returncode == 0
    [line] = as_agent.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "poll_interval" in line
    assert reminders_cmd(home, "daemon").returncode == 78


def test_service_install_print_shows_the_unit(run: Cli) -> None:
    """`service install --print` prints the unit without installing anything."""
    out = run("service", "install", "--print").stdout
    assert "Type=notify" in out and " daemon" in out
    assert f"REMINDERS_HOME={os.environ['REMINDERS_HOME']}" in out


def test_sd_notify_sends_datagrams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """notify() writes KEY=VALUE datagrams to $NOTIFY_SOCKET; a no-op without it."""
    assert sdnotify.notify("READY=1") is False
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.notify("READY=1", "STATUS=ok") is True
        assert listener.recv(1024) == b"READY=1\nSTATUS=ok"
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert sdnotify.watchdog_interval_s() == 30.0


def test_install_and_uninstall_drive_systemctl(
    run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`service install` writes the user unit and enables it with systemctl --user;
    `uninstall` disables it and removes the file (systemctl stands in as a script)."""
    calls = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("reminders.service.is_macos", lambda: False)
    result = run("service", "install")
    unit = tmp_path / ".config" / "systemd" / "user" / "reminders.service"
    assert "Service enabled and started" in result.stdout
    assert "Type=notify" in unit.read_text()
    assert calls.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now reminders.service",
    ]
    assert "installed" in run("service", "status").stdout
    run("service", "uninstall")
    assert not unit.exists()
    assert calls.read_text().splitlines()[-2:] == [
        "--user disable --now reminders.service",
        "--user daemon-reload",
    ]
