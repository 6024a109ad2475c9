"""Webhook delivery under the Standard Webhooks convention (standardwebhooks.com).

A webhook reminder is POSTed as JSON to the URL in `delivery.to`, with the headers
`webhook-id` (the same for every attempt of one run, so a receiver can drop a
resend), `webhook-timestamp` (Unix seconds) and, when `delivery.webhook_secret` is
set, `webhook-signature`: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`
(all three made in `reminders.webhook_event`).

Outcomes follow the Telegram sender's: a 2xx is sent; 429, 5xx, timeouts and
connection failures are retried with backoff and jitter within the delivery
deadline, honouring Retry-After; any other answer (4xx, a redirect) fails at once;
a request cut off after it went out is ambiguous and follows
`delivery.on_ambiguous`. The secret is never logged, and logs name the receiver's
host, not its URL (URLs often carry tokens).

httpx is imported only when a webhook is sent, so the CLI stays quick to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from reminders.config import decode_secret
from reminders.errors import DeliveryFailure, ValidationError
from reminders.ratelimit import HostLimiter
from reminders.retry import Deadline, backoff
from reminders.targets import parse_webhook_url
from reminders.webhook_event import event_body, message_id, sign

if TYPE_CHECKING:
    import httpx

    from reminders.schema import Reminder, Run

log = logging.getLogger(__name__)

ERROR_BODY_CHARS = 200
_READ_AT_MOST = 4096  # bytes of an answer's body kept, for the error text
_RETRY_AFTER_CAP_S = 1e9  # past any deadline; keeps "9" * 400 from becoming inf


# -- the sender ---------------------------------------------------------------------


@dataclass
class WebhookResult:
    """A delivered webhook: the receiver's status code and one line per attempt."""

    status: int
    host: str
    attempts: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        note = f"webhook {self.host} answered HTTP {self.status}"
        if len(self.attempts) > 1:
            note += "; attempts: " + "; ".join(self.attempts)
        return note


@dataclass
class _Try:
    """What one delivery has learned so far."""

    host: str
    deadline: Deadline
    attempts: list[str] = field(default_factory=list)
    failures: int = 0
    last_error: tuple[str, str] = ("NetworkError", "no answer")
    answered: int | None = None  # the status of this attempt, once its head is in


class WebhookSender:
    """POSTs reminders to webhooks. Holds no connection between sends, so it needs
    no start or close; one per daemon (or `reminders run`), for the host limits."""

    def __init__(
        self,
        secret: str = "",
        *,
        clock: Any,
        timeout_s: float = 10.0,
        deadline_s: float = 120.0,
        on_ambiguous: Literal["resend", "skip"] | str = "resend",
        rate: int = 10,
        rng: random.Random | None = None,
    ) -> None:
        if secret:
            decode_secret(secret)
        self._secret = secret
        self.clock = clock
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.on_ambiguous = on_ambiguous
        self.limiter = HostLimiter(rate)
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self._tls: Any = None  # one TLS context for every request (it takes ~0.1 s)
        self._tls_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the secret
        signed = "signed" if self._secret else "unsigned"
        return f"WebhookSender({signed}, timeout_s={self.timeout_s:g})"

    @property
    def signs(self) -> bool:
        return bool(self._secret)

    def headers(self, msg_id: str, body: bytes) -> dict[str, str]:
        """The Standard Webhooks headers for one attempt, timestamped now."""
        stamp = self.clock.now_ms() // 1000
        headers = {
            "content-type": "application/json",
            "user-agent": "reminders",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
        }
        if self._secret:
            headers["webhook-signature"] = sign(self._secret, msg_id, stamp, body)
        return headers

    async def _tls_context(self) -> Any:
        """The TLS context, built once off the event loop: a burst of first sends
        waits for one build instead of filling the thread pool (which the
        database's reads and writes share) with one build each."""
        import httpx

        async with self._tls_lock:
            if self._tls is None:
                self._tls = await asyncio.to_thread(httpx.create_ssl_context)
        return self._tls

    async def deliver(self, reminder: Reminder, run: Run) -> WebhookResult:
        """POST the run's event until a 2xx; raise DeliveryFailure otherwise, or
        ValidationError when the reminder's URL is not usable."""
        import httpx

        url = parse_webhook_url(reminder.webhook_url)
        state = _Try(urlsplit(url).hostname or "?", Deadline(self.deadline_s))
        msg_id = message_id(reminder.id, run.scheduledForMs)
        body = event_body(reminder, run)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs full URLs
        # Connecting gets less than the whole request's time, so a host that does
        # not answer is known not to have the reminder (safe to retry).
        timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s / 2))

        async def answered(response: httpx.Response) -> None:
            state.answered = response.status_code

        try:  # both read the environment: SSL_CERT_FILE/_DIR, *_PROXY
            client = httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=False,
                verify=await self._tls_context(),
                event_hooks={"response": [answered]},
            )
        except (OSError, ImportError, ValueError) as exc:
            raise _unusable_environment(state, exc) from None
        async with client:
            while True:
                await self.limiter.wait(state.host)
                state.answered = None
                try:
                    wait = await self._attempt(client, state, url, msg_id, body)
                except (httpx.InvalidURL, UnicodeError) as exc:  # a bad IDNA host
                    raise ValidationError(
                        f"The webhook URL of {reminder.name!r} cannot be used ({exc})."
                    ) from None
                if isinstance(wait, WebhookResult):
                    return wait
                self._check_deadline(state, wait)
                await asyncio.sleep(wait)

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        state: _Try,
        url: str,
        msg_id: str,
        body: bytes,
    ) -> WebhookResult | float:
        """One request: the result, or how long to wait before the next one."""
        import httpx

        number = len(state.attempts) + 1
        # httpx times each phase; this bounds the whole request, so a receiver
        # that answers a byte at a time cannot hold a run.
        ends = asyncio.get_running_loop().time() + self.timeout_s
        try:
            async with asyncio.timeout_at(ends):
                request = client.build_request(
                    "POST", url, content=body, headers=self.headers(msg_id, body)
                )
                response = await client.send(request, stream=True)
        except (httpx.RequestError, TimeoutError) as exc:
            if state.answered is not None:  # a 3xx whose Location httpx cannot parse
                state.attempts.append(f"{number}: HTTP {state.answered}")
                raise self._refused(state, state.answered, "", None) from None
            maybe_sent = _maybe_sent(exc)
            what = _describe(exc, self.timeout_s)
            state.attempts.append(f"{number}: {what}")
            log.info("webhook to %s, attempt %d: %s", state.host, number, what)
            if maybe_sent and self.on_ambiguous == "skip":
                raise self._ambiguous(state, what) from None
            state.last_error = ("NetworkError", what)
            return self._backoff(state)
        try:  # the status is in: a body cut short or dribbled out does not undo it
            head = b"" if response.is_success else await _read_head(response, ends)
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):  # a socket to drop, not a wait
                    await response.aclose()
        status = response.status_code
        state.attempts.append(f"{number}: HTTP {status}")
        log.info("webhook to %s, attempt %d: HTTP %d", state.host, number, status)
        if 200 <= status < 300:
            return WebhookResult(status, state.host, state.attempts)
        text = _snippet(head)
        if status == 429 or 500 <= status < 600:
            asked = _retry_after(response.headers.get("retry-after"), self.clock)
            if asked is not None and asked > self.deadline_s:  # why it gives up now
                text = f"asked to wait {asked:.0f}s" + (f"; {text}" if text else "")
            state.last_error = (f"HTTP{status}", _status_text(status, text))
            return max(asked or 0.0, self._backoff(state))  # at least as asked
        raise self._refused(state, status, text, response.headers.get("location"))

    def _backoff(self, state: _Try) -> float:
        state.failures += 1
        return backoff(state.failures, self._rng)

    def _check_deadline(self, state: _Try, wait: float) -> None:
        """Give up for this run if waiting `wait` more seconds passes the deadline."""
        if state.deadline.allows(wait):
            return
        error_class, text = state.last_error
        raise _failure(
            f"The webhook at {state.host} did not take the reminder within "
            f"{self.deadline_s:g}s ({text}). It is tried again at its next run; "
            "check that the receiver is up.",
            state,
            error_class=error_class,
            text=text,
            permanent=False,
        )

    def _ambiguous(self, state: _Try, what: str) -> DeliveryFailure:
        text = f"{what}; the receiver may have it"
        return _failure(
            f"The webhook at {state.host} may or may not have the reminder ({what}); "
            'it is not resent because delivery.on_ambiguous = "skip".',
            state,
            error_class="AmbiguousSend",
            text=text,
            permanent=True,
            ambiguous=True,
        )

    def _refused(
        self, state: _Try, status: int, text: str, location: str | None
    ) -> DeliveryFailure:
        if 300 <= status < 400:
            where = urlsplit(location or "").hostname or "elsewhere"
            text = f"HTTP {status} redirect to {where}, not followed"
            fix = "Give the final URL: `reminders edit ID --webhook URL`."
        else:
            text = _status_text(status, text)
            fix = "Fix the receiver or the URL, then run the reminder again."
        return _failure(
            f"The webhook at {state.host} refused the reminder: {text}. {fix}",
            state,
            error_class=f"HTTP{status}",
            text=text,
            permanent=True,
        )


def _unusable_environment(state: _Try, exc: Exception) -> DeliveryFailure:
    text = (
        f"{type(exc).__name__}: {exc}"[:ERROR_BODY_CHARS]
        + "; check the SSL_CERT_FILE, SSL_CERT_DIR and *_PROXY variables"
    )
    return _failure(
        f"No webhook can be sent from this environment ({text} it runs with).",
        state,
        error_class="Environment",
        text=text,
        permanent=False,
    )


def _failure(message: str, state: _Try, **kind: Any) -> DeliveryFailure:
    """A DeliveryFailure carrying every attempt; `kind` holds its error_class, text,
    permanent and ambiguous."""
    return DeliveryFailure(message, attempts=list(state.attempts), **kind)


async def _read_head(response: httpx.Response, ends: float) -> bytes:
    """The start of the answer's body (enough for an error text), however big it is,
    as much of it as came before the connection broke or the request's time ran out."""
    import httpx

    head = b""
    try:
        async with asyncio.timeout_at(ends):
            async for chunk in response.aiter_raw():
                head += chunk
                if len(head) >= _READ_AT_MOST:
                    break
    except (httpx.HTTPError, TimeoutError):
        pass
    return head[:_READ_AT_MOST]


def _snippet(head: bytes) -> str:
    text = " ".join(head.decode("utf-8", "replace").split())
    return text[:ERROR_BODY_CHARS]


def _status_text(status: int, body: str) -> str:
    return f"HTTP {status}" + (f": {body}" if body else "")


def _maybe_sent(exc: Exception) -> bool:
    """Did the request go out before it failed (so the receiver may have it)?"""
    import httpx

    not_sent = (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.WriteError,
        httpx.WriteTimeout,
        httpx.UnsupportedProtocol,
    )
    return not isinstance(exc, not_sent)


def _describe(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g}s"
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {detail}"[:ERROR_BODY_CHARS]


def _retry_after(value: str | None, clock: Any) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date; None if absent."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # not str.isdigit alone: it takes "²"
        return min(float(text), _RETRY_AFTER_CAP_S)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - float(clock.now_ms()) / 1000)


def make_webhook_sender(settings: Any, clock: Any) -> WebhookSender:
    """A webhook sender configured from the settings (the daemon's and the CLI's)."""
    from reminders.timeparse import parse_duration

    delivery = settings.delivery
    return WebhookSender(
        delivery.webhook_secret,
        clock=clock,
        timeout_s=delivery.webhook_timeout,
        deadline_s=parse_duration(delivery.deadline) / 1000,
        on_ambiguous=delivery.on_ambiguous,
        rate=delivery.webhook_rate,
    )
