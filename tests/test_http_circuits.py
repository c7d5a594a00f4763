"""Circuit breakers per host: open, hold claims, half-open with one probe, close.

The state machine is checked on its own against a real database with a
frozen clock, then end to end: a real server counts what reaches it while
real workers run the http handler.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from queuetop.engine.handlers.circuits import Breaker, BreakerSettings, CircuitState
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import Deferred
from queuetop.engine.store.queries import Query, to_psycopg
from queuetop.engine.api import Queue

from conftest import async_wait_until, query as read_rows

from test_http import Answer, ScriptedServer, http_table, job_finished, rows, running, server  # noqa: F401

HOST = "api.example.com"
SETTINGS = BreakerSettings(failure_threshold=3, cooldown=30.0, max_cooldown=100.0)


async def circuit(queue: Queue, host: str) -> Any:
    found = [c for c in await queue.circuits() if c.host == host]
    return found[0] if found else None


def both(sql: str) -> Query:
    """A test's own statement, runnable on either backend."""
    query = Query(sql)
    query.postgres = to_psycopg(sql)
    return query


async def test_state_machine(db_path: Path | str) -> None:
    clock = FrozenClock()
    t0 = clock.now()
    async with await Queue.open(db_path, clock=clock) as queue:
        breaker = Breaker(queue.db, queue.clock, queue.changes)
        # Chunks of two intents that call the host, one that calls another
        # host, and one already due later than the circuit half-opens.
        calls = (await queue.submit("svc.a", chunks=[{}, {}])).job_id
        also = (await queue.submit("svc.b")).job_id
        other = (await queue.submit("elsewhere.c")).job_id
        later = (await queue.submit("svc.a")).job_id
        async with queue.db.transaction() as conn:
            await conn.execute(both("UPDATE chunks SET run_after = :t WHERE job_id = :j"), {"t": t0 + 500, "j": later})

        async def run_after(job_id: int) -> list[float]:
            return [c.run_after for c in await queue.chunks(job_id)]

        async def fail(admission: Any, error: str = "HTTP 503", **kw: Any) -> float | None:
            return await breaker.failed(admission, SETTINGS, error, intents=("svc.a", "svc.b"), **kw)

        # Closed: requests go through; failures below the threshold change nothing else.
        first = await breaker.admit(HOST, probe_window=10)
        assert not first.is_probe
        assert await fail(first) is None
        assert await fail(first) is None
        assert (await circuit(queue, HOST)).failures == 2
        # A success ends the run of failures.
        assert await breaker.succeeded(first, SETTINGS) is False
        assert (await circuit(queue, HOST)).failures == 0
        assert await fail(first) is None
        assert await fail(first) is None

        # The third in a row opens it, and in the same transaction holds the
        # pending chunks of every intent that calls the host.
        clock.advance(1)
        assert await fail(first, "HTTP 500 from api.example.com: boom") == t0 + 31
        state = await circuit(queue, HOST)
        assert (state.state, state.failures, state.opened_at, state.half_open_at, state.cooldown, state.opens) == \
            (CircuitState.OPEN, 3, t0 + 1, t0 + 31, 30.0, 1)
        assert state.last_error == "HTTP 500 from api.example.com: boom"
        assert await run_after(calls) == [t0 + 31, t0 + 31]
        assert await run_after(also) == [t0 + 31]
        assert await run_after(other) == [t0]          # another host's chunk: untouched
        assert await run_after(later) == [t0 + 500]    # already later: keeps its time

        # Open: every attempt is deferred until it half-opens, nothing is sent.
        with pytest.raises(Deferred) as deferred:
            await breaker.admit(HOST, probe_window=10)
        assert deferred.value.until == t0 + 31

        # Half-open: exactly one attempt gets the probe; the others wait for it.
        clock.set(t0 + 31)
        probe = await breaker.admit(HOST, probe_window=10)
        assert probe.is_probe
        with pytest.raises(Deferred) as deferred:
            await breaker.admit(HOST, probe_window=10)
        assert deferred.value.until == t0 + 41
        assert (await circuit(queue, HOST)).probe_in_flight

        # The probe fails: open again with the cooldown doubled, chunks held again.
        assert await fail(probe) == t0 + 31 + 60
        state = await circuit(queue, HOST)
        assert (state.state, state.cooldown, state.half_open_at, state.opens, state.probe_in_flight) == \
            (CircuitState.OPEN, 60.0, t0 + 91, 2, False)
        assert await run_after(calls) == [t0 + 91, t0 + 91]

        # A late failure of a request sent before it opened retries when it half-opens.
        assert await fail(first) == t0 + 91

        # A probe whose holder vanished is taken over after its deadline; a
        # cancelled one hands the slot back at once.
        clock.set(t0 + 91)
        lost = await breaker.admit(HOST, probe_window=10)
        clock.set(t0 + 101)
        taken_over = await breaker.admit(HOST, probe_window=10)
        assert taken_over.is_probe and taken_over.probe_token != lost.probe_token
        assert await breaker.succeeded(lost, SETTINGS) is False  # the old holder decides nothing
        await breaker.abandon(taken_over)
        assert (await circuit(queue, HOST)).state is CircuitState.OPEN

        # Failing again doubles up to the cap (100), and a Retry-After keeps it open longer.
        probe = await breaker.admit(HOST, probe_window=10)
        assert await fail(probe, not_before=t0 + 400) == t0 + 400
        assert (await circuit(queue, HOST)).cooldown == 100.0
        clock.set(t0 + 400)
        probe = await breaker.admit(HOST, probe_window=10)
        assert await fail(probe) == t0 + 500
        assert (await circuit(queue, HOST)).cooldown == 100.0

        # The probe gets an answer: closed, counters and cooldown reset.
        clock.set(t0 + 500)
        probe = await breaker.admit(HOST, probe_window=10)
        assert await breaker.succeeded(probe, SETTINGS) is True
        state = await circuit(queue, HOST)
        assert (state.state, state.failures, state.cooldown, state.opened_at, state.half_open_at) == \
            (CircuitState.CLOSED, 0, 30.0, None, None)
        assert not (await breaker.admit(HOST, probe_window=10)).is_probe
        assert state.as_dict()["state"] == "closed"


async def test_breaker_opens_holds_half_opens_and_closes(tmp_path: Path, server: ScriptedServer) -> None:
    """End to end with a frozen clock: the server counts every request that reaches it."""
    clock = FrozenClock()
    t0 = clock.now()
    db = tmp_path / "q.db"
    server.script("/collect", Answer(500, "upstream down"))
    http = http_table(server, {"collect.ads": {"path": "/collect", "timeout": 2, "failure_threshold": 3,
                                               "cooldown": 30}})
    async with running(db, http, clock=clock, concurrency=4, retry_base=1.0, retry_cap=1.0) as queue:
        job = (await queue.submit("collect.ads", chunks=[{"n": n} for n in range(6)], max_retries=10)).job_id

        async def attempts() -> int:
            return sum(c.attempt for c in await queue.chunks(job))

        async def settled(count: int) -> bool:
            """``count`` requests made, and every chunk handed back (none processing)."""
            chunks = await queue.chunks(job)
            return server.count() == count and all(c.status.value != "processing" for c in chunks)

        # Three failures in a row open the circuit. Four chunks were claimed
        # at once and slots freed by early failures may claim more before the
        # third lands, so a few more requests may already be on their way.
        await async_wait_until(lambda: server.count() >= 3, message="three requests")
        await async_wait_until(lambda: settled(server.count()), message="the first attempts to settle")
        opened = server.count()
        assert 3 <= opened <= 6
        state = await circuit(queue, server.host)
        assert (state.state, state.opened_at, state.half_open_at) == (CircuitState.OPEN, t0, t0 + 30)
        # Held: chunks never claimed wait for the half-open time.
        untried = [c for c in await queue.chunks(job) if c.attempt == 0]
        assert all(c.status.value == "pending" and c.run_after == t0 + 30 for c in untried)
        # The three failures up to the opening spent their attempts; a request
        # that failed late, on a circuit already open, was the outage's: refunded.
        assert await attempts() == 3

        # Still open a second before: chunks due then are deferred, nothing is sent.
        clock.set(t0 + 29)
        await asyncio.sleep(0.3)  # some fifteen claim polls; nothing may reach the server in them
        await async_wait_until(lambda: settled(opened), message="deferred chunks to be handed back")
        assert await attempts() == 3  # deferrals spend no attempt

        # Half-open: six chunks due, four claimed, one probe. It fails: open again for 60 s.
        clock.set(t0 + 30)
        await async_wait_until(lambda: settled(opened + 1), message="exactly one probe")
        state = await circuit(queue, server.host)
        assert (state.state, state.cooldown, state.half_open_at, state.opens) == \
            (CircuitState.OPEN, 60.0, t0 + 90, 2)
        assert await attempts() == 3  # a failed probe spends no attempt either
        # ... and its chunk waits past the next half-open time, so another chunk probes next.
        (prober,) = [c for c in await queue.chunks(job) if c.run_after == t0 + 91]

        clock.set(t0 + 60)  # chunks deferred behind the probe wake up, find it open, wait again
        await asyncio.sleep(0.3)
        await async_wait_until(lambda: settled(opened + 1), message="deferred chunks to be handed back")

        # The host recovers; the next probe closes the circuit and the held chunks run.
        server.script("/collect", Answer(200, "ok"))
        clock.set(t0 + 90)
        await async_wait_until(lambda: _closed(queue, server.host), message="the circuit to close")
        clock.set(t0 + 100)  # past the probe window of chunks deferred behind the probe
        await async_wait_until(lambda: job_finished(queue, job), message="the job to end")
        chunks = await queue.chunks(job)
        assert all(c.status.value == "completed" for c in chunks)
        assert server.count() == opened + 1 + 6  # each chunk succeeded with one request
        assert await attempts() == 3 + 6  # the outage cost only the failures that opened the circuit
        assert (await queue.chunk(job, prober.chunk_index)).attempt == prober.attempt + 1  # its probe was refunded
        assert (await circuit(queue, server.host)).failures == 0


async def _closed(queue: Queue, host: str) -> bool:
    state = await circuit(queue, host)
    return state is not None and state.state is CircuitState.CLOSED


async def test_requests_to_a_failing_host_stay_bounded(tmp_path: Path, server: ScriptedServer) -> None:
    """Real clock, short cooldowns: what reaches a host that always fails, counted on the server."""
    server.script("/down", Answer(503, "down"))
    threshold, concurrency = 3, 4
    db = tmp_path / "q.db"
    http = http_table(server, {"collect.ads": {"path": "/down", "timeout": 1, "failure_threshold": threshold,
                                               "cooldown": 0.25, "max_cooldown": 0.5}})
    async with running(db, http, concurrency=concurrency, retry_base=0.01, retry_cap=0.02) as queue:
        await queue.submit("collect.ads", chunks=[{"n": n} for n in range(20)], max_retries=1000)

        async def reopened(times: int) -> Any:
            state = await circuit(queue, server.host)
            return state if state is not None and state.opens >= times else None

        # Open, then three failed probes (cooldowns 0.25, 0.5, 0.5): about 1.5 s.
        await async_wait_until(lambda: reopened(4), timeout=15, message="three failed probes")
    # Stopped: every claim either sent one request or was handed back.
    count = server.count()
    opens, cooldown = rows(db, "SELECT opens, cooldown FROM circuits")[0]
    attempts, failed = rows(db, "SELECT sum(attempt), sum(status = 'failed') FROM chunks")[0]
    # Without the breaker, 20 chunks retried every ~20 ms by 4 slots would
    # have sent hundreds of requests by now. With it: the run that opened the
    # circuit (plus what was already in flight then), then one probe per cooldown.
    assert count <= threshold + (concurrency - 1) + (opens - 1), (count, opens)
    assert cooldown == 0.5  # doubled, capped
    assert failed == 0
    # Deferred chunks, late failures and failed probes gave their attempts back:
    # only the run of failures that opened the circuit spent any.
    assert attempts == threshold, (attempts, count)


async def test_an_outage_the_breaker_handles_costs_no_chunk_its_retries(tmp_path: Path,
                                                                       server: ScriptedServer) -> None:
    """200 chunks against a host that answers 503 for a while, then recovers: every chunk completes."""
    server.script("/flaky", Answer(503, "down for maintenance"))
    threshold = 5
    db = tmp_path / "q.db"
    http = http_table(server, {"collect.ads": {"path": "/flaky", "timeout": 1, "failure_threshold": threshold,
                                               "cooldown": 0.2, "max_cooldown": 0.8}})
    async with running(db, http, concurrency=8, retry_base=0.01, retry_cap=0.05) as queue:
        job = (await queue.submit("collect.ads", chunks=[{"n": n} for n in range(200)], max_retries=3)).job_id

        async def probes_failed(n: int) -> bool:
            state = await circuit(queue, server.host)
            return state is not None and state.opens >= n

        await async_wait_until(lambda: probes_failed(4), timeout=20, message="the outage to outlast three probes")
        server.script("/flaky", Answer(200, "ok"))  # the host is back
        await async_wait_until(lambda: job_finished(queue, job), timeout=60, message=lambda: (
            f"the job to end: {read_rows(db, 'SELECT * FROM jobs')}\n"
            f"{read_rows(db, 'SELECT status, attempt, count(*), min(run_after) FROM chunks GROUP BY 1, 2')}\n"
            f"{read_rows(db, 'SELECT * FROM circuits')}\nnow {queue.clock.now()}"))
        assert (await queue.job(job)).status.value == "completed"
        chunks = await queue.chunks(job)
        assert all(c.status.value == "completed" for c in chunks)
        assert max(c.attempt for c in chunks) <= 2  # the outage cost at most the one pre-breaker try
    assert server.count() < 200 + threshold + 8 + 10  # bounded: no retry storm during the outage
