"""Strange replies, signals and stuck runs against a real daemon subprocess: the
daemon never dies, every run reaches a final status, nothing is resent twice."""

from __future__ import annotations

import signal
import socket
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from reminders.fire_records import MAX_RESENDS
from tests.conftest import Setup, wait_until
from tests.fake_bot_api import POISON, poisoned, slow
from tests.test_faults import add_one_shots, final_runs
from tests.test_poison import stuck_runs

pytestmark = [pytest.mark.slow, pytest.mark.faults]

SEND_POISON = [name for name, kind in POISON.items() if kind != "getMe"]
EXPECTED = {name: ("failed", "StrangeReply") for name in SEND_POISON}
EXPECTED["preview_as_string"] = ("sent", None)
EXPECTED["trickle"] = ("failed", "TimedOut")
STOP_TIMEOUT_S = 60  # the service unit's TimeoutStopSec


def sends_to(setup: Setup, chat: int) -> int:
    return sum(1 for r in setup.api.calls() if r.params.get("chat_id") == chat)


@pytest.mark.parametrize("name", SEND_POISON)
def test_poisoned_reply_ends_its_run_and_the_daemon_goes_on(
    setup: Setup, name: str
) -> None:
    """A strange 200 reply for one chat: that run ends sent (id from the raw JSON)
    or failed with the reason, the other chat's reminder arrives, the daemon keeps
    running and stops cleanly, and a restart does not resend."""
    setup.api.chat_faults[66] = poisoned(name)
    daemon = setup.start()
    bad = setup.cli_json("add", "--at", "1s", "--message", "poisoned", "--to", "66")
    setup.cli("add", "--at", "2s", "--message", "fine", "--to", "2")
    wait_until(lambda: "fine" in setup.api.texts(), timeout=20)
    [run] = setup.finished(bad["id"], timeout=60)
    assert daemon.proc.poll() is None, daemon.log
    assert (run["status"], run.get("errorClass")) == EXPECTED[name], run
    if run["status"] == "sent":
        assert run["messageIds"] == [1]
    else:
        assert run.get("errorText", "")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=STOP_TIMEOUT_S) == 0, daemon.log
    before = sends_to(setup, 66)
    again = setup.start()
    setup.cli("add", "--at", "1s", "--message", "after restart", "--to", "3")
    wait_until(lambda: "after restart" in setup.api.texts(), timeout=20)
    assert sends_to(setup, 66) == before  # never resent
    again.signal(signal.SIGTERM)
    assert again.wait(timeout=STOP_TIMEOUT_S) == 0
    assert "Traceback" not in daemon.log + again.log


def test_bad_get_me_reply_keeps_the_daemon_running(setup: Setup) -> None:
    """A getMe reply that is not a bot: the daemon starts anyway, records the send
    as failed saying so, and sends once the server answers properly."""
    setup.api.poison = "get_me"
    daemon = setup.start()
    first = setup.cli_json("add", "--at", "1s", "--message", "one", "--to", "2")
    [run] = setup.finished(first["id"], timeout=60)
    assert run["status"] == "failed" and "getMe" in run.get("errorText", "")
    assert daemon.proc.poll() is None, daemon.log
    setup.api.poison = None
    setup.cli("add", "--at", "1s", "--message", "two", "--to", "2")
    wait_until(lambda: setup.api.texts() == ["two"], timeout=20)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=STOP_TIMEOUT_S) == 0
    assert "Traceback" not in daemon.log


def test_sighup_during_a_send_reloads_without_breaking_it(
    setup: Setup, home: Path
) -> None:
    """SIGHUP with a changed delivery section while a send waits for its answer:
    the send finishes as sent, once, and later sends use the new settings."""
    config = home / "config.toml"
    config.write_text(
        config.read_text().replace("read_timeout = 2", "read_timeout = 6")
    )
    setup.api.fail_next(slow(3))
    daemon = setup.start()
    added = setup.cli_json("add", "--at", "1s", "--message", "slow one", "--to", "4")
    wait_until(lambda: setup.api.calls(), timeout=10)
    config.write_text(config.read_text().replace('deadline = "5s"', 'deadline = "7s"'))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for("configuration reloaded")
    [run] = setup.finished(added["id"], timeout=60)
    assert (run["status"], run["messageIds"]) == ("sent", [1]), run
    setup.cli("add", "--at", "1s", "--message", "after reload", "--to", "4")
    wait_until(lambda: "after reload" in setup.api.texts(), timeout=20)
    assert setup.api.texts() == ["slow one", "after reload"]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=STOP_TIMEOUT_S) == 0
    assert "Traceback" not in daemon.log and "AttributeError" not in daemon.log


@pytest.mark.timeout(240)
def test_sigterm_mid_burst_stops_sending_and_loses_nothing(
    setup: Setup, home: Path
) -> None:
    """SIGTERM while 600 reminders to 600 chats queue for their turn: the sends on
    the wire finish, no new one starts, the queued ones fire on the next start
    (not as ambiguous sends), and every reminder arrives exactly once."""
    config = home / "config.toml"
    config.write_text(config.read_text() + 'on_ambiguous = "skip"\n')
    start = int(time.time() * 1000) + 3000
    texts = add_one_shots(home, [start] * 600, 50_000)
    daemon = setup.start()
    wait_until(lambda: len(setup.api.calls()) >= 30, timeout=60)
    # Frozen while the fake API catches up with what it was sent, so the count
    # at the signal is the daemon's, not a lagging test process's.
    daemon.signal(signal.SIGSTOP)
    time.sleep(1)
    at_signal = len(setup.api.calls())
    daemon.signal(signal.SIGTERM)
    daemon.signal(signal.SIGCONT)
    assert daemon.wait(timeout=STOP_TIMEOUT_S) == 0, daemon.log
    # At most the requests already on the wire (the limiter's overall window).
    assert len(setup.api.calls()) - at_signal <= 30
    assert all(status != "sending" for _, status in final_runs(home))
    setup.start()
    wait_until(lambda: set(texts) <= set(setup.api.texts()), timeout=120, interval=1)
    assert max(Counter(setup.api.texts()).values()) == 1
    # A message reaches the chat a moment before its run is recorded sent.
    wait_until(
        lambda: (
            len(runs := final_runs(home)) == 600
            and all(status != "sending" for _, status in runs)
        ),
        timeout=30,
    )
    assert {status for _, status in final_runs(home)} == {"sent"}


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_recovery_runs_after_ready_and_closes_every_run(
    setup: Setup, home: Path
) -> None:
    """30 runs left `sending` while Telegram is down: the daemon is ready at once
    and closes them all (failed, with the reason) while it runs."""
    config = home / "config.toml"
    config.write_text(config.read_text().replace(setup.api.base_url, closed_port_url()))
    stuck_runs(home, 30).close()
    daemon = setup.start()  # "daemon ready" within its 30 s wait
    with sqlite3.connect(home / "reminders.db") as conn:
        pending = conn.execute("SELECT count(*) FROM runs WHERE status = 'sending'")
        assert pending.fetchone()[0] > 0  # recovery had not finished at READY
    wait_until(
        lambda: all(status == "failed" for _, status in final_runs(home)),
        timeout=90,
        interval=0.5,
    )
    assert daemon.proc.poll() is None
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=STOP_TIMEOUT_S) == 0


def test_recovery_resends_a_run_a_bounded_number_of_times(setup: Setup) -> None:
    """Killed mid-send, then killed mid-resend twice: each cut-off send is resent
    (it may never have arrived), and after MAX_RESENDS the next start closes the
    run as ambiguous instead of sending another copy."""
    config = setup.home / "config.toml"
    config.write_text(
        config.read_text().replace("read_timeout = 2", "read_timeout = 15")
    )
    setup.api.fail_next(*[slow(10)] * (MAX_RESENDS + 1))  # each kill lands mid-send
    daemon = setup.start()
    added = setup.cli_json("add", "--at", "1s", "--message", "cut off", "--to", "6")
    for copies in range(1, MAX_RESENDS + 2):
        wait_until(lambda n=copies: len(setup.api.messages()) == n, timeout=15)
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        daemon = setup.start()
    [run] = setup.finished(added["id"], timeout=60)
    assert (run["status"], run.get("errorClass")) == ("failed", "AmbiguousSend")
    assert setup.api.texts() == ["cut off"] * (MAX_RESENDS + 1)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=STOP_TIMEOUT_S) == 0
