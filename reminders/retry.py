"""Waiting between attempts, for every sender: one backoff with jitter, and the
deadline that all the retries of one delivery share.

Both take time from a clock function (`reminders.clock.monotonic` unless one is
handed in), so the same rules run on a fake clock in tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from reminders.clock import monotonic

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0


def backoff(failures: int, rng: random.Random) -> float:
    """Seconds to wait after `failures` failures in a row (1 or more): exponential
    with jitter, 0.25-0.5 s, then 0.5-1 s, 1-2 s, ... up to 15-30 s."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (max(1, failures) - 1))
    return rng.uniform(ceiling / 2, ceiling)


@dataclass
class Deadline:
    """At most `seconds` of retrying, from the first failure (or from `start()`)."""

    seconds: float
    clock: Callable[[], float] = monotonic
    started: float | None = None

    def start(self) -> None:
        """Count from now, if not counting already."""
        if self.started is None:
            self.started = self.clock()

    def allows(self, wait: float) -> bool:
        """May the delivery wait `wait` more seconds and try again? Starts the count
        at the first question."""
        self.start()
        assert self.started is not None
        return self.clock() + wait <= self.started + self.seconds

    def credit(self, seconds: float) -> None:
        """Give back `seconds` that were not this delivery's own waiting."""
        if self.started is not None:
            self.started += seconds
