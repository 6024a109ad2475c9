"""An environment the HTTP client cannot use (a CA file that is missing or holds no
certificate, a SOCKS proxy without its extra): every Telegram run fails with a line
naming the variables, the CLI exits with a table code, the daemon keeps running."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import Setup

ENVIRONMENTS = [
    ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
    ("SSL_CERT_FILE", "not-a-certificate.pem"),
    ("ALL_PROXY", "socks5://127.0.0.1:1"),
]


def spoil(setup: Setup, home: Path, name: str, value: str) -> None:
    if not value.startswith(("/", "socks5:")):  # a file that holds no certificate
        (home / value).write_text("not a certificate\n")
        value = str(home / value)
    setup.env[name] = value


@pytest.mark.parametrize(("name", "value"), ENVIRONMENTS)
def test_cli_run_and_send_test_fail_with_a_table_code(
    setup: Setup, home: Path, name: str, value: str
) -> None:
    added = setup.cli_json("add", "--every", "1h", "--message", "tea", "--to", "2")
    spoil(setup, home, name, value)
    result = setup.cli("run", added["id"], code=69)
    [run] = setup.runs(added["id"])
    assert run["status"] == "failed" and run["errorClass"] == "Environment", run
    assert "SSL_CERT_FILE" in run["errorText"]
    tested = setup.cli("send-test", "--to", "2", code=69)
    assert result == tested == ""  # the reason went to stderr, not a traceback
    assert setup.api.texts() == []
    del setup.env[name]
    setup.cli("send-test", "--to", "2")
    assert setup.api.texts() == ["Test message from reminders."]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "value"), ENVIRONMENTS[::2])
def test_daemon_starts_and_records_the_runs_as_failed(
    setup: Setup, home: Path, name: str, value: str
) -> None:
    spoil(setup, home, name, value)
    daemon = setup.start()
    daemon.wait_for("SSL_CERT_FILE")
    first = setup.cli_json("add", "--at", "1s", "--message", "one", "--to", "2")
    second = setup.cli_json("add", "--at", "2s", "--message", "two", "--to", "3")
    for added in (first, second):
        [run] = setup.finished(added["id"], timeout=30)
        assert (run["status"], run["errorClass"]) == ("failed", "Environment"), run
    assert daemon.proc.poll() is None, daemon.log
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0, daemon.log
    assert "Traceback" not in daemon.log
