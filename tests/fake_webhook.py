"""A webhook receiver on 127.0.0.1 that records every request and answers from a script.

Each request takes the next answer from `script` (then 200 OK when the script is
used up): a status code with optional headers and body, DROP (read the whole
request, then close the connection without answering), Slow(seconds) (answer 200
after a wait, cut short when the server stops) or Cut(status, body) (promise a
longer body than `body`, send it and hang up).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Slow:
    seconds: float


@dataclass(frozen=True)
class Cut:
    status: int
    body: bytes = b""


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() when the body was read
    answered_at: float | None = None


class _Server(ThreadingHTTPServer):
    # A burst of connections beyond the listen backlog (5 by default) waits out a
    # one-second SYN retry; a receiver under test should not.
    request_queue_size = 128


@dataclass
class FakeWebhook:
    script: list[Any] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeWebhook:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.hook = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeWebhook:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/hook") -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def next_answer(self) -> Any:
        with self._lock:
            return self.script.pop(0) if self.script else Answer(200, b"ok")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        hook: FakeWebhook = self.server.hook  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        record = Received(
            self.path,
            {name.lower(): value for name, value in self.headers.items()},
            body,
            time.monotonic(),
        )
        with hook._lock:
            hook.requests.append(record)
        answer = hook.next_answer()
        if answer == DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(answer, Cut):
            self.close_connection = True
            self.send_response(answer.status)
            self.send_header("content-length", str(len(answer.body) + 1000))
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(answer, Slow):
            hook._stopping.wait(answer.seconds)
            answer = Answer(200, b"ok")
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)
        record.answered_at = time.monotonic()
