"""A real HTTP server on 127.0.0.1 that receives webhooks, for the alert tests.

Each POST is recorded (path, headers, JSON body). ``answers`` lists the
status codes to give, in order (the last one repeats); ``hold`` makes the
next request wait, unanswered, until ``release()``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Webhooks:
    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [200])
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.held = threading.Event()     # set: a request is waiting unanswered
        self._release = threading.Event()
        self.hold_next = False
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        self._release.set()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.received]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        with self.lock:
            self.received.append({"path": handler.path, "headers": dict(handler.headers),
                                  "body": json.loads(raw or b"null")})
            status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            hold, self.hold_next = self.hold_next, False
        if hold:
            self.held.set()
            self._release.wait(30)
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        except OSError:
            pass  # the caller went away (a killed engine)


@contextmanager
def webhook_server(answers: list[int] | None = None) -> Iterator[Webhooks]:
    hooks = Webhooks(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            hooks._answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hooks.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks
    finally:
        hooks.release()
        server.shutdown()
        server.server_close()
