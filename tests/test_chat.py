"""The chat in-process: buttons on delivered reminders, presses, commands, nags,
quiet hours and a 409, against the fake Bot API with the real client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from reminders import app, responses
from reminders.app import AppContext, ReminderSpec
from reminders.chat import ChatService
from reminders.clock import FakeClock, SystemClock
from reminders.config import load_settings, resolve_paths
from reminders.delivery import make_sender
from reminders.firing import make_firer
from tests.conftest import TOKEN, Cli, db_rows
from tests.fake_bot_api import FakeBotApi

USER = 42
STRANGER = 666
GROUP = -1001234567890


def write_config(home: Path, api: FakeBotApi, extra: str = "") -> None:
    (home / "config.toml").write_text(
        "[general]\n"
        f"{extra}"
        "[telegram]\n"
        f'bot_token = "{TOKEN}"\n'
        f'api_base_url = "{api.base_url}"\n'
        "read_timeout = 2\nconnect_timeout = 2\n"
        "interactive = true\n"
        f"allowed_users = [{USER}]\n"
        "[delivery]\n"
        'deadline = "3s"\n'
    )


def context(clock: Any = None) -> AppContext:
    paths = resolve_paths()
    return AppContext(load_settings(paths), paths, clock or SystemClock())


def chat_run(
    ctx: AppContext, body: Callable[[ChatService, Any], Awaitable[Any]]
) -> Any:
    """Run `body(service, firer)` with the daemon's sender, firer and chat wired up."""

    async def main() -> Any:
        async with make_sender(ctx.settings) as sender:
            service = ChatService(ctx, sender)
            service.poll_timeout = 1
            firer = make_firer(ctx.store, sender, ctx.settings, ctx.clock)
            firer.hooks = service
            service.start()
            try:
                return await body(service, firer)
            finally:
                await service.stop()

    return asyncio.run(main())


async def until(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    for _ in range(int(timeout / 0.05)):
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


def add(ctx: AppContext, **fields: Any) -> Any:
    spec = ReminderSpec(to=str(USER), **fields)
    return app.add(ctx, spec)


def nagging(ctx: AppContext, text: str, every_ms: int) -> Any:
    """A one-shot in a second that nags every `every_ms` and stays after its run."""
    return add(
        ctx,
        at="1s",
        system_event=text,
        delete_after_run=False,
        extra={"nagEveryMs": every_ms},
    )


def runs(ctx: AppContext) -> list[Any]:
    with ctx.store.read() as db:
        return db.runs()


@pytest.fixture
def ctx(home: Path, telegram: FakeBotApi) -> AppContext:
    write_config(home, telegram)
    return context()


def test_a_delivered_reminder_has_done_and_snooze_buttons(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    """Scheduled sends carry Done, the snooze choices and Tomorrow."""
    reminder = add(ctx, at="1s", system_event="tea")
    ctx.clock = FakeClock(ctx.now_ms() + 2000)

    async def body(service: ChatService, firer: Any) -> None:
        await firer.fire(reminder.id)

    chat_run(ctx, body)
    (sent,) = telegram.messages()
    labels = [label for label, _ in telegram.buttons(sent.message or {})]
    assert labels == ["Done", "Snooze 10m", "Snooze 1h", "Tomorrow"]


def test_done_edits_the_message_records_the_run_and_answers(
    ctx: AppContext, telegram: FakeBotApi, run: Cli
) -> None:
    reminder = add(ctx, at="1s", system_event="take the pills")
    ctx.clock = FakeClock(ctx.now_ms() + 2000)

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(reminder.id)
        (message_id,) = fired.messageIds
        telegram.press(USER, USER, message_id, f"d:{fired.id}")
        await until(lambda: telegram.calls("editMessageText"))
        await until(lambda: telegram.calls("answerCallbackQuery"))

    chat_run(ctx, body)
    (edit,) = telegram.calls("editMessageText")
    assert edit.params["text"].startswith("take the pills\n\n✅ Done ")
    assert "reply_markup" not in telegram.sent_message(USER, edit.params["message_id"])
    (done,) = [r for r in runs(ctx) if r.response]
    assert done.response == "done" and done.responseAtMs is not None
    assert "sent, done" in run("runs").stdout


def test_snooze_makes_a_one_shot_and_leaves_the_series_alone(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    series = add(ctx, every="1d", system_event="water the plants", name="Plants")
    ctx.clock = FakeClock(series.state.nextRunAtMs or 0)
    before = app.show(ctx, series.id)

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(series.id)
        telegram.press(USER, USER, fired.messageIds[0], f"s:{fired.id}:1")
        await until(lambda: telegram.calls("editMessageText"))

    chat_run(ctx, body)
    after = app.show(ctx, series.id)
    assert after.schedule == before.schedule
    assert after.state.nextRunAtMs == (before.state.nextRunAtMs or 0) + 86_400_000
    (follow_up,) = [
        r for r in app.list_reminders(ctx, include_disabled=True) if r.is_one_shot
    ]
    assert follow_up.text == "water the plants" and follow_up.delivery.to == str(USER)
    assert follow_up.state.nextRunAtMs == ctx.now_ms() + 3_600_000
    (edit,) = telegram.calls("editMessageText")
    assert "💤 Snoozed until " in edit.params["text"]
    assert any((r.response or "").startswith("snoozed until ") for r in runs(ctx))


@pytest.mark.slow
def test_a_strangers_command_and_press_change_nothing(
    ctx: AppContext, telegram: FakeBotApi, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No reply, no reminder, no answer; one log line per stranger."""
    reminder = add(ctx, at="1s", system_event="tea")
    ctx.clock = FakeClock(ctx.now_ms() + 2000)
    caplog.set_level(logging.INFO, "reminders.chat")

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(reminder.id)
        state["before"] = db_rows(home)
        telegram.post_message(STRANGER, "/remind 2s tea")
        telegram.post_message(STRANGER, "/remind 3s more tea")
        telegram.press(STRANGER, USER, fired.messageIds[0], f"d:{fired.id}")
        await until(lambda: len(telegram.calls("getUpdates")) >= 3)
        await asyncio.sleep(0.3)

    state: dict[str, Any] = {}
    chat_run(ctx, body)
    assert db_rows(home) == state["before"]
    assert len(telegram.calls("sendMessage")) == 1  # the reminder only
    assert not telegram.calls("answerCallbackQuery")
    assert not telegram.calls("editMessageText")
    lines = [r.getMessage() for r in caplog.records if str(STRANGER) in r.getMessage()]
    assert len(lines) == 1 and "allowed_users" in lines[0]


@pytest.mark.parametrize(
    "forge",
    [
        "other-chat",
        "other-message",
        "garbage",
        "unknown-run",
        "bad-choice",
        "twice",
    ],
)
def test_forged_or_stale_presses_are_answered_and_change_nothing(
    ctx: AppContext, telegram: FakeBotApi, home: Path, forge: str
) -> None:
    reminder = add(ctx, at="1s", system_event="tea", delete_after_run=False)
    ctx.clock = FakeClock(ctx.now_ms() + 2000)
    state: dict[str, Any] = {}

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(reminder.id)
        mid = fired.messageIds[0]
        if forge == "twice":
            telegram.press(USER, USER, mid, f"d:{fired.id}")
            await until(lambda: telegram.calls("answerCallbackQuery"))
        state["before"] = db_rows(home)
        press = {
            "other-chat": (GROUP, mid, f"d:{fired.id}"),
            "other-message": (USER, mid + 5, f"d:{fired.id}"),
            "garbage": (USER, mid, "x:';DROP TABLE runs"),
            "unknown-run": (USER, mid, "d:999999"),
            "bad-choice": (USER, mid, f"s:{fired.id}:9"),
            "twice": (USER, mid, f"s:{fired.id}:0"),
        }[forge]
        telegram.press(USER, *press)
        wanted = 2 if forge == "twice" else 1
        await until(lambda: len(telegram.calls("answerCallbackQuery")) >= wanted)

    chat_run(ctx, body)
    assert db_rows(home) == state["before"]
    notice = telegram.calls("answerCallbackQuery")[-1].params["text"]
    assert notice in (
        "This button is no longer valid.",
        "This reminder was already answered.",
    )
    assert len(telegram.calls("editMessageText")) == (1 if forge == "twice" else 0)


@pytest.mark.slow
def test_remind_in_the_chat_makes_an_ordinary_reminder(
    ctx: AppContext, telegram: FakeBotApi, run: Cli
) -> None:
    """The reply gives the absolute time and zone; the CLI sees the reminder."""

    async def body(service: ChatService, firer: Any) -> None:
        telegram.post_message(USER, "/tz Europe/Berlin")
        await until(lambda: len(telegram.calls("sendMessage")) == 1)
        telegram.post_message(USER, "/remind tomorrow 9:00 call mom")
        await until(lambda: len(telegram.calls("sendMessage")) == 2)

    chat_run(ctx, body)
    tz_reply, added = telegram.texts()
    assert "now read in Europe/Berlin" in tz_reply
    assert added.startswith("OK: call mom\nat ") and " CET (+01:00)" in added
    (listed,) = run.json("list")
    assert listed["name"] == "call mom" and listed["delivery"]["to"] == str(USER)
    assert "09:00:00+01:00" in _berlin(listed["schedule"]["at"])


def _berlin(iso: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo("Europe/Berlin")).isoformat()


def test_an_unreadable_phrase_gets_two_examples_and_stores_nothing(
    ctx: AppContext, telegram: FakeBotApi, home: Path
) -> None:
    async def body(service: ChatService, firer: Any) -> None:
        telegram.post_message(USER, "/remind sometime soon tea")
        await until(lambda: telegram.texts())

    chat_run(ctx, body)
    (reply,) = telegram.texts()
    assert "/remind 20m tea" in reply and "/remind tomorrow 9:00 call mom" in reply
    assert db_rows(home) == []


@pytest.mark.slow
def test_list_cancel_buttons_and_the_cancel_command(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    add(ctx, at="1h", system_event="tea")
    add(ctx, at="2h", system_event="coffee")
    app.add(ctx, ReminderSpec(at="3h", system_event="not here", to="777"))

    async def body(service: ChatService, firer: Any) -> None:
        telegram.post_message(USER, "/list")
        listing = await until(lambda: telegram.messages())
        buttons = telegram.buttons(listing[0].message or {})
        assert [label for label, _ in buttons] == ["Cancel 1. tea", "Cancel 2. coffee"]
        telegram.press(USER, USER, listing[0].message["message_id"], buttons[0][1])
        await until(lambda: telegram.calls("editMessageText"))
        telegram.post_message(USER, "/cancel not here")
        telegram.post_message(USER, "/cancel coffee")
        await until(lambda: len(telegram.messages()) == 3)

    chat_run(ctx, body)
    names = sorted(r.name for r in app.list_reminders(ctx, include_disabled=True))
    assert names == ["not here"]
    (edit,) = telegram.calls("editMessageText")
    assert "coffee" in edit.params["text"] and "tea" not in edit.params["text"]
    replies = telegram.texts()[1:]
    assert any("No reminder with id or name 'not here'" in r for r in replies)
    assert any(r.startswith("Cancelled coffee") for r in replies)


@pytest.mark.slow
def test_snooze_command_replying_to_a_reminder(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    reminder = add(ctx, at="1s", system_event="stretch")
    ctx.clock = FakeClock(ctx.now_ms() + 2000)

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(reminder.id)
        telegram.post_message(USER, "/snooze 30m", reply_to=fired.messageIds[0])
        await until(lambda: len(telegram.messages()) == 2)

    chat_run(ctx, body)
    assert telegram.texts()[1].startswith("Snoozed stretch until ")
    (follow_up,) = app.list_reminders(ctx, include_disabled=True)
    assert follow_up.state.nextRunAtMs == ctx.now_ms() + 30 * 60_000


@pytest.mark.slow
def test_a_nag_resends_until_done(ctx: AppContext, telegram: FakeBotApi) -> None:
    """Each nag is a run of its own with buttons; Done on any of them stops it."""
    clock = FakeClock(ctx.now_ms())
    ctx.clock = clock
    reminder = add(
        ctx,
        at="1s",
        system_event="feed the cat",
        extra={"nagEveryMs": 900_000, "nagMax": 3},
    )

    async def body(service: ChatService, firer: Any) -> None:
        service._tasks[1].cancel()  # the test plays the nagger's part
        clock.advance(2000)
        fired = await firer.fire(reminder.id)
        clock.advance(900_000)
        await service.nag_due()
        clock.advance(900_000)
        await service.nag_due()
        last = telegram.messages()[-1]
        telegram.press(USER, USER, last.message["message_id"], _done_data(last))
        await until(lambda: telegram.calls("editMessageText"))
        clock.advance(900_000)
        await service.nag_due()
        return fired

    chat_run(ctx, body)
    assert telegram.texts() == ["feed the cat"] * 3
    nags = [r for r in runs(ctx) if r.trigger == "nag"]
    assert len(nags) == 2 and all(r.status == "sent" for r in nags)
    assert [r.response for r in runs(ctx) if r.response] == ["done"]


@pytest.mark.parametrize("stop", ["rm", "disable", "nag off"])
def test_removing_or_disabling_a_reminder_stops_its_nags(
    ctx: AppContext, telegram: FakeBotApi, stop: str
) -> None:
    """A nag chain belongs to its reminder: `rm`, `disable` or `edit --nag off`
    ends it, while a one-shot deleted after its own run goes on nagging until
    Done."""
    clock = FakeClock(ctx.now_ms())
    ctx.clock = clock
    kept = add(ctx, at="1s", system_event="kept", extra={"nagEveryMs": 900_000})
    stopped = nagging(ctx, "stopped", 900_000)

    async def body(service: ChatService, firer: Any) -> None:
        service._tasks[1].cancel()  # the test plays the nagger's part
        clock.advance(2000)
        await firer.fire(kept.id)
        await firer.fire(stopped.id)
        if stop == "rm":
            app.remove(ctx, stopped.id)
        elif stop == "disable":
            app.set_enabled(ctx, stopped.id, False)
        else:
            app.edit(ctx, stopped.id, ReminderSpec(nag="off"))
        clock.advance(900_000)
        await service.nag_due()

    chat_run(ctx, body)
    left = app.list_reminders(ctx, include_disabled=True)
    assert [r.id for r in left] == ([] if stop == "rm" else [stopped.id])
    assert telegram.texts() == ["kept", "stopped", "kept"]
    assert responses.next_nag_at(ctx.store) == clock.now_ms() + 900_000  # kept


def test_quiet_hours_do_not_restart_a_chain_stopped_meanwhile(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    """The nagger read a due chain, `rm` stopped it, then quiet hours postpone the
    chain it read: it stays stopped."""
    clock = FakeClock(ctx.now_ms())
    ctx.clock = clock
    reminder = nagging(ctx, "x", 60_000)

    async def body(service: ChatService, firer: Any) -> None:
        service._tasks[1].cancel()  # the test plays the nagger's part
        clock.advance(2000)
        await firer.fire(reminder.id)

    chat_run(ctx, body)
    [root] = responses.due_nags(ctx.store, clock.now_ms() + 60_000)
    app.remove(ctx, reminder.id)
    responses.postpone_nag(ctx.store, root, clock.now_ms() + 3_600_000)
    assert responses.next_nag_at(ctx.store) is None


def _done_data(request: Any) -> str:
    return next(
        data
        for label, data in FakeBotApi.buttons(None, request.message)
        if label == "Done"
    )  # type: ignore[arg-type]


@pytest.mark.slow
def test_nags_stop_at_the_cap(ctx: AppContext, telegram: FakeBotApi) -> None:
    clock = FakeClock(ctx.now_ms())
    ctx.clock = clock
    reminder = add(
        ctx, at="1s", system_event="x", extra={"nagEveryMs": 60_000, "nagMax": 2}
    )

    async def body(service: ChatService, firer: Any) -> None:
        service._tasks[1].cancel()  # the test plays the nagger's part
        clock.advance(2000)
        await firer.fire(reminder.id)
        for _ in range(4):
            clock.advance(60_000)
            await service.nag_due()

    chat_run(ctx, body)
    assert len(telegram.messages()) == 3


def test_quiet_hours_send_silently_and_nags_wait(
    home: Path, telegram: FakeBotApi
) -> None:
    write_config(home, telegram, 'quiet_hours = "22:00-07:00"\n')
    clock = FakeClock(1795555800000)  # 2026-11-24T21:30:00Z
    ctx = context(clock)
    reminder = add(ctx, at="22:10", system_event="sleep", extra={"nagEveryMs": 600_000})

    async def body(service: ChatService, firer: Any) -> None:
        service._tasks[1].cancel()  # the test plays the nagger's part
        clock.set(reminder.state.nextRunAtMs or 0)
        await firer.fire(reminder.id)
        clock.advance(600_000)
        await service.nag_due()

    chat_run(ctx, body)
    (sent,) = telegram.messages()
    assert sent.params["disable_notification"] is True
    with ctx.store.read() as db:
        wait = db.value("SELECT next_nag_at_ms FROM chat_prompts")
    assert wait == 1795590000000  # 2026-11-25T07:00:00Z


@pytest.mark.slow
def test_a_409_is_logged_once_with_the_fix_and_delivery_goes_on(
    ctx: AppContext, telegram: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.poll_conflict = True
    reminder = add(ctx, at="1s", system_event="still delivered")
    ctx.clock = FakeClock(ctx.now_ms() + 2000)
    caplog.set_level(logging.INFO, "reminders.chat")

    async def body(service: ChatService, firer: Any) -> None:
        await until(lambda: len(telegram.calls("getUpdates")) >= 2)
        return await firer.fire(reminder.id)

    fired = chat_run(ctx, body)
    assert fired.status == "sent" and telegram.texts() == ["still delivered"]
    lines = [r.getMessage() for r in caplog.records if "409" in r.getMessage()]
    assert len(lines) == 1
    assert "give reminders a bot token of its own" in lines[0]


def test_interactive_without_allowed_users_refuses_to_start(
    home: Path, telegram: FakeBotApi, run: Cli
) -> None:
    write_config(home, telegram)
    text = (home / "config.toml").read_text().replace(f"[{USER}]", "[]")
    (home / "config.toml").write_text(text)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:  # the daemon command sets up logging for the whole process
        result = run("daemon", code=78)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "telegram.allowed_users" in result.stderr


def test_nag_is_refused_without_interactive(run: Cli, home: Path) -> None:
    result = run(
        "add", "--at", "1h", "--message", "m", "--to", "1", "--nag", "15m", code=65
    )
    assert "interactive = true" in result.stderr
    assert db_rows(home) == []


def test_nag_is_stored_as_our_own_field_and_not_exported(
    ctx: AppContext, run: Cli, home: Path
) -> None:
    added = run.json(
        "add",
        "--at",
        "1h",
        "--message",
        "m",
        "--to",
        "1",
        "--nag",
        "15m",
        "--nag-max",
        "4",
    )
    assert added["nagEveryMs"] == 900_000 and added["nagMax"] == 4
    run("export", str(home / "jobs.json"))
    assert "nag" not in (home / "jobs.json").read_text()


@pytest.mark.slow
def test_a_press_before_the_send_is_recorded_waits_for_it(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    """Telegram shows the message before its answer reaches us: a quick press is
    honoured once the run is recorded, not refused as stale."""
    from tests.fake_bot_api import slow

    reminder = add(ctx, at="1s", system_event="quick")
    ctx.clock = FakeClock(ctx.now_ms() + 2000)
    telegram.fail_next(slow(1.0))

    async def body(service: ChatService, firer: Any) -> None:
        firing = asyncio.create_task(firer.fire(reminder.id))
        stored = await until(lambda: telegram.messages())
        message = stored[0].message or {}
        telegram.press(
            USER, USER, message["message_id"], dict(telegram.buttons(message))["Done"]
        )
        await firing
        await until(lambda: telegram.calls("editMessageText"))

    chat_run(ctx, body)
    assert "✅ Done" in telegram.calls("editMessageText")[0].params["text"]
    assert [r.response for r in runs(ctx)] == ["done"]


def test_a_nag_cut_off_by_a_crash_is_closed_not_resent_as_a_new_delivery(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    """Recovery marks a `sending` nag run failed; it does not start a new chain."""
    clock = FakeClock(ctx.now_ms())
    ctx.clock = clock
    reminder = nagging(ctx, "x", 60_000)

    async def body(service: ChatService, firer: Any) -> None:
        service._tasks[1].cancel()  # this test plays the nagger's part itself
        clock.advance(2000)
        await firer.fire(reminder.id)
        clock.advance(60_000)
        (root,) = await asyncio.to_thread(responses.due_nags, ctx.store, clock.now_ms())
        responses.claim_nag(ctx.store, root, clock.now_ms())  # then the "crash"
        # A second claimer of the same nag (another daemon, a late loop) gets none.
        assert responses.claim_nag(ctx.store, root, clock.now_ms()) is None
        await firer.recover()

    chat_run(ctx, body)
    assert len(telegram.messages()) == 1
    (nag,) = [r for r in runs(ctx) if r.trigger == "nag"]
    assert nag.status == "failed" and nag.errorClass == "Orphaned"
    assert app.show(ctx, reminder.id).state.lastRunAtMs is not None


def test_an_update_the_client_cannot_read_does_not_wedge_polling(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    """A callback query without chat_instance breaks python-telegram-bot's parser
    for the whole batch; it is stepped over and the next update is answered."""
    bad = {"id": "q1", "from": {"id": USER, "is_bot": False, "first_name": "U"}}

    async def body(service: ChatService, firer: Any) -> None:
        telegram._push("callback_query", bad)
        telegram.post_message(USER, "/help")
        await until(lambda: telegram.texts())

    logging.getLogger("telegram.Bot").setLevel(logging.CRITICAL + 1)
    chat_run(ctx, body)
    assert telegram.texts()[0].startswith("I deliver your reminders")


def test_show_tells_the_nag_and_edit_turns_it_off(ctx: AppContext, run: Cli) -> None:
    added = run.json("add", "--at", "1h", "--message", "m", "--to", "1", "--nag", "15m")
    assert (
        "nag:       every 15m until Done, at most 8 times"
        in run("show", added["id"]).stdout
    )
    edited = run.json("edit", added["id"], "--nag", "off")
    assert "nagEveryMs" not in edited and "nag:" not in run("show", added["id"]).stdout


def test_snoozing_in_a_forum_topic_keeps_the_topic(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    reminder = app.add(
        ctx, ReminderSpec(at="1s", system_event="review", to=f"{GROUP}:topic:42")
    )
    ctx.clock = FakeClock(ctx.now_ms() + 2000)

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(reminder.id)
        telegram.press(USER, GROUP, fired.messageIds[0], f"s:{fired.id}:0")
        await until(lambda: telegram.calls("editMessageText"))

    chat_run(ctx, body)
    (follow_up,) = app.list_reminders(ctx, include_disabled=True)
    assert follow_up.delivery is not None
    assert (follow_up.delivery.to, str(follow_up.delivery.threadId)) == (
        str(GROUP),
        "42",
    )


@pytest.mark.slow
def test_a_run_resent_after_a_crash_moves_its_buttons_to_the_new_message(
    ctx: AppContext, telegram: FakeBotApi
) -> None:
    """Recovery resends a `sending` run: the new message's buttons work."""
    reminder = add(ctx, at="1s", system_event="again", delete_after_run=False)
    ctx.clock = FakeClock(ctx.now_ms() + 2000)

    async def body(service: ChatService, firer: Any) -> None:
        fired = await firer.fire(reminder.id)
        with ctx.store.write() as db:  # as if the daemon died before recording it
            db.update_run(fired.id, status="sending", message_ids=[])
        (resent,) = await firer.recover()
        telegram.press(USER, USER, resent.messageIds[-1], f"d:{fired.id}")
        await until(lambda: telegram.calls("editMessageText"))

    chat_run(ctx, body)
    assert len(telegram.messages()) == 2
    assert [r.response for r in runs(ctx)] == ["done"]


def test_config_check_names_an_empty_allowed_users(
    home: Path, telegram: FakeBotApi, run: Cli
) -> None:
    write_config(home, telegram)
    text = (home / "config.toml").read_text().replace(f"[{USER}]", "[]")
    (home / "config.toml").write_text(text)
    assert "telegram.allowed_users" in run("config", "check", code=78).stderr
