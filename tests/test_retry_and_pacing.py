"""Retries, backoff, deadlines and pacing, on a fake clock: the sender reaches the fake
Bot API in process (`FakeBotApi.in_process()`) on an event loop whose clock jumps
from timer to timer (`tests/virtual_time.py`). Every timing below is exact, and
none of it takes real time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from typing import Any

import pytest
from fake_bot_api import BAD_GATEWAY, FakeBotApi, FloodLimits, slow, too_many
from virtual_time import START, now, run

from reminders.delivery import SendResult, TelegramSender
from reminders.errors import DeliveryFailure
from reminders.ratelimit import MARGIN_S, Limits, RateLimiter, Stopped
from reminders.retry import BACKOFF_CAP_S, Deadline, backoff
from reminders.targets import parse_target

GROUP = -1001234567890
SEED = 7


def sender_on(api: FakeBotApi, **options: Any) -> TelegramSender:
    """A sender that reaches `api` in process, on the running loop's clock."""
    read_timeout = options.pop("read_timeout", 1)
    settings = {
        "api_base_url": "http://in-process.test",
        "connect_timeout": 1,
        "read_timeout": read_timeout,
        "deadline_s": 5,
        "rng": random.Random(SEED),
        "limiter": RateLimiter(clock=now),
        "request": api.in_process(read_timeout),
    }
    return TelegramSender(api.token, **(settings | options))


def send(
    api: FakeBotApi, to: str, text: str, **options: Any
) -> tuple[SendResult | DeliveryFailure, float]:
    """Start a sender, send one message, close it: the outcome and the (fake)
    seconds the send took."""

    async def main() -> tuple[SendResult | DeliveryFailure, float]:
        async with sender_on(api, **options) as sender:
            started = now()
            try:
                outcome: SendResult | DeliveryFailure = await sender.send(
                    parse_target(to), text
                )
            except DeliveryFailure as failure:
                outcome = failure
            return outcome, now() - started

    return run(main())


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def backoffs_within(deadline_s: float) -> list[float]:
    """The waits a sender seeded with SEED takes before `deadline_s` runs out."""
    rng, waits = random.Random(SEED), []
    while sum(waits) + (wait := backoff(len(waits) + 1, rng)) <= deadline_s:
        waits.append(wait)
    return waits


# -- the backoff and the deadline, alone ---------------------------------------------


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1), (3, 1, 2), (4, 2, 4), (7, 15, 30), (30, 15, 30)],
)
def test_backoff_doubles_with_jitter_up_to_the_cap(
    failures: int, low: float, high: float
) -> None:
    """The wait after n failures in a row is drawn from [c/2, c], c = 0.5 s * 2^(n-1),
    c at most 30 s."""
    rng = random.Random(failures)
    waits = [backoff(failures, rng) for _ in range(200)]
    assert all(low <= wait <= high <= BACKOFF_CAP_S for wait in waits)
    assert len(set(waits)) > 100  # jittered, not one fixed wait


def test_deadline_counts_from_the_first_question_and_takes_credit() -> None:
    """A deadline starts at its first question; time given back moves it on."""
    clock = [100.0]
    deadline = Deadline(5, clock=lambda: clock[0])
    assert deadline.allows(5)  # starts now: 100 + 5 is still within
    clock[0] = 103.0
    assert deadline.allows(2) and not deadline.allows(2.5)
    deadline.credit(1.0)  # a second of queueing that was not this delivery's
    assert deadline.allows(3) and not deadline.allows(3.5)


# -- the sender's retries --------------------------------------------------------------


def test_429_waits_exactly_the_retry_after() -> None:
    """Flood control is honoured: the retry comes retry_after later, not sooner."""
    api = FakeBotApi()
    api.fail_next(too_many(1))
    result, _ = send(api, "42", "hello")
    assert gaps([call.monotonic for call in api.calls()]) == pytest.approx([1.0])
    assert api.texts() == ["hello"]
    assert isinstance(result, SendResult)
    assert result.attempts == ["1: 429 retry_after=1s", "2: sent"]


def test_429_pauses_only_the_chat_it_concerns() -> None:
    """While one chat waits out a 429, another chat is sent to at once."""
    api = FakeBotApi()
    api.fail_next(too_many(1), chat=111)

    async def main() -> None:
        async with sender_on(api) as sender:
            await asyncio.gather(
                sender.send(parse_target("111"), "paused"),
                sender.send(parse_target("222"), "free"),
            )

    run(main())
    first = api.calls()[0].monotonic
    arrivals = {r.params["text"]: r.monotonic - first for r in api.messages()}
    assert arrivals == pytest.approx({"free": 0.0, "paused": 1.0})


def test_bad_gateway_is_retried_after_one_backoff() -> None:
    """A 502 is temporary: sent on the next attempt, one backoff later."""
    api = FakeBotApi()
    api.fail_next(BAD_GATEWAY)
    result, took = send(api, "42", "hello")
    assert isinstance(result, SendResult)
    assert result.attempts == ["1: NetworkError: Bad Gateway", "2: sent"]
    assert api.texts() == ["hello"]
    assert took == pytest.approx(backoff(1, random.Random(SEED)))


def test_transient_failures_back_off_until_the_deadline() -> None:
    """A chat that keeps answering 502 is retried after each backoff, and fails
    temporarily (exit 75) when the next wait would pass deadline_s."""
    api = FakeBotApi()
    api.chat_faults[42] = BAD_GATEWAY
    failure, took = send(api, "42", "hello", deadline_s=5)
    waits = backoffs_within(5)
    assert gaps([call.monotonic for call in api.calls()]) == pytest.approx(waits)
    assert took == pytest.approx(sum(waits)) and took <= 5
    assert isinstance(failure, DeliveryFailure)
    assert (failure.permanent, failure.ambiguous) == (False, False)
    assert failure.error_class == "NetworkError"
    assert len(failure.attempts) == len(api.calls()) == len(waits) + 1
    assert failure.exit_code == 75


def test_retry_after_beyond_the_deadline_fails_at_once() -> None:
    """A retry_after longer than the deadline is not waited out."""
    api = FakeBotApi()
    api.fail_next(too_many(30))
    failure, took = send(api, "42", "hello", deadline_s=2)
    assert took == 0
    assert isinstance(failure, DeliveryFailure)
    assert (failure.permanent, failure.error_class) == (False, "RetryAfter")
    assert failure.text == "Flood control: retry after 30s"


def test_opening_late_backs_off_like_a_send() -> None:
    """Telegram unreachable at start-up: the first send opens the Bot, retrying
    getMe after the same backoffs as a send, and fails temporarily at the deadline."""
    api = FakeBotApi(poison="get_me")  # getMe answers, but not with a bot

    async def main() -> DeliveryFailure:
        sender = sender_on(api, deadline_s=5)
        async with contextlib.aclosing(sender):  # not started
            with pytest.raises(DeliveryFailure) as caught:
                await sender.send(parse_target("42"), "x")
        return caught.value

    failure = run(main())
    calls = api.calls("getMe")
    assert gaps([call.monotonic for call in calls]) == pytest.approx(backoffs_within(5))
    assert failure.permanent is False and "getMe" in failure.text
    assert api.calls() == []


def test_a_read_timeout_is_retried_as_ambiguous() -> None:
    """A reply slower than read_timeout may hide a delivered message: resent after
    the read timeout and one backoff."""
    api = FakeBotApi()
    api.fail_next(slow(3))  # stored, answered after 3 s
    result, took = send(api, str(GROUP), "pills", read_timeout=1)
    assert isinstance(result, SendResult)
    assert "may have arrived" in result.attempts[0]
    assert api.texts() == ["pills", "pills"]
    assert took == pytest.approx(1 + backoff(1, random.Random(SEED)))


# -- pacing ----------------------------------------------------------------------------


def test_burst_is_paced_without_429s() -> None:
    """20 private chats plus 5 sends to one chat, all at once, draw no 429: the
    private chats go at once, the one chat's sends a second (and a margin) apart."""
    api = FakeBotApi(enforce_limits=True)

    async def main() -> float:
        async with sender_on(api) as sender:
            started = now()
            sends = [sender.send(parse_target(str(1000 + n)), "a") for n in range(20)]
            sends += [sender.send(parse_target("7"), f"b{n}") for n in range(5)]
            await asyncio.gather(*sends)
            return now() - started

    took = run(main())
    assert api.flood_429s == 0
    assert len(api.messages()) == 25
    to_seven = [r.monotonic for r in api.messages() if r.params["chat_id"] == 7]
    assert gaps(to_seven) == pytest.approx([1 + MARGIN_S] * 4)
    assert took == pytest.approx(4 * (1 + MARGIN_S))


def test_queueing_behind_a_burst_does_not_use_up_the_deadline() -> None:
    """A chat refused with 429 early in a burst waits behind the other chats' sends
    for its next turn; that wait is the burst's, not its own, and does not count
    against its deadline."""
    api = FakeBotApi()
    api.fail_next(too_many(1), too_many(1), chat=1)

    async def main() -> list[Any]:
        limiter = RateLimiter(Limits(overall=(2, 1.0)), clock=now)
        async with sender_on(api, limiter=limiter, deadline_s=3) as sender:
            sends = [sender.send(parse_target(str(n)), f"m{n}") for n in range(1, 12)]
            return await asyncio.gather(*sends, return_exceptions=True)

    outcomes = run(main())
    assert all(isinstance(outcome, SendResult) for outcome in outcomes), outcomes
    assert sorted(api.texts()) == sorted(f"m{n}" for n in range(1, 12))
    chat_one = [r.monotonic for r in api.calls() if r.params["chat_id"] == 1]
    assert chat_one[-1] - chat_one[0] > 3  # longer than its deadline, and still sent


def test_group_and_overall_windows_are_held() -> None:
    """With tighter limits, a group burst and a wide burst still draw no 429."""
    api = FakeBotApi(
        enforce_limits=True, limits=FloodLimits(overall=(8, 1.0), group=(3, 1.0))
    )

    async def main() -> None:
        limiter = RateLimiter(Limits(overall=(8, 1.0), group=(3, 1.0)), clock=now)
        async with sender_on(api, limiter=limiter) as sender:
            sends = [sender.send(parse_target(str(GROUP)), f"g{n}") for n in range(7)]
            sends += [sender.send(parse_target(str(50 + n)), "p") for n in range(10)]
            await asyncio.gather(*sends)

    run(main())
    assert api.flood_429s == 0
    assert len(api.messages()) == 17
    to_group = [r.monotonic for r in api.messages() if r.params["chat_id"] == GROUP]
    assert all(
        later - earlier >= 1
        for earlier, later in zip(to_group, to_group[3:], strict=False)
    )


def test_closing_the_limiter_wakes_a_waiting_send() -> None:
    """A send waiting out a pause is woken by close() and raises Stopped then, not
    when the pause ends."""

    async def main() -> float:
        limiter = RateLimiter(clock=now)
        limiter.pause(42, 60)

        async def wait_for_turn() -> None:
            async with limiter.turn(42):
                pass

        waiting = asyncio.ensure_future(wait_for_turn())
        await asyncio.sleep(2)
        limiter.close()
        with pytest.raises(Stopped):
            await waiting
        return now() - START

    assert run(main()) == pytest.approx(2)
