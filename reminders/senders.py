"""The daemon's Telegram sender across reloads.

One sender is current; a reload that changes the Telegram or delivery settings
starts a new one on the same limiter, and the one it replaced is closed once
the sends that may still use it are done.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from reminders.config import bot_token
from reminders.errors import TransientError, Unavailable
from reminders.settings import Settings

log = logging.getLogger("reminders.daemon")


class Senders:
    def __init__(self) -> None:
        self.current: Any = None
        self._retired: list[Any] = []  # senders replaced by a reload
        self._closers: set[asyncio.Task[None]] = set()

    async def start(
        self, settings: Settings, config_path: Path, limiter: Any = None
    ) -> None:
        """Make and open the current sender; the one it replaces is the caller's
        to retire."""
        from reminders.delivery import make_sender

        if not bot_token(settings):
            log.warning(
                "No Telegram bot token: Telegram reminders will be recorded as failed "
                "until one is set (webhooks still go out). Set "
                "REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token in %s, "
                "then restart the daemon (or send it SIGHUP).",
                config_path,
            )
        self.current = make_sender(settings, limiter=limiter)
        try:
            await self.current.start()
        except (TransientError, Unavailable) as exc:
            # Not fatal: reminders still fire (a send that cannot reach Telegram is
            # recorded as failed), and each send retries the connection.
            log.warning("%s The daemon goes on and retries at each send.", exc)

    def retire_when_idle(self, sender: Any, busy: set[asyncio.Task[Any]]) -> None:
        """Close `sender` once the tasks in `busy` (which may use it) are done."""

        async def close() -> None:
            if busy:
                await asyncio.wait(busy)
            await sender.close()

        self._retired.append(sender)
        task = asyncio.create_task(close())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def stop_queued(self) -> None:
        """Sends still waiting for their turn give up at once."""
        if self.current is not None:
            self.current.limiter.close()

    async def close(self) -> None:
        """Close every sender now, the grace for sends in flight being spent."""
        for closer in list(self._closers):
            closer.cancel()
        for sender in [*self._retired, self.current]:
            if sender is not None:
                await sender.close()
