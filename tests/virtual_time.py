"""An event loop on a fake clock: whenever every task waits for a timer, the clock
jumps to the next timer at once. Sleeps, timeouts and `loop.time()` all run on it,
so a test of waits and deadlines takes no real time and gives the same timings on
any machine.

It suits code that does no real I/O (a sender on `FakeBotApi.in_process()`, the
rate limiter); a socket or a thread may be left behind by the jumps.

    result = run(main())            # main() sees asyncio.get_running_loop().time()
    limiter = RateLimiter(clock=now)
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

START = 1000.0  # where the fake clock starts: any value would do


class _JumpingSelector(selectors.DefaultSelector):
    """Waits for nothing: what would be a wait for a timer moves the clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only real I/O (a thread) can wake it
            return super().select(None)
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run() on the fake clock."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)


def now() -> float:
    """The running loop's clock (the fake one under run())."""
    return asyncio.get_running_loop().time()
