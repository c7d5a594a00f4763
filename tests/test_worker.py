"""Workers in this process: running handlers, errors and retries, cancel, pause, graceful stop, logs."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from queuetop.engine.handlers.context import ChunkContext
from queuetop.engine.model.exceptions import Deferred, PermanentError, RetryAt
from queuetop.engine.handlers import demo
from queuetop.engine.api import Queue
from queuetop.engine.handlers.registry import Registry
from queuetop.engine.services import claims
from queuetop.engine.services.worker import Worker

from conftest import assert_counters, async_wait_until, fast_config, query, scalar


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
async def live(db_path: Path, registry: Registry) -> AsyncIterator[Queue]:
    """A queue on the real clock with fast settings; counters checked at the end."""
    queue = await Queue.open(db_path, fast_config(), registry=registry)
    try:
        yield queue
    finally:
        await queue.close()
    assert_counters(db_path)


@asynccontextmanager
async def running(queue: Queue, **kw: Any) -> AsyncIterator[Worker]:
    """A worker running in the background; stopped (gracefully) on the way out."""
    stop = asyncio.Event()
    worker = Worker(queue, **kw)
    task = asyncio.create_task(worker.run(stop))
    try:
        await async_wait_until(lambda: scalar(queue.db.path, "SELECT count(*) FROM workers WHERE id = ?",
                                              (worker.id,)), message="the worker to register")
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def job_ended(queue: Queue, job_id: int, timeout: float = 10.0) -> str:
    async def ended() -> str | None:
        job = await queue.job(job_id)
        return job.status.value if job.status.finished else None
    return await async_wait_until(ended, timeout, message=f"job {job_id} to end")


async def chunk_processing(queue: Queue, job_id: int, index: int = 0) -> None:
    async def processing() -> bool:
        return (await queue.chunk(job_id, index)).status.value == "processing"
    await async_wait_until(processing, message=f"job {job_id} chunk {index} to be processing")


async def test_worker_drains_jobs(live: Queue, db_path: Path) -> None:
    jobs = [(await live.submit("demo.noop", chunks=[{"n": n} for n in range(n_chunks)])).job_id
            for n_chunks in (50, 120, 30)]
    async with running(live, concurrency=8) as worker:
        for job in jobs:
            assert await job_ended(live, job) == "completed"
    assert worker.claimed == 200
    assert query(db_path, "SELECT count(*), min(attempt), max(attempt) FROM chunks WHERE status = 'completed'") == [
        (200, 1, 1)]
    assert query(db_path, "SELECT status, chunks_done, chunks_failed, concurrency FROM workers") == [
        ("offline", 200, 0, 8)]
    assert scalar(db_path, "SELECT count(*) FROM chunk_attempts") == 0


async def test_handlers_get_their_context(live: Queue, registry: Registry) -> None:
    seen: list[dict[str, Any]] = []
    main_thread = threading.get_ident()

    async def async_handler(ctx: ChunkContext) -> dict[str, Any]:
        seen.append({"kind": "async", "params": ctx.params, "job_params": ctx.job_params, "intent": ctx.intent,
                     "attempt": ctx.attempt, "index": ctx.chunk_index, "cancelled": ctx.cancelled(),
                     "off_loop": threading.get_ident() != main_thread})
        ctx.log.info(f"async chunk {ctx.chunk_index}")
        return {"echo": ctx.params["n"]}

    def sync_handler(ctx: ChunkContext) -> int:
        seen.append({"kind": "sync", "off_loop": threading.get_ident() != main_thread, "worker": ctx.worker_id})
        ctx.log.warning("from a thread")
        return 41 + ctx.params["n"]

    registry.add("t.async", async_handler)
    registry.add("t.sync", sync_handler)
    a = (await live.submit("t.async", chunks=[{"n": 1}, {"n": 2}], params={"account": 7})).job_id
    s = (await live.submit("t.sync", chunks=[{"n": 1}])).job_id
    async with running(live) as worker:
        assert await job_ended(live, a) == "completed"
        assert await job_ended(live, s) == "completed"
    async_seen = sorted((x for x in seen if x["kind"] == "async"), key=lambda x: x["index"])
    # ctx.params: the job's params with the chunk's own over them
    assert [x["params"] for x in async_seen] == [{"account": 7, "n": 1}, {"account": 7, "n": 2}]
    assert {(x["intent"], x["attempt"], x["cancelled"], x["off_loop"]) for x in async_seen} == {
        ("t.async", 1, False, False)}
    assert all(x["job_params"] == {"account": 7} for x in async_seen)
    (sync_seen,) = [x for x in seen if x["kind"] == "sync"]
    assert sync_seen == {"kind": "sync", "off_loop": True, "worker": worker.id}  # sync handlers run off the loop
    await live.logs.flush()  # a bare worker only buffers; the Runner (or close) flushes
    assert [c.result for c in await live.chunks(a)] == [{"echo": 1}, {"echo": 2}]
    assert (await live.chunk(s, 0)).result == 42
    logs = await live.job_logs(a)
    assert sorted(line.message for line in logs) == ["async chunk 0", "async chunk 1"]
    assert {(line.level, line.worker_id) for line in logs} == {("info", worker.id)}
    assert (await live.job(a)).log_count == 2
    assert [(line.level, line.message) for line in await live.job_logs(s)] == [("warning", "from a thread")]


async def test_transient_error_is_retried(live: Queue, registry: Registry) -> None:
    def flaky(ctx: ChunkContext) -> str:
        if ctx.attempt == 1:
            raise ValueError("upstream said 503")
        return "ok"

    registry.add("t.flaky", flaky)
    job = (await live.submit("t.flaky", max_retries=3)).job_id
    async with running(live):
        assert await job_ended(live, job) == "completed"
    chunk = await live.chunk(job, 0)
    assert (chunk.attempt, chunk.result) == (2, "ok")
    (attempt,) = await live.attempts(job)
    assert (attempt.attempt, attempt.outcome, attempt.error) == (1, "transient", "ValueError: upstream said 503")


async def test_retries_run_out(live: Queue, registry: Registry) -> None:
    calls: list[float] = []

    async def broken(ctx: ChunkContext) -> None:
        calls.append(time.monotonic())
        raise ConnectionError(f"refused on attempt {ctx.attempt}")

    registry.add("t.broken", broken)
    job = (await live.submit("t.broken", max_retries=2)).job_id
    async with running(live):
        assert await job_ended(live, job) == "failed"
    assert len(calls) == 3
    attempts = await live.attempts(job)
    assert [(a.attempt, a.outcome, a.error) for a in attempts] == [
        (n, "transient", f"ConnectionError: refused on attempt {n}") for n in (1, 2, 3)]
    assert attempts[0].ended_at <= attempts[1].ended_at <= attempts[2].ended_at
    chunk = await live.chunk(job, 0)
    assert (chunk.status.value, chunk.attempt, chunk.last_error) == ("failed", 3, "ConnectionError: refused on attempt 3")


async def test_permanent_error_is_not_retried(live: Queue, registry: Registry) -> None:
    def reject(ctx: ChunkContext) -> None:
        raise PermanentError("400: account 7 does not exist")

    registry.add("t.reject", reject)
    job = (await live.submit("t.reject", chunks=[{}, {}], max_retries=5)).job_id
    async with running(live):
        assert await job_ended(live, job) == "failed"
    attempts = await live.attempts(job)
    assert [(a.chunk_index, a.attempt, a.outcome, a.error) for a in attempts] == [
        (0, 1, "permanent", "400: account 7 does not exist"), (1, 1, "permanent", "400: account 7 does not exist")]


@pytest.mark.parametrize(("key", "target"), [
    ("no.such.intent", None),                                  # registered nowhere in this process
    ("t.unimportable", "queuetop_no_such_module:run"),         # registered, but its module does not load here
])
async def test_an_intent_this_process_cannot_run_waits_unspent(live: Queue, registry: Registry, key: str,
                                                              target: str | None) -> None:
    """Its chunks stay pending with no attempt spent, for a process that can run them; other work goes on."""
    if target:
        registry.add(key, target)
    job = (await live.submit(key, chunks=[{}, {}, {}], max_retries=3)).job_id
    async with running(live):
        if target:  # the first claim finds out, gives the chunk back and stops claiming the intent
            await async_wait_until(lambda: key not in live.registry.runnable(), timeout=10)
        later = (await live.submit("demo.noop")).job_id
        assert await job_ended(live, later) == "completed"
    chunks = await live.chunks(job)
    assert {(c.status.value, c.attempt) for c in chunks} == {("pending", 0)}
    assert await live.attempts(job) == []
    assert (await live.job(job)).status.value in ("pending", "running")


async def test_a_chunk_that_runs_too_long_times_out(live: Queue) -> None:
    job = (await live.submit("demo.sleep", params={"seconds": 30}, timeout=0.2, max_retries=0)).job_id
    started = time.monotonic()
    async with running(live):
        assert await job_ended(live, job) == "failed"
    assert time.monotonic() - started < 10
    (attempt,) = await live.attempts(job)
    assert (attempt.outcome, attempt.error) == ("timed_out", "timed out after 0.2s")


async def test_chunks_claimed_together_each_time_out_at_their_own_deadline(live: Queue, registry: Registry) -> None:
    """One claim batch, two timeouts: the short one times out, the long one's chunk completes."""
    async def sleeper(ctx: ChunkContext) -> str:
        await asyncio.sleep(ctx.job_params["seconds"])
        return "woke"

    registry.add("t.sleeper", sleeper)
    short = (await live.submit("t.sleeper", params={"seconds": 30}, timeout=0.3, max_retries=0)).job_id
    long = (await live.submit("t.sleeper", params={"seconds": 0.8}, timeout=30, max_retries=0)).job_id
    async with running(live, concurrency=4) as worker:
        assert await job_ended(live, short) == "failed"
        assert await job_ended(live, long) == "completed"
    assert worker.claimed == 2
    (attempt,) = await live.attempts(short)
    assert (attempt.outcome, attempt.error) == ("timed_out", "timed out after 0.3s")
    assert await live.attempts(long) == []
    short_chunk, long_chunk = await live.chunk(short, 0), await live.chunk(long, 0)
    assert long_chunk.result == "woke"
    assert short_chunk.finished_at is not None and long_chunk.finished_at is not None
    assert short_chunk.finished_at < long_chunk.finished_at


async def test_a_new_attempt_is_not_timed_out_by_the_batch_of_the_first(live: Queue, registry: Registry) -> None:
    """A chunk retried soon runs under its own deadline, not the one its first batch still waits for."""
    stuck_cancelled = asyncio.Event()

    async def stuck(ctx: ChunkContext) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stuck_cancelled.set()
            raise

    async def retried(ctx: ChunkContext) -> str:
        if ctx.attempt == 1:
            raise RetryAt("again soon", at=time.time() + 0.3)  # well inside the first batch's 0.6 s
        await stuck_cancelled.wait()  # still running when the first batch's deadline passes
        return f"attempt {ctx.attempt}"

    registry.add("t.stuck", stuck)
    registry.add("t.retried", retried)
    hung = (await live.submit("t.stuck", timeout=0.6, max_retries=0)).job_id
    again = (await live.submit("t.retried", timeout=0.6, max_retries=1)).job_id
    async with running(live, concurrency=4):
        assert await job_ended(live, hung) == "failed"
        assert await job_ended(live, again) == "completed"
    assert (await live.chunk(again, 0)).result == "attempt 2"
    assert [a.outcome for a in await live.attempts(again)] == ["transient"]
    assert [a.outcome for a in await live.attempts(hung)] == ["timed_out"]


async def test_handler_timeout_error_is_an_ordinary_transient_error(live: Queue, registry: Registry) -> None:
    async def upstream_timeout(ctx: ChunkContext) -> str:
        if ctx.attempt == 1:
            raise TimeoutError("upstream read timed out")
        return "ok"

    registry.add("t.upstream", upstream_timeout)
    job = (await live.submit("t.upstream", timeout=60)).job_id
    async with running(live):
        assert await job_ended(live, job) == "completed"
    (attempt,) = await live.attempts(job)
    assert (attempt.outcome, attempt.error) == ("transient", "TimeoutError: upstream read timed out")


async def test_deferred_gives_the_attempt_back_and_retry_at_names_the_time(live: Queue, registry: Registry) -> None:
    seen: list[tuple[str, int]] = []

    def deferring(ctx: ChunkContext) -> str:
        seen.append(("defer", ctx.attempt))
        if len(seen) == 1:
            raise Deferred("circuit open", until=time.time() + 0.1)
        return "done"

    def told_when(ctx: ChunkContext) -> str:
        seen.append(("retry_at", ctx.attempt))
        if ctx.attempt == 1:
            raise RetryAt("429 Too Many Requests", at=time.time() + 0.1)
        return "done"

    registry.add("t.defer", deferring)
    registry.add("t.retry_at", told_when)
    deferred = (await live.submit("t.defer")).job_id
    async with running(live):
        assert await job_ended(live, deferred) == "completed"
        retried = (await live.submit("t.retry_at")).job_id
        assert await job_ended(live, retried) == "completed"
    assert seen == [("defer", 1), ("defer", 1), ("retry_at", 1), ("retry_at", 2)]
    assert await live.attempts(deferred) == []
    assert [(a.outcome, a.error) for a in await live.attempts(retried)] == [("transient", "429 Too Many Requests")]


async def test_on_finalize_job_runs_with_the_outcome(live: Queue) -> None:
    job = (await live.submit("demo.noop", chunks=[{}, {}], on_finalize="demo.report")).job_id
    async with running(live):
        assert await job_ended(live, job) == "completed"
        follow_up = await async_wait_until(lambda: scalar(live.db.path, "SELECT id FROM jobs WHERE parent_job_id = ?",
                                                          (job,)))
        assert await job_ended(live, follow_up) == "completed"
    await live.logs.flush()
    result = (await live.chunk(follow_up, 0)).result
    assert result == {"job_id": job, "status": "completed", "chunks_total": 2, "chunks_completed": 2,
                      "chunks_failed": 0, "chunks_cancelled": 0}
    assert [line.message for line in await live.job_logs(follow_up)] == [f"job {job} ended completed"]


# -- cancel ----------------------------------------------------------------------------


def watched(registry: Registry, key: str, events: dict[str, float]) -> None:
    """Register ``demo.sleep`` under ``key``, noting when it starts, returns and stops."""

    async def sleep(ctx: ChunkContext) -> Any:
        events["started"] = time.monotonic()
        try:
            result = await demo.sleep(ctx)
            events["returned"] = time.monotonic()
            return result
        finally:
            events["stopped"] = time.monotonic()

    registry.add(key, sleep)


async def test_cancel_stops_the_running_handler(live: Queue, registry: Registry, db_path: Path) -> None:
    events: dict[str, float] = {}
    watched(registry, "t.sleep", events)
    job = (await live.submit("t.sleep", chunks=[{"seconds": 30}, {"seconds": 30}])).job_id
    async with running(live, concurrency=1) as worker:
        await chunk_processing(live, job, 0)
        await async_wait_until(lambda: "started" in events)
        cancelled_at = time.monotonic()
        result = await live.cancel(job)
        assert (result.status, result.chunks) == ("cancelled", 2)
        await async_wait_until(lambda: "stopped" in events, timeout=5, message="the handler to stop")
        assert events["stopped"] - cancelled_at < 2.0
        assert "returned" not in events
        assert (await live.job(job)).status.value == "cancelled"
    assert [c.status.value for c in await live.chunks(job)] == ["cancelled", "cancelled"]
    assert query(db_path, "SELECT chunks_done, chunks_failed FROM workers WHERE id = ?", (worker.id,)) == [(0, 0)]
    assert await live.attempts(job) == []


async def test_cancel_from_another_process_is_noticed_at_the_next_heartbeat(live: Queue, registry: Registry,
                                                                              db_path: Path) -> None:
    events: dict[str, float] = {}
    watched(registry, "t.sleep", events)
    job = (await live.submit("t.sleep", params={"seconds": 30})).job_id
    async with running(live):
        await chunk_processing(live, job)
        async with await Queue.open(db_path) as operator:  # its own connections: no in-process notice
            await operator.cancel(job)
        await async_wait_until(lambda: "stopped" in events, timeout=5, message="the handler to stop")
        assert "returned" not in events
    assert (await live.chunk(job, 0)).status.value == "cancelled"


async def test_a_result_that_comes_after_the_cancel_is_fenced_out(db_path: Path, registry: Registry,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The handler finishes before its worker hears of the cancel: the result is discarded."""
    events: dict[str, float] = {}
    watched(registry, "t.sleep", events)
    caplog.set_level(logging.INFO, logger="queuetop.engine")
    async with await Queue.open(db_path, fast_config(heartbeat_interval=60), registry=registry) as queue:
        job = (await queue.submit("t.sleep", params={"seconds": 0.5})).job_id
        async with running(queue) as worker:
            await chunk_processing(queue, job)
            async with await Queue.open(db_path) as operator:
                await operator.cancel(job)
            await async_wait_until(lambda: "returned" in events, message="the handler to return")
            await async_wait_until(lambda: any("discarded: lease lost" in r.getMessage() for r in caplog.records),
                                   message="the late result to be fenced out")
        chunk = await queue.chunk(job, 0)
        assert (chunk.status.value, chunk.result) == ("cancelled", None)
        job_row = await queue.job(job)
        assert (job_row.status.value, job_row.chunks_completed, job_row.chunks_cancelled) == ("cancelled", 0, 1)
        assert query(db_path, "SELECT chunks_done FROM workers WHERE id = ?", (worker.id,)) == [(0,)]
    assert_counters(db_path)


# -- pause, stop ---------------------------------------------------------------------------


async def test_pause_stops_new_claims_until_resume(live: Queue) -> None:
    async with running(live):
        await live.pause()
        job = (await live.submit("demo.noop", chunks=[{}] * 5)).job_id
        # Absence can only be observed over time: ten poll intervals, nothing claimed.
        await asyncio.sleep(10 * live.settings.poll_interval)
        assert {c.status.value for c in await live.chunks(job)} == {"pending"}
        assert (await live.job(job)).status.value == "pending"
        await live.resume()
        assert await job_ended(live, job) == "completed"


async def test_stop_lets_in_flight_chunks_finish_within_grace(live: Queue, db_path: Path) -> None:
    job = (await live.submit("demo.sleep", chunks=[{"seconds": 0.4}] * 3)).job_id
    stop = asyncio.Event()
    worker = Worker(live, concurrency=4)
    task = asyncio.create_task(worker.run(stop))
    try:
        for index in range(3):
            await chunk_processing(live, job, index)
        stop.set()
        await async_wait_until(lambda: query(db_path, "SELECT status FROM workers") == [("stopping",)],
                               message="the worker to say it is stopping")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert (await live.job(job)).status.value == "completed"
    assert query(db_path, "SELECT status, chunks_done FROM workers") == [("offline", 3)]


async def test_stop_releases_what_grace_does_not_cover(db_path: Path) -> None:
    async with await Queue.open(db_path, fast_config(grace_period=0.1)) as queue:
        job = (await queue.submit("demo.sleep", chunks=[{"seconds": 30}, {"seconds": 0.01}])).job_id
        stop = asyncio.Event()
        worker = Worker(queue, concurrency=2)
        task = asyncio.create_task(worker.run(stop))
        try:
            await async_wait_until(lambda: scalar(db_path, "SELECT status FROM chunks WHERE chunk_index = 1")
                                   == "completed")
            await chunk_processing(queue, job, 0)
            stopped = time.monotonic()
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        assert time.monotonic() - stopped < 5
        assert query(db_path, "SELECT chunk_index, status, attempt, worker_id, lease_token FROM chunks ORDER BY 1") == [
            (0, "pending", 0, None, None), (1, "completed", 1, worker.id, None)]
        assert await queue.attempts(job) == []  # a release is not a failed attempt
        assert query(db_path, "SELECT status FROM workers") == [("offline",)]
        # The released chunk runs again later with its first attempt.
        assert (await queue.job(job)).status.value == "running"
    assert_counters(db_path)


async def test_logs_reach_the_table_in_batches_and_on_stop(db_path: Path) -> None:
    config = fast_config(log_flush_interval=3600, log_flush_entries=100)
    async with await Queue.open(db_path, config) as queue:
        job = (await queue.submit("demo.log", chunks=[{"lines": 250}])).job_id
        log_stop = asyncio.Event()
        flusher = asyncio.create_task(queue.logs.run(log_stop))
        async with running(queue):
            assert await job_ended(queue, job) == "completed"
            # 250 lines: the size trigger writes long before the hour is up. A flush
            # takes everything queued by then, so under load one batch may hold
            # more than 100 and leave fewer than 100 behind for the final flush.
            await async_wait_until(lambda: scalar(db_path, "SELECT count(*) FROM task_logs") >= 100,
                                   message="a full batch to be written")
        log_stop.set()
        await flusher
        assert scalar(db_path, "SELECT count(*) FROM task_logs") == 250
    messages = [row[0] for row in query(db_path, "SELECT message FROM task_logs ORDER BY id")]
    assert messages == [f"line {n}" for n in range(250)]
    assert_counters(db_path)


async def test_a_line_from_a_handler_thread_is_written_an_interval_after_it_and_never_raises(
        db_path: Path) -> None:
    """An empty buffer sleeps until a line comes (an idle engine wakes for nothing); a thread's line
    wakes it and is written one interval later. A line logged after the engine stopped raises
    nothing in the handler: it waits for the next flush."""
    config = fast_config(log_flush_interval=0.05)
    async with await Queue.open(db_path, config) as queue:
        job = (await queue.submit("demo.noop")).job_id
        stop = asyncio.Event()
        flusher = asyncio.create_task(queue.logs.run(stop))
        await asyncio.sleep(0)  # one turn: the flusher finds nothing queued and waits for a line
        thread = threading.Thread(target=queue.logs.add, args=(job, None, "w", "info", "from a thread"))
        thread.start()
        thread.join()
        await async_wait_until(lambda: scalar(db_path, "SELECT count(*) FROM task_logs") == 1,
                               message="the thread's line to be written")
        stop.set()
        await flusher
    late = threading.Thread(target=queue.logs.add, args=(job, None, "w", "info", "after the stop"))
    late.start()
    late.join()
    assert len(queue.logs) == 1


async def test_heartbeats_move_and_only_update(live: Queue, db_path: Path) -> None:
    async with running(live) as worker:
        first = scalar(db_path, "SELECT last_heartbeat FROM workers")
        await async_wait_until(lambda: scalar(db_path, "SELECT last_heartbeat FROM workers") > first,
                               message="a heartbeat")
        assert scalar(db_path, "SELECT count(*) FROM workers") == 1
        (info,) = await live.workers()
        assert info.id == worker.id and info.status.value == "online"


async def test_a_chunk_deferred_and_claimed_again_is_not_taken_for_its_lost_lease(db_path: Path,
                                                                                  registry: Registry) -> None:
    """The lease check names the claim it read, not the chunk id: a new claim of the chunk runs on.

    Between the heartbeat's read of the leases and its look at what is in
    flight, a chunk may settle (deferred: pending again) and be claimed again
    by the same worker. That new claim's lease is current; cancelling it as
    lost left the chunk processing with no task, until its timeout.
    """
    deferrals: dict[int, int] = {}

    async def defers_thrice(ctx: ChunkContext) -> str:
        deferrals[ctx.chunk_index] = deferrals.get(ctx.chunk_index, 0) + 1
        await asyncio.sleep(0.001 * (ctx.chunk_index % 3))  # in flight across a lease check or not
        if deferrals[ctx.chunk_index] <= 3:
            raise Deferred("host busy", until=0.0)  # due again at once
        return "done"

    registry.add("t.defers", defers_thrice)
    # The lease check runs every few milliseconds, so it meets re-claims.
    async with await Queue.open(db_path, fast_config(heartbeat_interval=0.005, stale_after=5.0),
                                registry=registry) as queue:
        job = (await queue.submit("t.defers", chunks=[{} for _ in range(300)])).job_id
        async with running(queue, concurrency=8):
            async def finished() -> bool:
                return (await queue.job(job)).status.finished

            await async_wait_until(finished, timeout=30, message=lambda: (
                f"the job to end: {query(db_path, 'SELECT status, count(*) FROM chunks GROUP BY 1')}"))
        assert (await queue.job(job)).status.value == "completed"
        assert all(n == 4 for n in deferrals.values()) and len(deferrals) == 300
    assert_counters(db_path)


async def test_a_chunk_held_in_the_workers_name_that_nothing_runs_is_given_back(
        live: Queue, registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    """An orphan: processing under a live worker, no task of it runs it, no outcome on its way.

    Made here by claiming a chunk in the worker's name from outside it, as a
    lost outcome or a claim whose answer never reached the worker leaves it.
    Its heartbeats would have kept it processing until its timeout (an hour).
    """
    caplog.set_level(logging.INFO, logger="queuetop.engine")
    ran: list[int] = []

    async def records(ctx: ChunkContext) -> None:
        ran.append(ctx.attempt)

    async with running(live) as worker:
        job = (await live.submit("t.orphan")).job_id  # not registered yet: the worker leaves it
        (taken,), _ = await claims.claim(live.db, worker.id, 1, live.clock.now())
        assert taken.job_id == job
        registry.add("t.orphan", records)

        async def finished() -> bool:
            return (await live.job(job)).status.finished

        await async_wait_until(finished, timeout=10, message="the orphan to be given back and run")
    assert (await live.job(job)).status.value == "completed"
    assert ran == [1]  # given back unspent: its one run is attempt 1
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"job {job} chunk 0 is processing under this worker, but nothing here runs it" in m for m in said)


async def test_past_its_abandoned_threads_limit_a_worker_claims_nothing_more(db_path: Path) -> None:
    """Sync handlers that outlive their timeout leave threads behind; past ``abandoned_limit`` of
    them the worker stops taking work, whichever of its loops would claim (on SQLite the settle
    that frees a slot claims for it), and the rest of the queue waits, unspent, until some end."""
    registry = Registry()
    release = threading.Event()

    def hang(ctx: ChunkContext) -> None:
        release.wait(30)

    registry.add("t.hang", hang)
    queue = await Queue.open(db_path, fast_config(), registry=registry)
    stop = asyncio.Event()
    try:
        await queue.submit_many([{"intent": "t.hang", "timeout": 0.2, "max_retries": 0} for _ in range(10)])
        worker = Worker(queue, concurrency=2)  # abandoned_limit 2: held back from the third
        runner = asyncio.create_task(worker.run(stop))
        await async_wait_until(
            lambda: worker.abandoned > worker.abandoned_limit
            and scalar(db_path, "SELECT count(*) FROM chunks WHERE status = 'processing'") == 0,
            message="the worker held back with nothing processing", timeout=30)
        pending = scalar(db_path, "SELECT count(*) FROM jobs WHERE status = 'pending'")
        assert pending >= 10 - (worker.abandoned_limit + worker.concurrency), \
            f"{10 - pending} jobs taken past the abandoned-thread limit"
        assert scalar(db_path, "SELECT max(attempt) FROM chunks WHERE status = 'pending'") == 0
        release.set()  # the threads end: the worker claims again and the rest run
        await async_wait_until(
            lambda: scalar(db_path, "SELECT count(*) FROM jobs WHERE status = 'pending'") == 0,
            message="the rest to be claimed once the threads ended", timeout=30)
        stop.set()
        await asyncio.wait_for(runner, 15)
    finally:
        release.set()
        stop.set()
        await queue.close()
    assert_counters(db_path)
