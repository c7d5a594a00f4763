"""The built-in http handler against a real HTTP server on 127.0.0.1.

The server answers each path from a script and counts what it receives;
the engine runs for real (Runner, workers, SQLite in tmp_path, httpx).
Nothing is mocked. Waits are polls with a deadline.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import async_wait_until, engine_refuses_config
from queuetop import cli
from queuetop.engine.model.clock import Clock, FrozenClock
from queuetop.engine.config import Config
from queuetop.engine.model.exceptions import ConfigError
from queuetop.engine.handlers.http import (
    REDACTED, Redactor, classify, parse_http_config, parse_retry_after, register_http_intents, Verdict,
)
from queuetop.engine.api import Queue
from queuetop.engine.services.runner import Runner

T = TypeVar("T")
SECRET = "s3cr3t-Token-7f2a9c41e0"


# -- a scripted HTTP server ------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Answer:
    """One scripted response. ``body`` may be a function of the request."""

    status: int = 200
    body: str | Callable[[Received], str] = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before anything is sent (past a client's timeout: a slow server)


class ScriptedServer:
    """A real HTTP/1.1 server on 127.0.0.1 answering each path from its script.

    ``script(path, a, b, c)`` answers that path's requests with a, b, then c
    for every later one. Requests are counted (and kept) as they arrive,
    before any delay.
    """

    def __init__(self) -> None:
        self._scripts: dict[str, list[Answer]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do

            def _serve(self) -> None:
                owner._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a slow answer closed its socket: expected

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._scripts[path] = list(answers)

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.received if path is None or r.path == path)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        request = Received(handler.command, handler.path, dict(handler.headers.items()), body)
        with self._lock:
            self.received.append(request)
            script = self._scripts.get(handler.path) or [Answer(404, "no script for this path")]
            answer = script.pop(0) if len(script) > 1 else script[0]
        if answer.delay:
            self._stopping.wait(answer.delay)
        text = answer.body(request) if callable(answer.body) else answer.body
        data = text.encode()
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # cut slow answers short
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def server() -> Any:
    with ScriptedServer() as running:
        yield running


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the engine, in-process ------------------------------------------------------------


def http_table(server: ScriptedServer, intents: dict[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    """An ``[http]`` table: each intent's ``path`` becomes a url on ``server``."""
    table: dict[str, Any] = {"trust_env": False, **top, "intents": {}}
    for key, spec in intents.items():
        spec = dict(spec)
        if "url" not in spec:
            spec["url"] = server.url(spec.pop("path"))
        table["intents"][key] = spec
    return table


def engine_config(http: dict[str, Any], **engine: Any) -> Config:
    settings: dict[str, Any] = dict(poll_interval=0.02, heartbeat_interval=0.2, retry_base=0.01, retry_cap=0.02,
                                    grace_period=2.0, log_flush_interval=0.05)
    settings.update(engine)
    return Config(http=http).with_engine(**settings)


@asynccontextmanager
async def running(db: Path, http: dict[str, Any], *, clock: Clock | None = None, concurrency: int = 4,
                  **engine: Any) -> AsyncIterator[Queue]:
    """A queue with a Runner working it (no schedules); stopped and closed on exit."""
    queue = await Queue.open(db, engine_config(http, **engine), clock=clock)
    try:
        runner = Runner(queue, concurrency=concurrency, schedules=False)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.wait_for(runner.started.wait(), 10)
            yield queue
        finally:
            stop.set()
            await task
    finally:
        await queue.close()


async def job_finished(queue: Queue, job_id: int) -> bool:
    return (await queue.job(job_id)).status.finished


def rows(db: Path, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "queuetop.db"


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLLECT_TOKEN", SECRET)
    return SECRET


# -- configuration ---------------------------------------------------------------------


def test_config_resolves_env_vars_and_never_shows_header_values() -> None:
    settings = parse_http_config({
        "max_connections": 8,
        "intents": {
            "collect.ads": {"url": "https://ads.example.com/v1/collect?region=eu",
                            "headers": {"Authorization": "Bearer ${COLLECT_TOKEN}", "X-Team": "growth"}},
            "collect.logs": {"url": "http://logs.internal:8080/in", "method": "put", "timeout": 5,
                             "failure_threshold": 2, "cooldown": 10, "max_cooldown": 40},
        },
    }, {"COLLECT_TOKEN": SECRET})
    ads, logs_ = settings.endpoints["collect.ads"], settings.endpoints["collect.logs"]
    assert (ads.method, ads.timeout, ads.host) == ("POST", 30.0, "ads.example.com")
    assert ads.where == "ads.example.com/v1/collect"  # no query string in messages
    assert (ads.breaker.failure_threshold, ads.breaker.cooldown, ads.breaker.max_cooldown) == (5, 30.0, 600.0)
    assert dict(ads.headers)["Authorization"] == f"Bearer {SECRET}"  # what is sent
    assert (logs_.method, logs_.host, logs_.breaker.failure_threshold) == ("PUT", "logs.internal:8080", 2)
    assert settings.max_connections == 8
    assert settings.intents_by_host() == {"ads.example.com": ("collect.ads",), "logs.internal:8080": ("collect.logs",)}
    # What is shown: names, never values.
    for shown in (repr(ads), repr(settings), json.dumps(ads.as_dict())):
        assert SECRET not in shown
    assert ads.as_dict()["headers"] == {"Authorization": REDACTED, "X-Team": REDACTED}


@pytest.mark.parametrize(("intent", "message"), [
    ({"url": "http://h/x", "headers": {"Authorization": "Bearer ${NOT_SET_ANYWHERE}"}},
     "environment variable NOT_SET_ANYWHERE is not set"),
    ({"url": "http://h/x", "headers": {"Authorization": "Bearer ${EMPTY_ONE}"}}, "EMPTY_ONE is empty"),
    ({"url": "http://h/x", "headers": {"X-Key": "${bad-name}"}}, "not a valid environment variable name"),
    ({"url": "http://h/x", "headers": {"X-Key": "${COLLECT_TOKEN"}}, "unterminated"),
    ({"url": "http://h/x?key=${COLLECT_TOKEN}"}, "header values only"),
    ({"url": "http://user:pw@h/x"}, "must not carry a user or password"),
    ({"url": "ftp://h/x"}, "http:// or https://"),
    ({}, "needs a url"),
    ({"url": "http://h/x", "method": "TRACE"}, "method must be one of"),
    ({"url": "http://h/x", "timeout": 0}, "timeout must be a positive"),
    ({"url": "http://h/x", "failure_threshold": 0}, "failure_threshold"),
    ({"url": "http://h/x", "cooldown": 60, "max_cooldown": 30}, "max_cooldown"),
    ({"url": "http://h/x", "retries": 3}, "unknown key(s): retries"),
    ({"url": "http://h/x", "headers": {"Bad Name": "v"}}, "not a valid header name"),
    ({"url": "http://h/x", "headers": {"X-Key": "caf\u00e9-${COLLECT_TOKEN}"}}, "non-ASCII"),
])
def test_config_errors_are_clear(intent: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_http_config({"intents": {"collect.ads": intent}}, {"COLLECT_TOKEN": SECRET, "EMPTY_ONE": ""},
                          "queuetop.toml")
    text = str(caught.value)
    assert message in text
    assert 'queuetop.toml: [http.intents."collect.ads"]' in text
    assert SECRET not in text


def test_one_host_has_one_breaker_setting() -> None:
    with pytest.raises(ConfigError, match="same host h:81 with different failure_threshold"):
        parse_http_config({"intents": {"a": {"url": "http://h:81/a", "failure_threshold": 2},
                                       "b": {"url": "http://h:81/b"}}}, {})


async def test_missing_env_var_fails_engine_start_not_first_call(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLLECT_TOKEN")
    http = {"intents": {"collect.ads": {"url": "http://127.0.0.1:9/x",
                                        "headers": {"Authorization": "Bearer ${COLLECT_TOKEN}"}}}}
    async with await Queue.open(db, Config(http=http)) as queue:
        with pytest.raises(ConfigError, match=r'"collect.ads"\] header .Authorization. uses \$\{COLLECT_TOKEN\}'):
            Runner(queue, schedules=False)
        assert "collect.ads" not in queue.registry


def test_missing_env_var_is_one_line_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COLLECT_TOKEN")
    err = engine_refuses_config(tmp_path, capsys, '[http.intents."collect.ads"]\nurl = "http://127.0.0.1:9/x"\n'
                                                 'headers = { "Authorization" = "Bearer ${COLLECT_TOKEN}" }\n')
    assert "COLLECT_TOKEN is not set" in err



async def test_intents_register_as_async_handlers_once(db: Path, server: ScriptedServer) -> None:
    config = engine_config(http_table(server, {"collect.ads": {"path": "/ok"}}), )
    async with await Queue.open(db, config) as queue:
        service = register_http_intents(queue)
        assert service is not None
        assert register_http_intents(queue) is service  # the runner and a test may both call it
        handler = queue.registry.resolve("collect.ads")
        assert handler.is_async
    clash = Config(http=http_table(server, {"demo.noop": {"path": "/ok"}}))
    async with await Queue.open(db, clash) as queue:
        with pytest.raises(ConfigError, match="also registered as other handlers"):
            register_http_intents(queue)


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.SUCCESS), (204, Verdict.SUCCESS), (301, Verdict.PERMANENT), (400, Verdict.PERMANENT),
    (401, Verdict.PERMANENT), (404, Verdict.PERMANENT), (408, Verdict.TRANSIENT), (422, Verdict.PERMANENT),
    (425, Verdict.TRANSIENT), (429, Verdict.TRANSIENT), (500, Verdict.TRANSIENT), (503, Verdict.TRANSIENT),
    (599, Verdict.TRANSIENT),
])
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_parse_retry_after() -> None:
    now = 1_767_225_600.0
    assert parse_retry_after("120", now) == now + 120
    assert parse_retry_after(email.utils.formatdate(now + 300, usegmt=True), now) == now + 300
    assert parse_retry_after(email.utils.formatdate(now - 300, usegmt=True), now) == now  # past: now
    assert parse_retry_after("999999", now) == now + 3600  # capped
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def test_redactor_scrubs_whole_values_and_a_cut_tail() -> None:
    redact = Redactor([SECRET, f"Bearer {SECRET}", "ab"])
    assert redact(f"got Bearer {SECRET}!") == f"got {REDACTED}!"
    assert redact(f"echo {SECRET} and {SECRET}") == f"echo {REDACTED} and {REDACTED}"
    assert redact("ab stays: too short to be a secret") == "ab stays: too short to be a secret"
    # The first bytes of a longer body may stop inside a secret.
    assert redact(f"token={SECRET[:9]}", cut=True) == f"token={REDACTED}"
    assert redact(f"token={SECRET[:9]}") == f"token={SECRET[:9]}"  # uncut text: not a secret


# -- each class of answer, end to end -------------------------------------------------------


async def test_success_sends_the_chunk_and_keeps_a_summary(db: Path, server: ScriptedServer) -> None:
    server.script("/collect", Answer(200, '{"rows": 1234, "note": "' + "x" * 2000 + '"}'))
    http = http_table(server, {"collect.ads": {"path": "/collect",
                                               "headers": {"Authorization": "Bearer ${COLLECT_TOKEN}"}}})
    async with running(db, http) as queue:
        job = await queue.submit("collect.ads", chunks=[{"start": "2024-01-01", "end": "2024-03-30"}],
                                 params={"account": 7})
        await async_wait_until(lambda: job_finished(queue, job.job_id), message="the job to end")
        chunk = await queue.chunk(job.job_id, 0)
        service = register_http_intents(queue)
        client = service._client
        assert client is not None and not client.is_closed
    assert client.is_closed  # the queue closed the shared client on shutdown

    assert (chunk.status.value, chunk.attempt) == ("completed", 1)
    assert server.count("/collect") == 1
    sent = server.received[0]
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == f"Bearer {SECRET}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == {"intent": "collect.ads", "job_id": job.job_id, "chunk_index": 0, "attempt": 1,
                         "params": {"start": "2024-01-01", "end": "2024-03-30"}, "job_params": {"account": 7}}
    summary = chunk.result
    assert summary["status"] == 200 and summary["elapsed_ms"] >= 0
    assert summary["content_type"].startswith("text/plain")
    assert summary["body"].startswith('{"rows": 1234') and len(summary["body"]) <= 301  # the start, not a dump
    assert summary["bytes"] is not None and summary["bytes"] > 2000


async def test_each_answer_ends_in_the_right_state(db: Path, server: ScriptedServer) -> None:
    """2xx completes; other 4xx fail at once (one request); 408/425/429/5xx, timeouts
    and refused connections are retried up to max_retries (2: three attempts)."""
    refused = closed_port()
    cases: dict[str, tuple[list[Answer], str, int, str]] = {
        # intent: (script, final state, attempts == requests, what the last error says)
        "ok": ([Answer(200)], "completed", 1, ""),
        "bad-request": ([Answer(400, "field 'start' is required")], "failed", 1, "HTTP 400 Bad Request"),
        "not-found": ([Answer(404, "no such report")], "failed", 1, "HTTP 404 Not Found"),
        "unauthorized": ([Answer(401, "token expired")], "failed", 1, "HTTP 401"),
        "moved": ([Answer(301, "", {"Location": "/elsewhere"})], "failed", 1, "redirects are not followed"),
        "timeout-408": ([Answer(408, "slow client")], "failed", 3, "HTTP 408"),
        "too-early": ([Answer(425)], "failed", 3, "HTTP 425"),
        "rate-limited": ([Answer(429, "slow down")], "failed", 3, "HTTP 429"),
        "server-error": ([Answer(500, "boom")], "failed", 3, "HTTP 500 Internal Server Error"),
        "unavailable": ([Answer(503, "maintenance")], "failed", 3, "HTTP 503"),
        "bad-gateway": ([Answer(502)], "failed", 3, "HTTP 502"),
        "recovers": ([Answer(500, "boom"), Answer(200, "fine")], "completed", 2, "HTTP 500"),
        "slow": ([Answer(200, delay=5)], "failed", 3, "timeout"),
        "slow-once": ([Answer(200, delay=5), Answer(200)], "completed", 2, "timeout"),
        "refused": ([], "failed", 3, "cannot connect"),
    }
    intents = {}
    for key, (answers, *_rest) in cases.items():
        server.script(f"/{key}", *answers)
        intents[f"t.{key}"] = {"path": f"/{key}", "timeout": 0.3,
                               "failure_threshold": 1000}  # this test is about single chunks, not the breaker
    intents["t.refused"] = {"url": f"http://127.0.0.1:{refused}/refused", "timeout": 0.3, "failure_threshold": 1000}
    async with running(db, http_table(server, intents), concurrency=16) as queue:
        jobs = {key: (await queue.submit(f"t.{key}", max_retries=2)).job_id for key in cases}
        for key, job_id in jobs.items():
            await async_wait_until(lambda: job_finished(queue, job_id), message=f"job {key} to end")
        for key, (answers, state, attempts, error) in cases.items():
            chunk = await queue.chunk(jobs[key], 0)
            assert (key, chunk.status.value, chunk.attempt) == (key, state, attempts)
            if key != "refused":
                assert (key, server.count(f"/{key}")) == (key, attempts)  # counted on the server
            failed = await queue.attempts(jobs[key])
            assert len(failed) == (attempts if state == "failed" else attempts - 1)
            if failed:
                assert error in failed[-1].error
                kind = "permanent" if attempts == 1 and state == "failed" else "transient"
                assert {a.outcome for a in failed} == {kind}
    errors = rows(db, "SELECT a.error FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id WHERE c.job_id = ?",
                  (jobs["not-found"],))
    assert errors == [("HTTP 404 Not Found from " + f"{server.host}/not-found: no such report",)]


async def test_retry_after_names_the_next_run(db: Path, server: ScriptedServer) -> None:
    clock = FrozenClock()
    t0 = clock.now()
    server.script("/seconds", Answer(429, "slow down", {"Retry-After": "120"}), Answer(200))
    server.script("/date", Answer(503, "back soon",
                                  {"Retry-After": email.utils.formatdate(t0 + 300, usegmt=True)}), Answer(200))
    http = http_table(server, {"ra.seconds": {"path": "/seconds"}, "ra.date": {"path": "/date"}})
    async with running(db, http, clock=clock, retry_base=5.0, retry_cap=10.0) as queue:
        seconds = (await queue.submit("ra.seconds")).job_id
        date = (await queue.submit("ra.date")).job_id

        async def pending_after(job_id: int) -> Any:
            chunk = await queue.chunk(job_id, 0)
            return chunk if chunk.status.value == "pending" and chunk.attempt == 1 else None

        first = await async_wait_until(lambda: pending_after(seconds), message="the 429 to be settled")
        second = await async_wait_until(lambda: pending_after(date), message="the 503 to be settled")
        # Retry-After, not the back-off (which would be at most 5 s here).
        assert first.run_after == t0 + 120
        assert second.run_after == t0 + 300
        assert [a.outcome for a in await queue.attempts(seconds)] == ["transient"]
        assert server.count("/seconds") == server.count("/date") == 1

        clock.set(t0 + 120)  # due: the seconds one runs again, the date one still waits
        await async_wait_until(lambda: job_finished(queue, seconds), message="the 429 chunk to be retried")
        assert (await queue.chunk(seconds, 0)).attempt == 2
        assert (await queue.chunk(date, 0)).status.value == "pending"
        clock.set(t0 + 300)
        await async_wait_until(lambda: job_finished(queue, date), message="the 503 chunk to be retried")
    assert server.count("/seconds") == server.count("/date") == 2


# -- secrets ----------------------------------------------------------------------------------


def echo_auth(request: Received) -> str:
    """A careless server that echoes the credential it got."""
    return f"you sent Authorization: {request.headers.get('Authorization')}"


async def test_secrets_reach_no_db_log_or_screen(db: Path, server: ScriptedServer, caplog: pytest.LogCaptureFixture,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    server.script("/ok", Answer(200, echo_auth))
    server.script("/bad", Answer(400, echo_auth))
    server.script("/down", Answer(500, echo_auth))
    auth = {"Authorization": "Bearer ${COLLECT_TOKEN}", "X-Api-Key": "${COLLECT_TOKEN}"}
    http = http_table(server, {
        "s.ok": {"path": "/ok", "headers": auth},
        "s.bad": {"path": "/bad", "headers": auth},
        "s.down": {"url": server.url("/down").replace("127.0.0.1", "localhost"), "headers": auth,
                   "failure_threshold": 1},  # a host of its own, whose circuit opens and keeps the error
    })
    async with running(db, http) as queue:
        ok = (await queue.submit("s.ok")).job_id
        bad = (await queue.submit("s.bad")).job_id
        down = (await queue.submit("s.down", max_retries=0)).job_id
        for job_id in (ok, bad, down):
            await async_wait_until(lambda: job_finished(queue, job_id), message=f"job {job_id} to end")
        circuits = await queue.circuits()
    assert all(r.headers["Authorization"] == f"Bearer {SECRET}" for r in server.received)  # it was sent

    # The chunks show that something was redacted, not what.
    async with await Queue.open(db) as queue:
        assert REDACTED in (await queue.chunk(ok, 0)).result["body"]
        assert REDACTED in (await queue.chunk(bad, 0)).last_error
    assert [c.state.value for c in circuits] == ["open"] and REDACTED in circuits[0].last_error

    capsys.readouterr()
    for args in (["circuits", "--json"], ["circuits"], ["chunks", str(bad), "--json"], ["chunks", str(down)],
                 ["jobs", "--json"], ["logs", str(ok)], ["logs", str(bad), "--json"]):
        # The CLI runs its own event loop: give it a thread of its own.
        assert await asyncio.to_thread(cli.main, [*args, "--db", str(db)]) == 0
    screen = capsys.readouterr()
    assert "open" in screen.out and REDACTED in screen.out
    assert SECRET not in screen.out + screen.err

    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "HTTP 400" in logged  # the engine did log the failures ...
    assert SECRET not in logged  # ... without the secret

    stored = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    assert b"HTTP 400" in stored
    assert SECRET.encode() not in stored
