"""The Bot a Telegram sender holds open: opened with getMe (which checks the token),
opened late when Telegram was unreachable at start-up, closed at the end, and the
token kept out of every log line python-telegram-bot and httpx write meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import random

from telegram import Bot
from telegram.error import InvalidToken, TelegramError
from telegram.request import BaseRequest, HTTPXRequest

from reminders.errors import (
    ConfigError,
    DeliveryFailure,
    TransientError,
    Unavailable,
)
from reminders.logs import Redactor
from reminders.ratelimit import RateLimiter
from reminders.retry import Deadline, backoff
from reminders.telegram_replies import KeepingRequest, quiet_retry_after_warning


class BotHolder:
    """One python-telegram-bot Bot, between open() and close(), on one event loop."""

    def __init__(
        self,
        token: str | None,
        *,
        api_base_url: str,
        connect_timeout: float,
        read_timeout: float,
        attempt_s: float,
        limiter: RateLimiter,
        rng: random.Random,
        request: BaseRequest | None = None,
    ) -> None:
        self.token = token or None
        self.api_base_url = api_base_url
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._attempt_s = attempt_s
        self._limiter = limiter
        self._rng = rng
        self._request = request
        self.redactor = Redactor([self.token or ""])
        self.bot: Bot | None = None
        self._opening = asyncio.Lock()
        self._tries = 0
        self._error: ConfigError | TransientError | Unavailable | None = None

    async def open(self) -> None:
        """Open the Bot and check the token with getMe. Without a token, do nothing."""
        quiet_retry_after_warning()
        if self.token is None or self.bot is not None:
            return
        self._hide_token_from_logs()
        bot = Bot(
            self.token,
            base_url=f"{self.api_base_url}/bot",
            request=KeepingRequest(self._request or self._httpx_request()),
        )
        try:
            async with asyncio.timeout(self._attempt_s):
                await bot.initialize()
        except InvalidToken:
            await bot.shutdown()
            raise ConfigError(
                "Telegram rejected the bot token. Set a valid token from @BotFather in "
                "REMINDERS_TELEGRAM_BOT_TOKEN or telegram.bot_token in config.toml."
            ) from None
        except (TelegramError, TimeoutError) as exc:
            await bot.shutdown()
            why = str(exc) or f"no answer within {self._attempt_s:g}s"
            raise TransientError(
                f"Cannot reach the Telegram Bot API at {self.api_base_url} "
                f"({self.redactor.scrub(why)}). Check the network and "
                "telegram.api_base_url, then try again."
            ) from None
        except Exception as exc:  # a getMe answer that is not a bot: not the Bot API
            await bot.shutdown()
            raise TransientError(
                f"The Telegram Bot API at {self.api_base_url} answered getMe with "
                f"something that is not a bot ({self.redactor.scrub(repr(exc))[:200]}). "
                "Check telegram.api_base_url and any proxy in between."
            ) from None
        self.bot = bot

    def _httpx_request(self) -> HTTPXRequest:
        # The limiter lets at most `overall` requests run at once (a send waits
        # for the one `overall` places ahead of it to finish), so a pool that
        # size, with room for getMe, never makes a queued send wait for a socket.
        try:  # the client reads the environment: SSL_CERT_FILE/_DIR, *_PROXY
            return HTTPXRequest(
                connection_pool_size=self._limiter.limits.overall[0] + 8,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                write_timeout=self._read_timeout,
                pool_timeout=self._connect_timeout,
            )
        except (OSError, ImportError, ValueError, RuntimeError) as exc:
            raise Unavailable(
                f"No Telegram message can be sent from this environment "
                f"({type(exc).__name__}: {exc}"[:300]
                + "); check the SSL_CERT_FILE, SSL_CERT_DIR and *_PROXY variables "
                "it runs with."
            ) from None

    async def open_within(self, deadline_s: float) -> None:
        """Open late (Telegram was unreachable at start-up), retrying within
        `deadline_s` like a send; raise DeliveryFailure if it cannot."""
        deadline = Deadline(deadline_s, self._limiter.clock)
        deadline.start()
        failures = 0
        while True:
            try:
                await self._open_once()
                return
            except ConfigError as exc:
                raise DeliveryFailure(
                    str(exc), permanent=True, error_class="InvalidToken", text=str(exc)
                ) from None
            except Unavailable as exc:  # not retried: the environment stays as it is
                raise DeliveryFailure(
                    str(exc), permanent=False, error_class="Environment", text=str(exc)
                ) from None
            except TransientError as exc:
                failures += 1
                delay = backoff(failures, self._rng)
                if not deadline.allows(delay):
                    raise DeliveryFailure(
                        str(exc),
                        permanent=False,
                        error_class="NetworkError",
                        text=str(exc),
                    ) from None
            await self._limiter.sleep(delay)

    async def _open_once(self) -> None:
        """open(), one at a time: sends that waited while another one tried take
        its failure instead of each trying again (a thousand sends after a crash,
        Telegram down, would otherwise queue a thousand getMe calls)."""
        tried = self._tries
        async with self._opening:
            if self.bot is not None:
                return
            if self._tries != tried and self._error is not None:
                raise self._error
            self._tries += 1
            try:
                await self.open()
            except (ConfigError, TransientError, Unavailable) as exc:
                self._error = exc
                raise
            self._error = None

    def _hide_token_from_logs(self) -> None:
        """httpx logs every request URL at INFO and python-telegram-bot logs its base
        URL at DEBUG; both contain the token. Quiet httpx, and redact anyway (a
        filter only sees records of the logger it is on, so each one gets it)."""
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
        # It logs a traceback for every body that is not JSON; the attempt's line
        # on the run already says what came back.
        logging.getLogger("telegram.request.BaseRequest").setLevel(logging.CRITICAL)
        families = ("httpx", "httpcore", "telegram")
        names = [*families, "telegram.Bot"]
        names += [n for n in logging.root.manager.loggerDict if n.startswith(families)]
        for name in dict.fromkeys(names):
            logging.getLogger(name).addFilter(self.redactor)

    def _unhide(self) -> None:
        for logger in logging.root.manager.loggerDict.values():
            if isinstance(logger, logging.Logger):
                logger.removeFilter(self.redactor)

    async def close(self) -> None:
        bot, self.bot = self.bot, None
        if bot is not None:
            await bot.shutdown()
            self._unhide()
