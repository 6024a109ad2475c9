"""Pacing under Telegram's flood limits: a burst is spread out instead of drawing 429s.

Telegram lets a bot send about 30 messages a second overall, one a second to a
private chat and 20 a minute to a group or channel. python-telegram-bot's
AIORateLimiter paces the overall rate and groups but not a private chat (five sends
to one private chat went out within 0.05 s), and a 429 it retries pauses every chat.
So the limiter is ours, and small: each chat has a lane that sends one message at a
time, spaced by a sliding window and paused on its own by a 429; one more window
holds the overall rate.

Lanes of idle chats are forgotten a couple at a time as new ones are made (the
least recently used first), so upkeep stays O(1) however many chats a burst
reaches. close() refuses every turn from then on and wakes every send waiting for
one (it raises Stopped), so a stopping daemon is not held up by a queue.

Webhooks get a plainer limit, `HostLimiter`: a rate of request starts per host.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from reminders.clock import monotonic
from reminders.targets import is_group

# Sends are timed by the client, arrivals by Telegram; keep a little slack between them.
MARGIN_S = 0.05
_PRUNE_LANES_AT = 1024
_PRUNE_STEP = 2  # lanes looked at per new lane, past _PRUNE_LANES_AT
_PRUNE_HOSTS_AT = 1024


class Stopped(Exception):
    """The limiter was closed: the send never got its turn, nothing went out."""


@dataclass(frozen=True)
class Limits:
    """(messages, seconds): at most that many sends in any window that long."""

    overall: tuple[int, float] = (30, 1.0)
    private: tuple[int, float] = (1, 1.0)
    group: tuple[int, float] = (20, 60.0)


class _Window:
    """At most `count` events in any `period` seconds, from the last `count` events."""

    def __init__(self, count: int, period: float) -> None:
        self.count = count
        self.period = period + MARGIN_S
        self.times: deque[Any] = deque(maxlen=count)

    def earliest(self, now: float) -> float:
        if len(self.times) < self.count:
            return now
        oldest = self.times[0]
        return max(
            now, float(oldest[0] if isinstance(oldest, list) else oldest) + self.period
        )


@dataclass
class Turn:
    """A granted turn. Set `sent = False` when the request was refused (an error
    answer, or no connection), so it does not count against the chat's window."""

    waited: float  # seconds spent waiting for the turn
    sent: bool = True


@dataclass
class _Lane:
    window: _Window
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    paused_until: float = 0.0
    users: int = 0


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


class RateLimiter:
    """Hands out turns to send, per chat and overall. One per bot, on one event loop."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.limits = limits or Limits()
        # What the senders that share this limiter measure waits and deadlines by.
        # It must keep the event loop's time, which times the sleeps.
        self.clock = clock
        self._overall = _Window(*self.limits.overall)
        # Least recently used first.
        self._lanes: OrderedDict[int | str, _Lane] = OrderedDict()
        self.closed = False
        self._sleepers: set[asyncio.Future[None]] = set()

    def _lane(self, chat_id: int | str) -> _Lane:
        key = chat_id.lower() if isinstance(chat_id, str) else chat_id
        lane = self._lanes.get(key)
        if lane is None:
            if len(self._lanes) >= _PRUNE_LANES_AT:
                self._forget_idle_lanes(_PRUNE_STEP)
            rule = self.limits.group if is_group(chat_id) else self.limits.private
            lane = self._lanes[key] = _Lane(_Window(*rule))
        else:
            self._lanes.move_to_end(key)
        return lane

    def _forget_idle_lanes(self, count: int) -> None:
        """Look at the `count` least recently used lanes: forget the idle ones, send
        the others to the back. Each new lane pays for `count` looks, so lanes never
        outnumber the busy ones by more than _PRUNE_LANES_AT for long."""
        now = self.clock()
        for _ in range(min(count, len(self._lanes))):
            key, lane = next(iter(self._lanes.items()))
            idle = lane.users == 0 and lane.paused_until <= now
            if idle and lane.window.earliest(now) <= now:
                del self._lanes[key]
            else:
                self._lanes.move_to_end(key)

    @property
    def lane_count(self) -> int:
        return len(self._lanes)

    def close(self) -> None:
        """Refuse turns from now on and wake every send waiting for one."""
        self.closed = True
        for sleeper in self._sleepers:
            if not sleeper.done():
                sleeper.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Sleep, unless the limiter closes first: then raise Stopped."""
        if self.closed:
            raise Stopped
        if seconds > 0:
            loop = asyncio.get_running_loop()
            sleeper = loop.create_future()
            timer = loop.call_later(seconds, _wake, sleeper)
            self._sleepers.add(sleeper)
            try:
                await sleeper
            finally:
                timer.cancel()
                self._sleepers.discard(sleeper)
        if self.closed:
            raise Stopped

    async def _sleep_until(self, moment: float) -> None:
        await self.sleep(moment - self.clock())

    @contextlib.asynccontextmanager
    async def turn(self, chat_id: int | str) -> AsyncIterator[Turn]:
        """Wait until `chat_id` may be sent to, hold its lane while the request runs.

        A chat's window counts the moment each request finished, which is after
        Telegram received it, so the spacing Telegram sees is never shorter than the
        window's.
        """
        if self.closed:
            raise Stopped
        lane = self._lane(chat_id)
        lane.users += 1
        started = self.clock()
        try:
            async with lane.lock:
                now = self.clock()
                await self._sleep_until(
                    max(lane.paused_until, lane.window.earliest(now))
                )
                # The overall window holds one cell per send: its start, moved to
                # its end once it completes. The send that must wait for the
                # oldest cell also waits for that send to finish, so Telegram
                # never sees more than `count` arrivals in one period, however
                # requests bunch up on the way.
                overall = self._overall
                gate = overall.times[0] if len(overall.times) == overall.count else None
                cell = [overall.earliest(self.clock())]
                overall.times.append(cell)
                await self._sleep_until(cell[0])
                while gate is not None and self.clock() < gate[0] + overall.period:
                    await self._sleep_until(gate[0] + overall.period)
                turn = Turn(self.clock() - started)
                try:
                    yield turn
                finally:
                    cell[0] = max(cell[0], self.clock())
                    if turn.sent:
                        lane.window.times.append(self.clock())
        finally:
            lane.users -= 1

    def pause(self, chat_id: int | str, seconds: float) -> None:
        """Hold every send to `chat_id` for `seconds` (Telegram's retry_after)."""
        lane = self._lane(chat_id)
        lane.paused_until = max(lane.paused_until, self.clock() + seconds)


# -- webhooks -----------------------------------------------------------------------


class HostLimiter:
    """At most `rate` requests started per second to one host; hosts do not wait
    for each other, and a slow answer does not hold up the next request."""

    def __init__(self, rate: int = 10, period_s: float = 1.0) -> None:
        self.rate = rate
        # Starts are timed here, arrivals by the receiver: keep a little slack.
        self.period_s = period_s + 0.05
        self._starts: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        if len(self._starts) > _PRUNE_HOSTS_AT:
            self._prune(loop.time())
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:
            starts = self._starts.setdefault(host, deque(maxlen=self.rate))
            if len(starts) == self.rate:
                delay = starts[0] + self.period_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            starts.append(loop.time())

    def _prune(self, now: float) -> None:
        for host, starts in list(self._starts.items()):
            lock = self._locks.get(host)
            idle = not starts or starts[-1] + self.period_s < now
            if idle and (lock is None or not lock.locked()):
                self._starts.pop(host, None)
                self._locks.pop(host, None)
