"""Strange 200 replies, in process: the real python-telegram-bot client against the
fake Bot API's poison mode. Every reply ends in a sent message id or a classified
DeliveryFailure, within a bounded time; crash recovery never raises."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from reminders.clock import SystemClock
from reminders.db import sqlite_url
from reminders.delivery import SendResult, TelegramSender
from reminders.errors import DeliveryFailure, TransientError
from reminders.fire_records import MAX_RESENDS, RESENDING
from reminders.firing import Firer
from reminders.migrate import open_store
from reminders.ratelimit import Limits, RateLimiter
from reminders.schema import Reminder, Run, ms_to_iso
from reminders.store import Store
from reminders.targets import parse_target
from tests.fake_bot_api import POISON, FakeBotApi, poisoned

# A reply that may hide a delivered message, and one that cannot.
AMBIGUOUS = ["no_result", "null_result", "list_result", "no_message_id", "truncated"]
REFUSED = ["ok_false", "html"]
BOUND_S = 30  # far above any deadline here: a hang fails instead of blocking


def sender_for(api: FakeBotApi, **options: Any) -> TelegramSender:
    settings = {
        "api_base_url": api.base_url,
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "deadline_s": 1.0,
        "rng": random.Random(3),
    }
    return TelegramSender(api.token, **(settings | options))


def send(api: FakeBotApi, **options: Any) -> SendResult:
    async def main() -> SendResult:
        async with sender_for(api, **options) as sender:
            return await asyncio.wait_for(
                sender.send(parse_target("42"), "pills"), BOUND_S
            )

    return asyncio.run(main())


def send_fails(api: FakeBotApi, **options: Any) -> DeliveryFailure:
    with pytest.raises(DeliveryFailure) as caught:
        send(api, **options)
    return caught.value


def test_the_poison_list_is_complete() -> None:
    """Every reply the fake can serve is covered by a test below."""
    covered = {"preview_as_string", "trickle", "get_me", *AMBIGUOUS, *REFUSED}
    assert set(POISON) == covered


def test_unparsable_message_with_an_id_is_sent() -> None:
    """ok:true with a message_id but a field PTB cannot parse: delivered, once, with
    the id read from the raw reply."""
    with FakeBotApi(poison="preview_as_string") as api:
        result = send(api)
        assert result.message_ids == [1]
        assert "read from the raw reply" in result.warnings[0]
        assert len(api.calls()) == 1 and api.texts() == ["pills"]


@pytest.mark.parametrize("name", AMBIGUOUS)
def test_ambiguous_reply_with_skip_is_not_resent(name: str) -> None:
    """A reply that may hide a delivered message fails as ambiguous at once under
    on_ambiguous = "skip", after one request."""
    with FakeBotApi(poison=name) as api:
        failure = send_fails(api, on_ambiguous="skip")
        assert (failure.ambiguous, failure.permanent) == (True, True)
        assert failure.error_class == "StrangeReply"
        assert "may have been delivered" in failure.text
        assert len(api.calls()) == 1


@pytest.mark.parametrize("name", AMBIGUOUS)
def test_ambiguous_reply_with_resend_is_retried_then_fails(name: str) -> None:
    """Under "resend" it is retried like a timeout, then fails at the deadline."""
    with FakeBotApi(poison=name) as api:
        failure = send_fails(api)
        assert (failure.ambiguous, failure.permanent) == (False, False)
        assert failure.error_class == "StrangeReply"
        assert len(api.calls()) >= 2
        assert len(failure.attempts) == len(api.calls())


@pytest.mark.parametrize("name", REFUSED)
def test_reply_that_is_not_a_delivery_fails_without_ambiguity(name: str) -> None:
    """ok:false with 200, or an HTML page: nothing was delivered; retried within the
    deadline (skip or not), then a temporary failure saying what came back."""
    with FakeBotApi(poison=name) as api:
        failure = send_fails(api, on_ambiguous="skip")
        assert (failure.ambiguous, failure.permanent) == (False, False)
        assert failure.error_class == "StrangeReply"
        assert api.texts() == []
        assert len(api.calls()) >= 2
    if name == "html":
        assert "HTML page" in failure.text and "api_base_url" in failure.text


def test_trickled_reply_is_cut_off_by_the_request_deadline() -> None:
    """One byte a second never trips a 2 s read_timeout; the whole-request deadline
    (connect + 2 x read timeout) ends the attempt as ambiguous."""
    with FakeBotApi(poison="trickle") as api:
        failure = send_fails(api, on_ambiguous="skip", read_timeout=2)
        assert (failure.ambiguous, failure.error_class) == (True, "TimedOut")
        assert len(api.calls()) == 1 and api.texts() == ["pills"]


def test_bad_get_me_reply_is_temporary() -> None:
    """A getMe answer that is not a bot: a TransientError naming the URL, not a crash."""
    with FakeBotApi(poison="get_me") as api:
        sender = sender_for(api)
        with pytest.raises(TransientError, match="getMe") as caught:
            asyncio.run(sender.start())
        assert api.base_url in str(caught.value)


def test_bad_get_me_reply_fails_sends_temporarily() -> None:
    """Sends retry start-up within the deadline and fail as temporary."""
    with FakeBotApi(poison="get_me") as api:
        sender = sender_for(api)  # not started: the daemon goes on without it

        async def main() -> None:
            try:
                await asyncio.wait_for(sender.send(parse_target("42"), "x"), BOUND_S)
            finally:
                await sender.close()

        with pytest.raises(DeliveryFailure) as caught:
            asyncio.run(main())
        assert caught.value.permanent is False
        assert "getMe" in caught.value.text
        assert api.calls() == []


def test_poison_for_one_chat_leaves_the_others_alone() -> None:
    """A fault for one chat does not touch another chat's send."""
    with FakeBotApi() as api:
        api.chat_faults[7] = poisoned("no_result")

        async def main() -> list[Any]:
            async with sender_for(api, on_ambiguous="skip") as sender:
                return await asyncio.gather(
                    sender.send(parse_target("7"), "a"),
                    sender.send(parse_target("8"), "b"),
                    return_exceptions=True,
                )

        poisoned_send, fine = asyncio.run(main())
        assert isinstance(poisoned_send, DeliveryFailure)
        assert isinstance(fine, SendResult) and fine.message_ids == [1]


# -- crash recovery ---------------------------------------------------------------


def stuck_runs(home: Path, count: int, *, error_class: str | None = None) -> Store:
    """`count` one-shots to chats 100.., each with a `sending` run (a crash mid-send)."""
    store = open_store(sqlite_url(home / "reminders.db"))
    now = int(time.time() * 1000) - 60_000
    with store.write() as db:
        for n in range(count):
            reminder = Reminder.model_validate(
                {
                    "id": f"stuck-{n}",
                    "name": f"stuck {n}",
                    "createdAtMs": now,
                    "updatedAtMs": now,
                    "schedule": {"kind": "at", "at": ms_to_iso(now)},
                    "payload": {"kind": "systemEvent", "text": f"stuck {n}"},
                    "delivery": {"to": str(100 + n)},
                    "state": {"nextRunAtMs": now, "runningAtMs": now},
                }
            )
            db.save(reminder, now)
            db.insert_run(
                reminder_id=reminder.id,
                scheduled_for_ms=now,
                status="sending",
                started_at_ms=now,
                error_class=error_class,
            )
    return store


def recover(store: Store, api: FakeBotApi, **options: Any) -> list[Run]:
    policy = options.pop("on_ambiguous", "resend")

    async def main() -> list[Run]:
        async with sender_for(api, on_ambiguous=policy, **options) as sender:
            firer = Firer(
                store,
                sender,
                default_tz="UTC",
                catch_up_ms=3_600_000,
                parse_mode=None,
                on_ambiguous=policy,
                clock=SystemClock(),
            )
            await asyncio.wait_for(firer.recover(), BOUND_S)
        with store.read() as db:
            return db.runs(limit=100)

    return asyncio.run(main())


@pytest.mark.parametrize("name", [*AMBIGUOUS, *REFUSED, "trickle"])
def test_recovery_never_raises_and_closes_every_run(home: Path, name: str) -> None:
    """Resending after a crash into a poisoned reply closes the run as failed with
    the reason, and moves on to the next run."""
    store = stuck_runs(home, 2)
    with FakeBotApi(poison=name) as api:
        # a read timeout above the trickle's pace, which it never trips
        runs = recover(store, api, read_timeout=2 if name == "trickle" else 0.5)
        assert api.calls()  # each run was resent
    assert {run.status for run in runs} == {"failed"}
    assert {run.errorClass for run in runs} <= {"StrangeReply", "TimedOut"}
    assert all(run.errorText for run in runs)


def test_recovery_records_an_id_read_from_the_raw_reply(home: Path) -> None:
    store = stuck_runs(home, 1)
    with FakeBotApi(poison="preview_as_string") as api:
        [run] = recover(store, api)
        assert (run.status, run.messageIds) == ("sent", [1])
        assert api.texts() == ["stuck 0"]


@pytest.mark.parametrize(
    ("begun", "sent"),
    [(0, True), (1, True), (MAX_RESENDS, False)],
)
def test_recovery_resends_a_run_a_bounded_number_of_times(
    home: Path, begun: int, sent: bool
) -> None:
    """A resend cut off by another crash may never have left (it is counted just
    before its request goes out), so it is resent too; after MAX_RESENDS the run
    is closed as ambiguous, so a crash loop cannot flood a chat."""
    store = stuck_runs(home, 1, error_class=RESENDING if begun else None)
    with store.write() as db:
        [stuck] = db.runs_with_status("sending")
        db.update_run(stuck.id, attempts=begun)
    with FakeBotApi() as api:
        [run] = recover(store, api)
        texts = api.texts()
    if sent:
        assert (run.status, run.errorClass, texts) == ("sent", None, ["stuck 0"])
    else:
        assert (run.status, run.errorClass, texts) == ("failed", "AmbiguousSend", [])
        assert f"not resent again after {MAX_RESENDS} resends" in (run.errorText or "")


def test_recovery_counts_a_resend_before_it_goes_out(home: Path) -> None:
    """While the resend is on the wire the run says which resend it is."""
    store = stuck_runs(home, 1)
    seen: list[tuple[str | None, int]] = []
    with FakeBotApi() as api:
        original = api._store

        def spy(params: dict[str, Any]) -> dict[str, Any]:
            with store.read() as db:
                [run] = db.runs_with_status("sending")
            seen.append((run.errorClass, run.attempts))
            return original(params)

        api._store = spy  # type: ignore[method-assign]
        [run] = recover(store, api)
    assert seen == [(RESENDING, 1)]
    assert (run.status, run.errorClass) == ("sent", None)


# -- stopping mid-burst -------------------------------------------------------------


def test_closing_the_limiter_stops_queued_sends_before_they_go_out() -> None:
    """Sends queued behind the overall window fail as Stopped (nothing sent) when
    the limiter closes; the ones already sent stay sent."""
    with FakeBotApi() as api:

        async def main() -> list[Any]:
            limiter = RateLimiter(Limits(overall=(2, 1.0)))
            async with sender_for(api, limiter=limiter) as sender:
                sends = [
                    asyncio.ensure_future(sender.send(parse_target(str(500 + n)), "b"))
                    for n in range(6)
                ]
                await asyncio.sleep(0.5)  # two went out; four wait for the window
                limiter.close()
                return await asyncio.wait_for(
                    asyncio.gather(*sends, return_exceptions=True), BOUND_S
                )

        outcomes = asyncio.run(main())
        sent = [o for o in outcomes if isinstance(o, SendResult)]
        stopped = [o for o in outcomes if isinstance(o, DeliveryFailure)]
        assert len(sent) == len(api.messages()) == 2
        assert [(f.error_class, f.ambiguous, f.sent_ids) for f in stopped] == [
            ("Stopped", False, [])
        ] * 4
