"""The chat end to end: a real daemon subprocess polling the fake Bot API."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Setup, db_rows, query, wait_until

pytestmark = pytest.mark.slow

USER = 42
STRANGER = 666


def interactive(setup: Setup, *lines: str) -> None:
    config = setup.home / "config.toml"
    keys = f"interactive = true\nallowed_users = [{USER}]\n" + "".join(
        f"{line}\n" for line in lines
    )
    config.write_text(config.read_text().replace("[telegram]\n", "[telegram]\n" + keys))


def sent_with(setup: Setup, text: str) -> list[Any]:
    return [r for r in setup.api.messages() if r.params["text"] == text]


def button(setup: Setup, request: Any, label: str) -> str:
    buttons = dict(setup.api.buttons(request.message or {}))
    return buttons[label]


def test_remind_from_the_chat_arrives_with_buttons_and_snooze_redelivers(
    setup: Setup,
) -> None:
    interactive(setup, 'snooze_choices = ["2s", "1h", "tomorrow 9:00"]')
    daemon = setup.start()
    api = setup.api
    series = setup.cli_json(
        "add", "--every", "3s", "--message", "stand up", "--to", str(USER)
    )

    api.post_message(USER, "/remind 2s tea")
    (tea,) = wait_until(lambda: sent_with(setup, "tea"))
    assert [label for label, _ in api.buttons(tea.message or {})] == [
        "Done",
        "Snooze 2s",
        "Snooze 1h",
        "Tomorrow",
    ]
    reply = next(t for t in api.texts() if t.startswith("OK: tea"))
    assert " UTC (+00:00)" in reply  # the resolved time, with its zone

    first_standup = wait_until(lambda: sent_with(setup, "stand up"))[0]
    api.press(
        USER,
        USER,
        first_standup.message["message_id"],
        button(setup, first_standup, "Snooze 2s"),
    )
    wait_until(lambda: api.calls("editMessageText"))
    assert "Snoozed until" in api.calls("editMessageText")[0].params["text"]
    # the follow-up arrives, as well as the series' own next slots
    wait_until(lambda: len(sent_with(setup, "stand up")) >= 3, timeout=20)
    after = setup.cli_json("show", series["id"])
    assert after["schedule"] == series["schedule"] and after["enabled"] is True
    runs = setup.runs()
    assert any((r.get("response") or "").startswith("snoozed until") for r in runs)
    assert "snoozed until" in setup.cli("runs")
    daemon.signal(15)
    assert daemon.wait() == 0


def test_done_stops_a_nag_and_strangers_and_forgeries_change_nothing(
    setup: Setup,
) -> None:
    interactive(setup)
    daemon = setup.start()
    api = setup.api
    setup.cli(
        "add",
        "--at",
        "1s",
        "--message",
        "feed the cat",
        "--to",
        str(USER),
        "--nag",
        "2s",
        "--nag-max",
        "10",
    )
    nags = wait_until(
        lambda: (
            len(sent_with(setup, "feed the cat")) >= 2
            and sent_with(setup, "feed the cat")
        )
    )
    api.press(
        USER, USER, nags[-1].message["message_id"], button(setup, nags[-1], "Done")
    )
    wait_until(lambda: api.calls("editMessageText"))
    at_done = len(sent_with(setup, "feed the cat"))
    assert "✅ Done" in api.calls("editMessageText")[0].params["text"]
    # A nag already claimed when Done was handled may still land; none claimed
    # after it.
    time.sleep(2.5)
    count = len(sent_with(setup, "feed the cat"))
    assert count <= at_done + 1
    [answered] = {
        row["answered_at_ms"]
        for row in query(setup.home, "SELECT answered_at_ms FROM chat_prompts")
    }
    nag_runs = query(setup.home, "SELECT started_at_ms FROM runs WHERE trigger = 'nag'")
    assert nag_runs and all(run["started_at_ms"] <= answered for run in nag_runs)

    before = db_rows(setup.home)
    api.post_message(STRANGER, "/remind 2s stranger tea")
    api.press(
        USER,
        -100999,
        nags[0].message["message_id"],
        button(setup, nags[0], "Snooze 10m"),
    )
    wait_until(lambda: api.calls("answerCallbackQuery")[1:])
    api.post_message(USER, "/help")  # answered only after the stranger's was handled
    wait_until(
        lambda: any(t.startswith("I deliver your reminders") for t in api.texts())
    )
    time.sleep(5)  # two more nag periods: nothing more arrives
    assert len(sent_with(setup, "feed the cat")) == count
    assert db_rows(setup.home) == before
    assert not [t for t in api.texts() if "stranger" in t]
    assert (
        api.calls("answerCallbackQuery")[-1].params["text"]
        == "This button is no longer valid."
    )
    assert "ignored a message from user 666" in daemon.log
    daemon.signal(15)
    assert daemon.wait() == 0


def test_a_409_from_get_updates_leaves_delivery_working(setup: Setup) -> None:
    interactive(setup)
    setup.api.poll_conflict = True
    daemon = setup.start()
    daemon.wait_for("409 Conflict")
    setup.cli("add", "--at", "1s", "--message", "still here", "--to", str(USER))
    wait_until(lambda: sent_with(setup, "still here"))
    setup.api.poll_conflict = False
    daemon.wait_for("polling works again", timeout=90)
    setup.api.post_message(USER, "/list")
    wait_until(
        lambda: any(
            t.startswith("No reminders for this chat") for t in setup.api.texts()
        )
    )
    assert sum("409 Conflict" in line for line in daemon.lines) == 1
    daemon.signal(15)
    assert daemon.wait() == 0


def test_turning_the_chat_on_with_sighup(setup: Setup) -> None:
    """No restart needed: the daemon reloads the config and starts polling."""
    import signal

    daemon = setup.start()
    assert not setup.api.calls("getUpdates")
    interactive(setup)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for("chat: polling for commands")
    setup.api.post_message(USER, "/help")
    wait_until(lambda: any(t.startswith("I deliver") for t in setup.api.texts()))
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
