"""A fake Telegram Bot API server for tests, on 127.0.0.1 and a free port.

It answers `getMe` and `sendMessage` with real Bot API JSON, records every request,
and injects the faults Telegram produces: flood control (429), bad gateways, slow
replies, a connection dropped after the message was stored, unknown chats, blocked
bots, missing forum topics, markup errors and group migrations. With
`enforce_limits=True` it also answers 429 when the flood limits are exceeded.

Poison mode (`poison="name"`, or `poisoned("name")` as a fault) answers with a
reply python-telegram-bot cannot turn into a Message: see `POISON` for the list.

`api.in_process()` serves the same answers to a sender without a socket, waiting
on the event loop's clock (for tests on a fake clock; getUpdates is not served).

    with FakeBotApi() as api:
        sender = TelegramSender(api.token, api_base_url=api.base_url)
        ...
        assert [m.params["text"] for m in api.messages()] == ["hi"]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import zlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

TOKEN = "123456:TEST-token"
_PATH = re.compile(r"^/bot([^/]+)/(\w+)$")
# Form fields PTB sends as JSON text; everything else (text, parse_mode) is a string.
_JSON_FIELDS = {"message_thread_id", "disable_notification", "protect_content"}
_JSON_FIELDS |= {"link_preview_options", "reply_parameters", "reply_markup", "entities"}
_JSON_FIELDS |= {"allowed_updates"}
_INT_FIELDS = {"message_id", "offset", "timeout", "limit"}
# Reserved outside entities; the entity markers (_ * ~ ` [ ] ( )) are let through.
_MARKDOWN_V2_RESERVED = set(">#+-=|{}.!")
_HTML_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-spoiler|span)\b[^<>]*>"
)


@dataclass(frozen=True)
class Fault:
    """One answer to inject. Status 0 stores the message and answers normally
    (after `delay` seconds), or with `drop` closes the connection instead."""

    status: int = 0
    description: str = ""
    parameters: dict[str, int] | None = None
    delay: float = 0.0
    drop: bool = False
    poison: str = ""  # a name from POISON: answer 200 with that strange body


# Strange 200 replies. `stored`: the fake delivered the message before answering.
POISON = {
    # ok:true with a message_id, but a field python-telegram-bot cannot parse
    "preview_as_string": "stored",
    "no_result": "stored",  # {"ok":true}
    "null_result": "stored",  # "result":null
    "list_result": "stored",  # "result":[]
    "no_message_id": "stored",  # a result without message_id
    "ok_false": "refused",  # {"ok":false} with status 200
    "html": "refused",  # an HTML page (a captive portal, a wrong URL)
    "truncated": "stored",  # the real answer cut in half
    "trickle": "stored",  # the real answer, one byte a second
    "get_me": "getMe",  # a getMe reply that is not a User
}


OK = Fault()
BAD_GATEWAY = Fault(502, "Bad Gateway")
CHAT_NOT_FOUND = Fault(400, "Bad Request: chat not found")
BLOCKED = Fault(403, "Forbidden: bot was blocked by the user")
THREAD_NOT_FOUND = Fault(400, "Bad Request: message thread not found")
DROP_AFTER_STORE = Fault(drop=True)


def too_many(retry_after: int = 1) -> Fault:
    text = f"Too Many Requests: retry after {retry_after}"
    return Fault(429, text, {"retry_after": retry_after})


def slow(seconds: float) -> Fault:
    """Store the message, then wait before answering (a read timeout for the client)."""
    return Fault(delay=seconds)


def poisoned(name: str) -> Fault:
    """Answer with the strange 200 reply `name` (a key of POISON)."""
    if name not in POISON or POISON[name] == "getMe":
        raise ValueError(f"not a sendMessage poison reply: {name!r}")
    return Fault(poison=name)


def migrated(new_chat_id: int) -> Fault:
    text = "Bad Request: group chat was upgraded to a supergroup chat"
    return Fault(400, text, {"migrate_to_chat_id": new_chat_id})


@dataclass(frozen=True)
class FloodLimits:
    """Limits enforced with `enforce_limits`: (messages, seconds) sliding windows."""

    private: tuple[int, float] = (1, 1.0)
    group: tuple[int, float] = (20, 60.0)
    overall: tuple[int, float] = (30, 1.0)


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    token: str
    params: dict[str, Any]
    monotonic: float
    wall: float
    status: int = 0  # 0: the connection was closed without an answer
    message: dict[str, Any] | None = None  # the Message stored, if any


@dataclass
class FakeBotApi:
    token: str = TOKEN
    enforce_limits: bool = False
    limits: FloodLimits = field(default_factory=FloodLimits)
    token_ok: bool = True  # False rejects every token, like a revoked bot
    # Per-chat state, keyed by chat id as sent (int, or "@name").
    unknown_chats: set[int | str] = field(default_factory=set)
    blocked_chats: set[int | str] = field(default_factory=set)
    missing_threads: set[tuple[int | str, int]] = field(default_factory=set)
    migrated_chats: dict[int | str, int] = field(default_factory=dict)
    chat_faults: dict[int | str, Fault] = field(default_factory=dict)  # every time
    poison: str | None = None  # answer every sendMessage (or getMe) with POISON[name]
    flood_429s: int = 0  # 429s given by `enforce_limits`
    poll_conflict: bool = False  # answer getUpdates with 409, as when another polls

    def __post_init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._chat_queues: dict[int | str, deque[Fault]] = defaultdict(deque)
        self._next_id: dict[int | str, int] = defaultdict(int)
        self._accepted: dict[int | str, deque[float]] = defaultdict(deque)
        self._server: ThreadingHTTPServer | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_id = 1000
        self._arrived = threading.Condition(self._lock)
        self._stored: dict[tuple[Any, int], dict[str, Any]] = {}
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> FakeBotApi:
        server = ThreadingHTTPServer(
            ("127.0.0.1", 0), _Handler, bind_and_activate=False
        )
        server.request_queue_size = 128
        server.daemon_threads = True
        server.block_on_close = False
        server.server_bind()
        server.server_activate()
        server.api = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._arrived.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def in_process(self, read_timeout: float = 10.0) -> InProcess:
        """A request layer for a sender that reaches this fake without a socket
        (started or not), waiting on the event loop's clock."""
        return InProcess(self, read_timeout)

    # -- knobs and queries ------------------------------------------------------

    def fail_next(self, *faults: Fault, chat: int | str | None = None) -> None:
        """Answer the next sendMessage requests (to `chat`, or any) with `faults`."""
        with self._lock:
            (self._queue if chat is None else self._chat_queues[chat]).extend(faults)

    def calls(self, method: str = "sendMessage") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def settle(self, quiet_s: float = 0.5, within_s: float = 5.0) -> None:
        """Wait until no request has arrived for `quiet_s` (at most `within_s`): what
        a client that just died had on the wire has been read by then."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with self._lock:
                last = self.requests[-1].monotonic if self.requests else 0.0
            if time.monotonic() - last >= quiet_s:
                return
            time.sleep(0.05)

    def messages(self) -> list[Request]:
        """sendMessage requests whose message was stored (delivered), in order."""
        return [r for r in self.calls() if r.message is not None]

    def texts(self) -> list[str]:
        return [r.params["text"] for r in self.messages()]

    # -- the chat side: a user writes or presses a button ------------------------

    def _push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._update_id += 1
            update = {"update_id": self._update_id, kind: payload}
            self._updates.append(update)
            self._arrived.notify_all()
        return update

    def post_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A user writes `text` in a chat (their private chat by default)."""
        chat = chat_id if chat_id is not None else user_id
        message: dict[str, Any] = {
            "message_id": self._new_id(chat),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "text": text,
        }
        if reply_to is not None:
            with self._lock:
                message["reply_to_message"] = self._stored[(chat, reply_to)]
        return self._push("message", message)

    def press(
        self, user_id: int, chat_id: int, message_id: int, data: str
    ) -> dict[str, Any]:
        """A user presses a button with `data` under a message the bot sent."""
        with self._lock:
            message = self._stored.get((chat_id, message_id)) or {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": "",
            }
            self._update_id += 1
            query_id = f"q{self._update_id}"
        query = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "chat_instance": f"ci{chat_id}",
            "message": message,
            "data": data,
        }
        return self._push("callback_query", query)

    def sent_message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """A message as it stands now, after any edits."""
        with self._lock:
            return dict(self._stored[(chat_id, message_id)])

    def buttons(self, message: dict[str, Any]) -> list[tuple[str, str]]:
        """(label, callback data) of every inline button on a stored message."""
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    def _new_id(self, chat: Any) -> int:
        with self._lock:
            self._next_id[chat] += 1
            return self._next_id[chat]

    # -- request handling (server threads) --------------------------------------

    def chaos(self, rate: float, seed: int = 0) -> None:
        """Answer about `rate` of sendMessage requests with a random transient fault:
        429, 502, a slow reply, or a dropped connection after storing the message."""
        import random

        self._chaos_rate, self._chaos_rng = rate, random.Random(seed)

    def _fault_for(self, chat: Any) -> Fault | None:
        with self._lock:
            if self._chat_queues.get(chat):
                return self._chat_queues[chat].popleft()
            if self._queue:
                return self._queue.popleft()
            rng = getattr(self, "_chaos_rng", None)
            if rng is not None and rng.random() < self._chaos_rate:
                return rng.choice([too_many(1), BAD_GATEWAY, slow(3), DROP_AFTER_STORE])
        return self.chat_faults.get(chat)

    def _over_limit(self, chat: Any, now: float) -> bool:
        """Record an accepted message, or say it breaks a flood limit."""
        private = isinstance(chat, int) and chat > 0
        rules = [("*", self.limits.overall)]
        rules.append((chat, self.limits.private if private else self.limits.group))
        with self._lock:
            for key, (count, period) in rules:
                recent = self._accepted[key]
                while recent and recent[0] <= now - period:
                    recent.popleft()
                if len(recent) >= count:
                    self.flood_429s += 1
                    return True
            for key, _ in rules:
                self._accepted[key].append(now)
        return False

    def _check(self, params: dict[str, Any]) -> Fault | None:
        chat, thread = params.get("chat_id"), params.get("message_thread_id")
        if chat in (None, ""):  # as Telegram answers a body cut short by a crash
            return Fault(400, "Bad Request: chat_id is empty")
        if not params.get("text"):
            return Fault(400, "Bad Request: message text is empty")
        if chat in self.migrated_chats:
            return migrated(self.migrated_chats[chat])
        if chat in self.unknown_chats:
            return CHAT_NOT_FOUND
        if chat in self.blocked_chats:
            return BLOCKED
        if thread is not None and (chat, thread) in self.missing_threads:
            return THREAD_NOT_FOUND
        if bad := _markup_error(params.get("text", ""), params.get("parse_mode")):
            return Fault(400, f"Bad Request: can't parse entities: {bad}")
        return None

    def _store(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = params["chat_id"]
        message_id = self._new_id(chat)
        if isinstance(chat, str):
            chat_json = {"id": -(10**12) - zlib.crc32(chat.encode()), "type": "channel"}
            chat_json["username"] = chat.lstrip("@")
        else:
            chat_json = {"id": chat, "type": "private" if chat > 0 else "supergroup"}
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat_json,
            "text": params.get("text", ""),
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._lock:
            self._stored[(chat, message_id)] = message
        return message


def _markup_error(text: str, parse_mode: str | None) -> str | None:
    """A crude check of MarkdownV2 and HTML, enough to provoke Telegram's 400."""
    if parse_mode == "MarkdownV2":
        escaped = False
        for offset, char in enumerate(text):
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char in _MARKDOWN_V2_RESERVED:
                return (
                    f"Character '{char}' is reserved and must be escaped with the "
                    f"preceding '\\' (byte offset {offset})"
                )
    if parse_mode == "HTML" and "<" in _HTML_TAG.sub("", text):
        return "Unsupported start tag at byte offset 0"
    return None


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}")
    params: dict[str, Any] = {}
    for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
        value: Any = values[-1]
        if key in _JSON_FIELDS:
            value = json.loads(value)
        elif (key == "chat_id" and re.fullmatch(r"-?\d+", value)) or (
            key in _INT_FIELDS and re.fullmatch(r"-?\d+", value)
        ):
            value = int(value)
        params[key] = value
    return params


@dataclass(frozen=True)
class Reply:
    """An answer as the fake gives it. Status 0 closes the connection instead."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering
    pace: float = 0.0  # seconds between bytes (an answer trickled out)


def _json_reply(status: int, body: dict[str, Any], delay: float = 0.0) -> Reply:
    return Reply(status, json.dumps(body).encode(), delay=delay)


def _error(fault: Fault) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": fault.status}
    body["description"] = fault.description
    if fault.parameters:
        body["parameters"] = fault.parameters
    return _json_reply(fault.status, body, fault.delay)


def _respond(api: FakeBotApi, record: Request) -> Reply:
    """The answer to one request, any method but getUpdates (which waits)."""
    method = record.method
    if record.token != api.token or not api.token_ok:
        return _error(Fault(401, "Unauthorized"))
    if method == "getMe" and api.poison == "get_me":
        # ok, but not a User: no id, no is_bot, no first_name
        return _json_reply(200, {"ok": True, "result": {"id": "me"}})
    if method == "getMe":
        me = {"id": int(api.token.split(":")[0]), "is_bot": True}
        me |= {"first_name": "Fake", "username": "fake_bot"}
        return _json_reply(200, {"ok": True, "result": me})
    if method == "sendMessage":
        return _send_message(api, record)
    if method == "answerCallbackQuery":
        return _json_reply(200, {"ok": True, "result": True})
    if method in ("editMessageText", "editMessageReplyMarkup"):
        return _edit(api, record)
    return _error(Fault(404, "Not Found: method not found"))


def _send_message(api: FakeBotApi, record: Request) -> Reply:
    chat = record.params.get("chat_id")
    fault = api._fault_for(chat) or OK
    if api.poison and POISON[api.poison] != "getMe" and fault == OK:
        fault = Fault(poison=api.poison)
    if fault.poison:
        return _poison(api, record, fault.poison)
    if fault.status == 0:
        fault = api._check(record.params) or fault
    if fault.status == 0 and api.enforce_limits:
        fault = too_many(1) if api._over_limit(chat, record.monotonic) else fault
    if fault.status:
        return _error(fault)
    record.message = api._store(record.params)
    if fault.drop:
        return Reply(0)
    return _json_reply(200, {"ok": True, "result": record.message}, fault.delay)


def _edit(api: FakeBotApi, record: Request) -> Reply:
    key = (record.params.get("chat_id"), record.params.get("message_id"))
    with api._lock:
        message = api._stored.get(key)  # type: ignore[arg-type]
        if message is not None:
            if "text" in record.params:
                message["text"] = record.params["text"]
                message["edit_date"] = int(time.time())
            if record.params.get("reply_markup"):
                message["reply_markup"] = record.params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            message = dict(message)
    if message is None:
        return _error(Fault(400, "Bad Request: message to edit not found"))
    record.message = message
    return _json_reply(200, {"ok": True, "result": message})


def _poison(api: FakeBotApi, record: Request, name: str) -> Reply:
    if POISON[name] == "stored":
        record.message = api._store(record.params)
    message = dict(record.message or {})
    body: Any = {"ok": True, "result": message}
    if name == "preview_as_string":
        message["link_preview_options"] = "{}"
    elif name == "no_result":
        body = {"ok": True}
    elif name == "null_result":
        body["result"] = None
    elif name == "list_result":
        body["result"] = []
    elif name == "no_message_id":
        del message["message_id"]
    elif name == "ok_false":
        body = {"ok": False}
    if name == "html":
        page = b"<html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>"
        return Reply(200, page, "text/html")
    if name == "truncated":
        data = json.dumps(body).encode()
        return Reply(200, data[: len(data) // 2])
    if name == "trickle":
        return Reply(200, json.dumps(body).encode(), pace=1.0)
    return _json_reply(200, body)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeBotApi/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        api: FakeBotApi = self.server.api  # type: ignore[attr-defined]
        arrived, wall = time.monotonic(), time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(self.path)
        if not match:
            self._write(_error(Fault(404, "Not Found")))
            return
        token, method = match.groups()
        params = _parse_body(self.headers.get("Content-Type", ""), body)
        record = Request(method, token, params, arrived, wall)
        with api._lock:
            api.requests.append(record)
        token_ok = token == api.token and api.token_ok
        if method == "getUpdates" and token_ok:
            reply = self._get_updates(api, record)
        else:
            reply = _respond(api, record)
        record.status = self._write(reply)

    def _get_updates(self, api: FakeBotApi, record: Request) -> Reply:
        """Long polling: confirm updates below `offset`, wait up to `timeout` s."""
        if api.poll_conflict:
            text = (
                "Conflict: terminated by other getUpdates request; make sure that "
                "only one bot instance is running"
            )
            return _error(Fault(409, text))
        offset = int(record.params.get("offset") or 0)
        deadline = time.monotonic() + float(record.params.get("timeout") or 0)
        with api._arrived:
            api._updates = [u for u in api._updates if u["update_id"] >= offset]
            while not api._updates and not api._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                api._arrived.wait(left)
            result = list(api._updates)
        return _json_reply(200, {"ok": True, "result": result})

    def _write(self, reply: Reply) -> int:
        """Send `reply` (after its delay, a byte at a time if paced); its status."""
        if reply.status == 0:
            self.close_connection = True
            return 0
        time.sleep(reply.delay)
        with contextlib.suppress(OSError):  # the client may have given up already
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if not reply.pace:
                self.wfile.write(reply.body)
            for offset in range(len(reply.body) if reply.pace else 0):
                self.wfile.write(reply.body[offset : offset + 1])
                self.wfile.flush()
                time.sleep(reply.pace)
        return reply.status


# -- in process ----------------------------------------------------------------------


class InProcess(BaseRequest):
    """python-telegram-bot's HTTP layer replaced by a direct call into the fake: the
    same answers and faults, no socket, and every wait (a slow or trickled answer,
    a read timeout) taken on the event loop's clock, so a test can run it on a
    fake one. Hand it to a sender as `request=api.in_process()`."""

    def __init__(self, api: FakeBotApi, read_timeout: float = 10.0) -> None:
        self.api = api
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api, loop = self.api, asyncio.get_running_loop()
        if api._stopping:
            raise NetworkError("httpx.ConnectError: refused") from httpx.ConnectError(
                "All connection attempts failed"
            )
        match = _PATH.match(urlsplit(url).path)
        if not match or match.group(2) == "getUpdates":
            raise ValueError(f"not served in process: {url}")
        form = request_data.url_encoded_parameters() if request_data else ""
        params = _parse_body("application/x-www-form-urlencoded", form.encode())
        record = Request(match.group(2), match.group(1), params, loop.time(), 0.0)
        with api._lock:
            api.requests.append(record)
        reply = _respond(api, record)
        if reply.status == 0:
            cut = httpx.RemoteProtocolError("Server disconnected")
            raise NetworkError(f"httpx.RemoteProtocolError: {cut}") from cut
        if reply.delay > self._read_timeout:
            await asyncio.sleep(self._read_timeout)
            raise TimedOut from httpx.ReadTimeout("timed out")
        await asyncio.sleep(reply.delay + reply.pace * len(reply.body))
        record.status = reply.status
        return reply.status, reply.body
