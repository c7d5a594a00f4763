"""The http handler's Idempotency-Key: one per chunk, the same on every attempt.

A real server on 127.0.0.1 records the headers of every request while real
workers run the handler, on SQLite and on PostgreSQL. The key's random part
is the job's nonce, read back from the database here to check it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from conftest import async_wait_until, engine_refuses_config, query
from queuetop.engine.api import Queue
from queuetop.engine.handlers.http import REDACTED, parse_http_config
from queuetop.engine.model.exceptions import ConfigError

from test_http import (  # noqa: F401
    SECRET, Answer, Received, ScriptedServer, http_table, job_finished, running, server, token,
)

KEY = "Idempotency-Key"


def nonce(db_path: Path | str, job_id: int) -> str:
    return query(db_path, "SELECT nonce FROM jobs WHERE id = ?", (job_id,))[0][0]


def sent(server: ScriptedServer, path: str, header: str = KEY) -> list[str | None]:
    """The value of ``header`` in each request to ``path``, in arrival order (None: not sent)."""
    found = []
    for request in server.received:
        if request.path == path:
            values = [v for name, v in request.headers.items() if name.lower() == header.lower()]
            assert len(values) <= 1, values  # never the header twice
            found.append(values[0] if values else None)
    return found


async def finish(queue: Queue, *job_ids: int) -> None:
    for job_id in job_ids:
        await async_wait_until(lambda: job_finished(queue, job_id), message=f"job {job_id} to end")


async def test_every_attempt_of_a_chunk_sends_the_same_key(db_path: Path | str, server: ScriptedServer) -> None:
    """After a 500 and after a timeout the retry carries the first attempt's key; chunks and jobs differ."""
    server.script("/flaky", Answer(500, "boom"), Answer(200))
    server.script("/slow", Answer(200, delay=5), Answer(200))
    server.script("/ok", Answer(200))
    http = http_table(server, {"k.flaky": {"path": "/flaky"}, "k.slow": {"path": "/slow", "timeout": 0.3},
                               "k.ok": {"path": "/ok"}})
    async with running(db_path, http) as queue:
        flaky = (await queue.submit("k.flaky", max_retries=2)).job_id
        slow = (await queue.submit("k.slow", max_retries=2)).job_id
        two = (await queue.submit("k.ok", chunks=[{"n": 0}, {"n": 1}])).job_id
        again = (await queue.submit("k.ok")).job_id
        await finish(queue, flaky, slow, two, again)
        assert [(await queue.chunk(job, 0)).attempt for job in (flaky, slow)] == [2, 2]
        assert (await queue.job(two)).nonce == nonce(db_path, two)  # what `queuetop job` shows

    assert sent(server, "/flaky") == [f"{flaky}-0-{nonce(db_path, flaky)}"] * 2
    assert sent(server, "/slow") == [f"{slow}-0-{nonce(db_path, slow)}"] * 2  # the timed-out one reached it
    ok = sent(server, "/ok")
    assert sorted(ok, key=str) == sorted([f"{two}-0-{nonce(db_path, two)}", f"{two}-1-{nonce(db_path, two)}",
                                          f"{again}-0-{nonce(db_path, again)}"], key=str)
    assert len(set(ok)) == 3
    nonces = {nonce(db_path, job) for job in (flaky, slow, two, again)}
    assert len(nonces) == 4 and all(len(n) == 32 and set(n) <= set("0123456789abcdef") for n in nonces)


async def test_another_database_never_repeats_a_key(db_path: Path | str, tmp_path: Path,
                                                    server: ScriptedServer) -> None:
    """Job 1 of a second database (or of one made again) is not job 1 of the first to the server."""
    server.script("/ok", Answer(200))
    http = http_table(server, {"k.ok": {"path": "/ok"}})
    ids = []
    for db in (db_path, tmp_path / "another.db"):
        async with running(db, http) as queue:
            ids.append((await queue.submit("k.ok")).job_id)
            await finish(queue, ids[-1])
    first, second = sent(server, "/ok")
    assert ids[0] == ids[1] and first is not None and second is not None
    assert first.startswith(f"{ids[0]}-0-") and second.startswith(f"{ids[1]}-0-")
    assert first != second


async def test_name_off_and_an_intents_own_header(db_path: Path | str, server: ScriptedServer) -> None:
    """Renamed in [http] or per intent; "" sends none; a configured header of the same name is sent instead."""
    for path in ("/renamed", "/own-name", "/off", "/on-again", "/user"):
        server.script(path, Answer(200))
    http = http_table(server, {
        "k.renamed": {"path": "/renamed"},
        "k.own-name": {"path": "/own-name", "idempotency_header": "X-Request-Key"},
        "k.off": {"path": "/off", "idempotency_header": ""},
        "k.user": {"path": "/user", "headers": {"x-idempotency": "fixed-by-the-user"}},
    }, idempotency_header="X-Idempotency")
    async with running(db_path, http) as queue:
        jobs = {key: (await queue.submit(f"k.{key}")).job_id for key in ("renamed", "own-name", "off", "user")}
        await finish(queue, *jobs.values())
    key = {name: f"{job}-0-{nonce(db_path, job)}" for name, job in jobs.items()}
    assert sent(server, "/renamed", "X-Idempotency") == [key["renamed"]]
    assert sent(server, "/renamed") == [None]  # the default name is not sent as well
    assert sent(server, "/own-name", "X-Request-Key") == [key["own-name"]]
    assert sent(server, "/own-name", "X-Idempotency") == [None]
    assert sent(server, "/off", "X-Idempotency") == sent(server, "/off") == [None]
    assert sent(server, "/user", "X-Idempotency") == ["fixed-by-the-user"]

    off = http_table(server, {"k.on-again": {"path": "/on-again"}}, idempotency_header="")
    async with running(db_path, off) as queue:
        job = (await queue.submit("k.on-again")).job_id
        await finish(queue, job)
    assert sent(server, "/on-again") == [None]  # off for every intent


def echo_key(request: Received) -> str:
    """A server that names the key it refuses, and the credential it got."""
    return f"key {request.headers.get(KEY)} reused; you sent {request.headers.get('Authorization')}"


async def test_the_key_is_not_a_secret_but_the_credentials_stay_hidden(db_path: Path | str, server: ScriptedServer,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """An error that quotes the key keeps it (it matches the chunk); the Authorization value is still redacted."""
    caplog.set_level(logging.DEBUG)
    server.script("/conflict", Answer(422, echo_key))
    http = http_table(server, {"k.conflict": {"path": "/conflict",
                                              "headers": {"Authorization": "Bearer ${COLLECT_TOKEN}"}}})
    async with running(db_path, http) as queue:
        job = (await queue.submit("k.conflict")).job_id
        await finish(queue, job)
        error = (await queue.chunk(job, 0)).last_error
    key = f"{job}-0-{nonce(db_path, job)}"
    assert sent(server, "/conflict") == [key]
    assert f"key {key} reused" in error and REDACTED in error and SECRET not in error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged


@pytest.mark.parametrize(("table", "message"), [
    ({"idempotency_header": 1}, '[http] idempotency_header must be a header name, or "" to send none, got 1'),
    ({"idempotency_header": "Bad Name"}, "[http] idempotency_header: 'Bad Name' is not a valid header name"),
    ({"intents": {"a": {"url": "http://h/x", "idempotency_header": False}}},
     '[http.intents."a"] idempotency_header must be a header name'),
    ({"intents": {"a": {"url": "http://h/x", "idempotency_header": "Key:"}}},
     '[http.intents."a"] idempotency_header: \'Key:\' is not a valid header name'),
])
def test_the_header_setting_is_checked(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_http_config({"intents": {"a": {"url": "http://h/x"}}, **table}, {}, "queuetop.toml")
    assert str(caught.value).startswith(f"queuetop.toml: {message}")


def test_settings_show_the_header_each_intent_sends() -> None:
    settings = parse_http_config({"intents": {
        "a": {"url": "http://h/a"},
        "b": {"url": "http://h/b", "idempotency_header": ""},
        "c": {"url": "http://h/c", "headers": {"IDEMPOTENCY-KEY": "mine"}},
    }}, {})
    shown = {key: e.as_dict()["idempotency_header"] for key, e in settings.endpoints.items()}
    assert shown == {"a": KEY, "b": None, "c": None}


def test_a_bad_header_setting_is_one_line_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = engine_refuses_config(
        tmp_path, capsys, '[http]\nidempotency_header = 7\n[http.intents."collect.ads"]\nurl = "http://127.0.0.1:9/x"\n')
    assert "[http] idempotency_header must be a header name" in err
