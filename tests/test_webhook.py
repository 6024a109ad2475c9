"""Webhook reminders, driven through the CLI against a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from reminders.clock import FakeClock, SystemClock
from reminders.schema import Reminder, Run
from reminders.webhook import WebhookSender
from tests.conftest import Cli, Setup, db_rows, wait_until
from tests.fake_webhook import DROP, Answer, Cut, FakeWebhook, Slow

pytestmark = pytest.mark.engines("sqlite", "postgresql")

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
NOW_MS = 1795514400000  # 2026-11-24T10:00:00Z


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as server:
        yield server


def configure(home: Path, *, secret: str = SECRET, **delivery: str) -> None:
    settings = {"deadline": '"5s"', "webhook_timeout": "2", **delivery}
    if secret:
        settings["webhook_secret"] = f'"{secret}"'
    lines = [f"{key} = {value}" for key, value in settings.items()]
    (home / "config.toml").write_text("[delivery]\n" + "\n".join(lines) + "\n")


def add_webhook(run: Cli, url: str, text: str = "Stand up", **kw: Any) -> str:
    added = run.json(
        "add", "--name", "Standup", "--every", "1h", "--message", text,
        "--webhook", url, **kw,
    )  # fmt: skip
    return str(added["id"])


def fire(run: Cli, reminder_id: str, code: int = 0, **kw: Any) -> dict[str, Any]:
    """`reminders run ID --json`, then the run as `reminders runs` records it."""
    run("run", reminder_id, "--json", code=code, **kw)
    runs = run.json("runs", reminder_id, **kw)
    assert len(runs) == 1, runs
    return dict(runs[0])


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written out as the spec gives it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


def test_signed_event_verifies_and_says_what_fired(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """The POST carries the reminder.fired event, signed as the spec says."""
    configure(home)
    clock = FakeClock(NOW_MS)
    reminder_id = add_webhook(run, hook.url(), "café ☕ at 10", clock=clock)
    done = fire(run, reminder_id, clock=clock)
    assert done["status"] == "sent" and done["attempts"] == 1
    assert "answered HTTP 200" in done["note"]
    [request] = hook.requests
    headers, body = request.headers, request.body
    assert headers["content-type"] == "application/json"
    assert headers["webhook-timestamp"] == str(NOW_MS // 1000)
    assert headers["webhook-id"].startswith("msg_")
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, body.replace(b"10", b"11"))
    event = json.loads(body)
    assert event == {
        "type": "reminder.fired",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "data": {
            "id": reminder_id,
            "name": "Standup",
            "text": "café ☕ at 10",
            "scheduledFor": "2026-11-24T10:00:00.000Z",
            "firedAt": "2026-11-24T10:00:00.000Z",
            "runId": done["id"],
        },
    }


def test_the_standard_webhooks_library_accepts_our_requests(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """A receiver using the spec's own library verifies the request on the real clock,
    and rejects it once the body is changed."""
    from standardwebhooks import Webhook, WebhookVerificationError

    configure(home)
    reminder_id = add_webhook(run, hook.url(), "verify me ✓")
    assert fire(run, reminder_id)["status"] == "sent"
    [request] = hook.requests
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["type"] == "reminder.fired" and event["data"]["text"] == "verify me ✓"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body + b" ", request.headers)


def test_without_a_secret_the_request_is_unsigned_and_doctor_warns(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """No delivery.webhook_secret: no signature header, and `doctor` says so."""
    configure(home, secret="")
    reminder_id = add_webhook(run, hook.url())
    assert fire(run, reminder_id)["status"] == "sent"
    assert "webhook-signature" not in hook.requests[0].headers
    assert "webhook-id" in hook.requests[0].headers
    lines = run("doctor", code=None).stdout.splitlines()
    [line] = [line for line in lines if line.split()[1:2] == ["webhooks"]]
    assert line.startswith("WARN") and "unsigned" in line and "webhook_secret" in line
    configure(home)
    lines = run("doctor", code=None).stdout.splitlines()
    [line] = [line for line in lines if line.split()[1:2] == ["webhooks"]]
    assert line.startswith("ok") and "signed" in line


@pytest.mark.slow
def test_503_is_retried_until_it_is_taken(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """Two 503s (one with Retry-After) then 200: one sent run, every attempt on it,
    the same webhook-id and body each time, and the Retry-After wait kept."""
    configure(home)
    hook.script = [Answer(503, headers={"retry-after": "1"}), Answer(503), Answer(200)]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id)
    assert done["status"] == "sent" and done["attempts"] == 3
    assert "1: HTTP 503; 2: HTTP 503; 3: HTTP 200" in done["note"]
    first, second, third = hook.requests
    assert first.headers["webhook-id"] == third.headers["webhook-id"]
    assert first.body == second.body == third.body
    assert second.at - first.at >= 1.0  # Retry-After: 1
    assert all(verify(SECRET, r.headers, r.body) for r in hook.requests)


@pytest.mark.slow
def test_429_waits_until_the_date_retry_after_gives(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """Retry-After as an HTTP date is read against our clock, and waited for."""
    configure(home)
    clock = FakeClock(NOW_MS)
    hook.script = [Answer(429, headers={"retry-after": format_datetime(
        datetime.fromtimestamp(NOW_MS / 1000 + 2, UTC), usegmt=True
    )})]  # fmt: skip
    reminder_id = add_webhook(run, hook.url(), clock=clock)
    done = fire(run, reminder_id, clock=clock)
    assert done["status"] == "sent" and "1: HTTP 429; 2: HTTP 200" in done["note"]
    first, second = hook.requests
    assert second.at - first.at >= 2.0


def test_400_fails_at_once_with_the_answer_on_the_run(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """A 4xx other than 429 is not retried; its status and body start are kept."""
    configure(home)
    hook.script = [Answer(400, b"bad payload: " + b"x" * 500)]
    reminder_id = add_webhook(run, hook.url())
    result = run("run", reminder_id, code=69)
    assert "HTTP 400" in result.stderr
    [done] = run.json("runs", reminder_id)
    assert done["status"] == "failed" and done["errorClass"] == "HTTP400"
    assert done["errorText"] == "HTTP 400: " + ("bad payload: " + "x" * 500)[:200]
    assert len(hook.requests) == 1


def test_redirects_are_not_followed(run: Cli, home: Path, hook: FakeWebhook) -> None:
    """A 3xx fails the run with where it pointed; the other URL is never called."""
    configure(home)
    hook.script = [Answer(307, headers={"location": hook.url("/elsewhere")})]
    reminder_id = add_webhook(run, hook.url())
    run("run", reminder_id, code=69)
    [done] = run.json("runs", reminder_id)
    assert done["errorText"] == "HTTP 307 redirect to 127.0.0.1, not followed"
    assert [r.path for r in hook.requests] == ["/hook"]


@pytest.mark.parametrize(
    ("on_ambiguous", "status", "requests"),
    [
        pytest.param("resend", "sent", 2, marks=pytest.mark.slow),  # waits a backoff
        ("skip", "failed", 1),
    ],
)
def test_connection_dropped_after_the_body_follows_on_ambiguous(
    run: Cli,
    home: Path,
    hook: FakeWebhook,
    on_ambiguous: str,
    status: str,
    requests: int,
) -> None:
    """The receiver read the request and hung up: resend (same webhook-id) or skip."""
    configure(home, on_ambiguous=f'"{on_ambiguous}"')
    hook.script = [DROP]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id, code=0 if status == "sent" else 69)
    assert done["status"] == status
    assert len(hook.requests) == requests
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1
    if status == "failed":
        assert done["errorClass"] == "AmbiguousSend"
        assert "may have it" in done["errorText"]


@pytest.mark.slow
def test_no_answer_within_the_timeout_is_ambiguous(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """A receiver that took the request but answers after webhook_timeout: the
    attempt is cut off, counted as maybe delivered, and resent (the default)."""
    configure(home, webhook_timeout="1")
    hook.script = [Slow(3)]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id)
    assert done["status"] == "sent" and done["attempts"] == 2
    assert "1: no answer within 1s" in done["note"]
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1


@pytest.mark.slow
def test_unreachable_receiver_gives_up_at_the_deadline(run: Cli, home: Path) -> None:
    """Connection refused is retried within delivery.deadline, then the run fails;
    `run` exits 75 (temporary: try again later), as for an unreachable Telegram."""
    configure(home, deadline='"1s"')
    reminder_id = add_webhook(run, "http://127.0.0.1:9/hook")
    result = run("run", reminder_id, code=75)
    assert "did not take the reminder" in result.stderr or "NetworkError" in (
        result.stderr
    )
    [done] = run.json("runs", reminder_id)
    assert done["status"] == "failed" and done["attempts"] >= 2
    assert "ConnectError" in done["errorText"]


def test_add_checks_the_url_and_refuses_mixed_targets(run: Cli, home: Path) -> None:
    """--webhook takes only http(s) URLs, not together with --to; plain http to
    another machine is accepted with a warning."""
    before = db_rows(home)
    base = ("add", "--every", "1h", "--message", "m")
    bad = run(*base, "--webhook", "ftp://example.com/x", code=65)
    assert "http:// or https://" in bad.stderr
    assert "not a webhook URL" in run(*base, "--webhook", "http://[::1", code=65).stderr
    both = run(*base, "--webhook", "https://example.com/h", "--to", "1", code=65)
    assert len(both.stderr.strip().splitlines()) == 1 and "--to" in both.stderr
    assert db_rows(home) == before
    plain = run(*base, "--webhook", "http://example.com/h", "--json")
    assert "plain http" in plain.stderr
    assert json.loads(plain.stdout)["delivery"] == {
        "mode": "webhook",
        "to": "http://example.com/h",
    }
    local = run(*base, "--webhook", "http://localhost:8080/h")
    assert "plain http" not in local.stderr
    reminder_id = json.loads(plain.stdout)["id"]
    switched = run.json("edit", reminder_id, "--to", "42")
    assert switched["delivery"] == {
        "mode": "announce",
        "channel": "telegram",
        "to": "42",
    }
    back = run.json("edit", reminder_id, "--webhook", "https://example.com/h")
    assert back["delivery"] == {"mode": "webhook", "to": "https://example.com/h"}


def test_config_init_writes_a_secret_it_never_prints(run: Cli, home: Path) -> None:
    """`config init` puts a whsec_ secret in the file; show and init print it masked."""
    out = run("config", "init").stdout
    text = (home / "config.toml").read_text()
    [line] = [line for line in text.splitlines() if line.startswith("webhook_secret")]
    secret = line.split('"')[1]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    shown = run("config", "show").stdout + run("config", "show", "--json").stdout
    assert secret not in out and secret not in shown
    assert secret[:4] + "…" in shown
    assert secret not in run("config", "init", "--print").stdout


def test_a_bad_secret_is_a_config_error(run: Cli, home: Path) -> None:
    """A secret that is not whsec_ + base64 is refused with exit 78, not echoed."""
    configure(home, secret="whsec_not*base64")
    result = run("config", "check", code=78)
    assert "webhook_secret" in result.stderr and "not*base64" not in result.stderr


def reminder(hook: FakeWebhook, number: int) -> tuple[Reminder, Run]:
    """Webhook reminder `r<number>` to the receiver, and a run of it being sent."""
    item = Reminder.model_validate(
        {
            "id": f"r{number}",
            "name": "r",
            "createdAtMs": NOW_MS,
            "updatedAtMs": NOW_MS,
            "schedule": {"kind": "every", "everyMs": 60_000},
            "payload": {"kind": "systemEvent", "text": "x"},
            "delivery": {"mode": "webhook", "to": hook.url()},
        }
    )
    run = Run(id=number, reminderId=item.id, scheduledForMs=NOW_MS, status="sending")
    return item, run


@pytest.mark.slow
def test_requests_to_one_host_are_paced(hook: FakeWebhook) -> None:
    """With a rate of 3 a second, the fourth request to a host waits for the
    first one's second to pass: the burst is spread out, not refused. (Arrivals are
    timed at the receiver, so the first request's connection set-up is allowed for.)"""
    sender = WebhookSender(SECRET, clock=SystemClock(), rate=3)

    async def burst() -> None:
        await asyncio.gather(*(sender.deliver(*reminder(hook, n)) for n in range(4)))

    asyncio.run(burst())
    starts = sorted(request.at for request in hook.requests)
    assert len(starts) == 4 and starts[3] - starts[0] >= 0.5


def test_a_burst_of_first_sends_builds_one_tls_context(
    hook: FakeWebhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty webhooks going out at once share one TLS context: each build takes a
    worker thread for ~0.1 s, and the database's reads and writes (Telegram's
    claims and records among them) wait behind every one of them."""
    import httpx

    built: list[object] = []
    real = httpx.create_ssl_context

    def counted() -> object:
        built.append(real())
        return built[-1]

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    sender = WebhookSender(SECRET, clock=SystemClock(), rate=100)

    async def burst() -> list[int]:
        sends = (sender.deliver(*reminder(hook, n)) for n in range(20))
        return [result.status for result in await asyncio.gather(*sends)]

    assert asyncio.run(burst()) == [200] * 20
    assert len(hook.requests) == 20 and len(built) == 1


@pytest.mark.slow
def test_slow_receiver_does_not_delay_telegram(setup: Setup, hook: FakeWebhook) -> None:
    """A receiver that takes 15 s to answer holds up only its own reminder: Telegram
    reminders due at the same time, and a second later, arrive while it waits."""
    config = setup.home / "config.toml"
    config.write_text(
        config.read_text().replace(
            "[delivery]\n",
            f'[delivery]\nwebhook_secret = "{SECRET}"\nwebhook_timeout = 30\n',
        )
    )
    hook.script = [Slow(15)]
    daemon = setup.start()
    due = int(time.time()) + 4
    at = datetime.fromtimestamp(due, UTC).isoformat()
    then = datetime.fromtimestamp(due + 1, UTC).isoformat()
    slow = setup.cli_json(
        "add", "--at", at, "--message", "hook", "--webhook", hook.url()
    )
    setup.cli("add", "--at", at, "--message", "same time", "--to", "5")
    setup.cli("add", "--at", then, "--message", "a second later", "--to", "5")
    wait_until(lambda: len(setup.api.messages()) == 2, timeout=20)
    messages = {m.params["text"]: m.monotonic for m in setup.api.messages()}
    [request] = hook.requests
    assert request.at < messages["a second later"]
    assert request.answered_at is None  # still waiting for the slow receiver
    run = finished_run(setup, slow["id"], timeout=30)
    assert run["status"] == "sent" and "answered HTTP 200" in run["note"]
    assert request.answered_at is not None
    assert max(messages.values()) < request.answered_at
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["kill", "sigterm"])
def test_send_cut_off_by_a_crash_is_resent_with_the_same_id(
    setup: Setup, hook: FakeWebhook, stop: str
) -> None:
    """The daemon is killed, or told to stop and the receiver outlasts the stop
    grace, while the receiver holds the request: a SIGTERM still exits 0; on
    restart the run is resent once, with the same webhook-id and body, and
    recorded sent."""
    webhook_config(setup, webhook_timeout="120", deadline='"5m"')
    hook.script = [Slow(120)]
    first = setup.start()
    added = setup.cli_json(
        "add", "--at", "2s", "--message", "m", "--webhook", hook.url()
    )
    wait_until(lambda: hook.requests, timeout=20)
    if stop == "kill":
        first.proc.kill()
        first.wait()
    else:
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    assert [r["status"] for r in setup.runs(added["id"])] == ["sending"]
    second = setup.start()
    wait_until(lambda: len(hook.requests) == 2, timeout=20)
    run = finished_run(setup, added["id"])
    assert run["status"] == "sent" and "resent after the daemon stopped" in run["note"]
    held, resent = hook.requests
    assert held.headers["webhook-id"] == resent.headers["webhook-id"]
    assert held.body == resent.body and verify(SECRET, resent.headers, resent.body)
    assert SECRET.removeprefix("whsec_") not in first.log + second.log
    second.signal(signal.SIGTERM)
    assert second.wait() == 0


def test_an_agent_can_add_a_webhook_reminder_through_the_cron_tool(home: Path) -> None:
    """OpenClaw's cron tool takes webhook delivery as `add --webhook` does, and
    refuses a URL that is not http(s) with the same line."""
    from tests.test_cron_tool import cron, job

    url = "https://example.com/hooks/r"
    [added, refused] = cron(
        [
            {"action": "add", "job": job(delivery={"mode": "webhook", "to": url})},
            {"action": "add", "job": job(delivery={"mode": "webhook", "to": "x"})},
        ]
    )
    assert added["delivery"] == {"mode": "webhook", "to": url}
    assert refused.startswith("Error: 'x' is not a webhook URL")


@pytest.mark.slow
def test_retry_after_that_is_no_plain_number_is_ignored(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """A Retry-After of "²" (a digit to str.isdigit, not to float) is not a wait:
    the 429 is retried after the usual backoff and the run is sent."""
    configure(home)
    hook.script = [Answer(429, headers={"retry-after": "²"}), Answer(200)]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id)
    assert done["status"] == "sent" and "1: HTTP 429; 2: HTTP 200" in done["note"]


@pytest.mark.parametrize("wait", ["1000000000", "9" * 400])
def test_a_retry_after_past_the_deadline_fails_at_once_saying_so(
    run: Cli, home: Path, hook: FakeWebhook, wait: str
) -> None:
    """A 429 asking for a wait longer than delivery.deadline is not waited for:
    the run fails at once (to be tried at the next run) and says what was asked."""
    configure(home)
    hook.script = [Answer(503, b"busy", headers={"retry-after": wait})]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id, code=69)
    assert done["status"] == "failed" and done["errorClass"] == "HTTP503"
    assert done["errorText"].startswith("HTTP 503: asked to wait ")
    assert done["errorText"].endswith("s; busy") and len(hook.requests) == 1


def test_a_refusal_whose_body_is_cut_off_still_fails_at_once(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """A 400 that hangs up halfway through its body is still a 400: failed at once
    with what came of the body, not retried as a broken connection."""
    configure(home)
    hook.script = [Cut(400, b"no such hook")]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id, code=69)
    assert done["status"] == "failed" and done["errorClass"] == "HTTP400"
    assert done["errorText"] == "HTTP 400: no such hook"
    assert len(hook.requests) == 1


@pytest.mark.parametrize("status", [600, 999])
def test_a_status_past_599_is_refused_not_retried(
    run: Cli, home: Path, hook: FakeWebhook, status: int
) -> None:
    """Only 429 and 500-599 ask for a retry; a status HTTP does not define fails."""
    configure(home)
    hook.script = [Answer(status, b"what")]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id, code=69)
    assert done["status"] == "failed" and done["errorClass"] == f"HTTP{status}"
    assert len(hook.requests) == 1


def test_a_redirect_to_a_broken_location_is_refused_not_retried(
    run: Cli, home: Path, hook: FakeWebhook
) -> None:
    """A 302 whose Location is not a URL is still a redirect: failed at once."""
    configure(home)
    hook.script = [Answer(302, headers={"location": "http://[::1"})]
    reminder_id = add_webhook(run, hook.url())
    done = fire(run, reminder_id, code=69)
    assert done["status"] == "failed" and done["errorClass"] == "HTTP302"
    assert "not followed" in done["errorText"]
    assert len(hook.requests) == 1


def test_a_host_name_that_is_not_valid_idna_fails_the_run(run: Cli, home: Path) -> None:
    """`xn--zz.com` looks like a host name but no IDNA codec takes it: the run
    fails with a line naming the fix, instead of staying `sending`."""
    configure(home)
    reminder_id = add_webhook(run, "https://xn--zz.com/hook")
    result = run("run", reminder_id, code=None)
    assert result.exit_code != 70 and "--webhook URL" in result.stderr
    [done] = run.json("runs", reminder_id)
    assert done["status"] == "failed" and done["errorClass"] == "NoTarget"


@pytest.mark.parametrize(
    "url",
    [
        "https://☃.example/hook",
        "https://bob:hunter2@exa\u200bmple.com/hook",
        "http://1.2.3.999/hook",
        "http://[::1]b/hook",
        "https://example.com/ho\x00ok",
    ],
)
def test_add_refuses_a_url_the_client_cannot_send_to(
    run: Cli, home: Path, url: str
) -> None:
    """URLs that urlsplit takes but no request can be made to are refused at add
    (exit 65, nothing stored), not left to fail at every run."""
    before = db_rows(home)
    base = ("add", "--every", "1h", "--message", "m")
    result = run(*base, "--webhook", url, code=65)
    assert "cannot be sent to" in result.stderr and "hunter2" not in result.stderr
    assert db_rows(home) == before


def test_credentials_in_a_webhook_url_are_never_echoed(
    run: Cli, home: Path, tmp_path: Path
) -> None:
    """`user:password@` in a URL stays out of every error and warning that quotes
    the URL (add, import) and of `list` and `show`, and a 10,000-character URL is
    quoted cut short. `export` keeps it."""
    base = ("add", "--every", "1h", "--message", "m")
    bad = run(*base, "--webhook", "http://bob:hunter2@[::1", code=65)
    spaced = run(*base, "--webhook", "https://bob:hunter2@ex ample.com/h", code=65)
    plain = run(*base, "--webhook", "http://bob:hunter2@example.com/h")
    assert "not a webhook URL" in bad.stderr and "has no host" in spaced.stderr
    assert "plain http" in plain.stderr and "***@example.com" in plain.stderr
    long = run(*base, "--webhook", "ftp://bob:hunter2@x.com/" + "a" * 10_000, code=65)
    assert len(long.stderr) < 400
    job = {
        "id": "0a1b2c3d-0000-4000-8000-000000000001",
        "name": "hook",
        "enabled": True,
        "createdAtMs": NOW_MS,
        "schedule": {"kind": "every", "everyMs": 3_600_000},
        "payload": {"kind": "systemEvent", "text": "m"},
        "delivery": {"mode": "webhook", "to": "https://bob:hunter2@ex ample.com/h"},
        "state": {},
    }
    store = tmp_path / "jobs.json"
    store.write_text(json.dumps({"version": 1, "jobs": [job]}))
    imported = run("import", str(store), "--json", code=None)
    assert "has no host" in imported.stdout + imported.stderr
    listed, shown = run("list"), run("show", plain.stdout.split()[1])
    for screen in (listed, shown):
        assert "http://***@example.com/h" in screen.stdout
    odd = run(*base, "--webhook", "https://bob:pa@ss@example.com/h")  # last @ counts
    assert "https://***@example.com/h" in run("show", odd.stdout.split()[1]).stdout
    for result in (bad, spaced, plain, long, imported, listed, shown):
        assert "hunter2" not in result.stdout + result.stderr
    assert "ss@" not in run("list").stdout
    # a backup keeps it, so the reminder can be restored as it was
    assert "bob:hunter2@example.com" in run("export", "-").stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
        ("SSL_CERT_FILE", "not-a-certificate.pem"),
        ("ALL_PROXY", "socks5://127.0.0.1:1"),
    ],
)
def test_an_unusable_tls_or_proxy_environment_fails_the_run(
    run: Cli,
    home: Path,
    hook: FakeWebhook,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
) -> None:
    """A CA file that is missing or holds no certificate, or a proxy httpx cannot
    use: the run fails with a line naming the variables, and the next run (the
    environment fixed) is sent."""
    configure(home)
    reminder_id = add_webhook(run, hook.url())
    if not value.startswith(("/", "socks5:")):  # a file that holds no certificate
        (home / value).write_text("not a certificate\n")
        value = str(home / value)
    monkeypatch.setenv(name, value)
    result = run("run", reminder_id, code=69)
    assert "SSL_CERT_FILE" in result.stderr
    [done] = run.json("runs", reminder_id)
    assert done["status"] == "failed" and done["errorClass"] == "Environment"
    monkeypatch.delenv(name)
    run("run", reminder_id)
    assert run.json("runs", reminder_id)[0]["status"] == "sent"


def finished_run(setup: Setup, ref: str, timeout: float = 20) -> dict[str, Any]:
    """The reminder's one run, once it is no longer `sending`."""
    [run] = setup.finished(ref, timeout=timeout)
    return dict(run)


def webhook_config(setup: Setup, secret: str = SECRET, **extra: str) -> None:
    """Set the daemon's webhook secret and other [delivery] keys, replacing any
    value the config file has for them."""
    config = setup.home / "config.toml"
    values = {"webhook_secret": f'"{secret}"', **extra}
    kept = [
        line
        for line in config.read_text().splitlines()
        if line.split(" = ")[0] not in values
    ]
    at = kept.index("[delivery]") + 1
    kept[at:at] = [f"{key} = {value}" for key, value in values.items()]
    config.write_text("\n".join(kept) + "\n")


@pytest.mark.slow
def test_sigterm_mid_send_finishes_the_run_before_the_daemon_stops(
    setup: Setup, hook: FakeWebhook
) -> None:
    """SIGTERM while a receiver holds the request: the daemon waits for the send,
    resends once after the attempt times out (same webhook-id), records the run
    sent and exits 0."""
    webhook_config(setup, webhook_timeout="2")
    hook.script = [Slow(60)]
    daemon = setup.start()
    added = setup.cli_json(
        "add", "--at", "2s", "--message", "m", "--webhook", hook.url()
    )
    wait_until(lambda: hook.requests, timeout=20)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    [run] = setup.runs(added["id"])
    assert run["status"] == "sent" and "1: no answer within 2s" in run["note"]
    held, resent = hook.requests
    assert held.headers["webhook-id"] == resent.headers["webhook-id"]


@pytest.mark.slow
def test_sighup_changes_the_secret_for_the_next_sends_and_a_bad_one_is_refused(
    setup: Setup, hook: FakeWebhook
) -> None:
    """A reload with a malformed secret is refused (the daemon keeps signing with
    the old one); a reload with a new secret signs what fires next, while a send
    already in flight finishes."""
    other = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
    webhook_config(setup)
    hook.script = [Slow(3)]
    daemon = setup.start()

    def add(at: str) -> str:
        added = setup.cli_json(
            "add", "--at", at, "--message", at, "--webhook", hook.url()
        )
        return str(added["id"])

    first = add("2s")
    wait_until(lambda: hook.requests, timeout=20)
    webhook_config(setup, secret="whsec_not*base64")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for("config not reloaded")
    webhook_config(setup)  # for the CLI, which refuses the bad file too
    second = add("1s")
    wait_until(lambda: len(hook.requests) == 2, timeout=20)
    webhook_config(setup, secret=other)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for("configuration reloaded")
    third = add("1s")
    wait_until(lambda: len(hook.requests) == 3, timeout=20)
    for ref in (first, second, third):
        assert finished_run(setup, ref)["status"] == "sent"
    signed_with = [
        SECRET
        if verify(SECRET, r.headers, r.body)
        else other
        if verify(other, r.headers, r.body)
        else None
        for r in hook.requests
    ]
    assert signed_with == [SECRET, SECRET, other]
    assert "not*base64" not in daemon.log and SECRET[6:] not in daemon.log
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
