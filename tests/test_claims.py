"""Claims: batches, priority then age, back-off, pause, and fencing by lease token."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuetop.engine.services import claims

from queuetop.engine.services import maintenance
from queuetop.engine.services.claims import Claim
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import ActionRefused
from queuetop.engine.api import Queue
from queuetop.engine.services.worker import SQL as WORKER_SQL

from conftest import query, scalar


async def claim(queue: Queue, worker: str, limit: int = 1) -> list[Claim]:
    batch, specs = await claims.claim(queue.db, worker, limit, queue.clock.now())
    assert set(specs) == {c.job_id for c in batch}
    return batch


async def register(queue: Queue, worker_id: str) -> None:
    async with queue.db.transaction() as conn:
        await conn.execute(WORKER_SQL["register"], {"id": worker_id, "host": "test", "pid": 1, "concurrency": 1, "intents": None,
                                                    "now": queue.clock.now()})


async def test_claims_come_in_batches(queue: Queue, clock: FrozenClock, db_path: Path) -> None:
    job = (await queue.submit("demo.noop", chunks=[{"n": n} for n in range(10)], params={"p": 1})).job_id
    first = await claim(queue, "w1", 4)
    second = await claim(queue, "w2", 4)
    third = await claim(queue, "w1", 4)
    assert [c.chunk_index for c in first] == [0, 1, 2, 3]
    assert [c.chunk_index for c in second] == [4, 5, 6, 7]
    assert [c.chunk_index for c in third] == [8, 9]
    assert await claim(queue, "w3", 4) == []
    everything = first + second + third
    assert len({c.lease_token for c in everything}) == 10  # a fresh token per claim
    assert {(c.attempt, c.claimed_at) for c in everything} == {(1, clock.now())}
    assert [c.params for c in everything] == [{"n": n} for n in range(10)]
    rows = query(db_path, "SELECT chunk_index, status, worker_id, lease_token FROM chunks ORDER BY chunk_index")
    owners = {c.chunk_index: ("w1" if c in first or c in third else "w2", c.lease_token) for c in everything}
    assert rows == [(i, "processing", *owners[i]) for i in range(10)]
    state = await queue.job(job)
    assert state.status.value == "running" and state.started_at == clock.now()


async def test_claims_take_the_job_spec(queue: Queue) -> None:
    job = (await queue.submit("reports.collect", params={"account": 7}, max_retries=5, timeout=42)).job_id
    batch, specs = await claims.claim(queue.db, "w", 5, queue.clock.now())
    assert specs[job] == claims.JobSpec(job, "reports.collect", {"account": 7}, 5, 42.0)


async def test_priority_then_age(queue: Queue, clock: FrozenClock) -> None:
    old = (await queue.submit("x", chunks=[{}, {}])).job_id
    clock.advance(1)
    urgent = (await queue.submit("x", chunks=[{}, {}], priority=5)).job_id
    clock.advance(1)
    newer = (await queue.submit("x", chunks=[{}])).job_id
    clock.advance(1)
    medium = (await queue.submit("x", chunks=[{}], priority=1)).job_id
    order = []
    while batch := await claim(queue, "w", 1):
        order.append((batch[0].job_id, batch[0].chunk_index))
    assert order == [(urgent, 0), (urgent, 1), (medium, 0), (old, 0), (old, 1), (newer, 0)]


async def test_chunks_in_back_off_wait_for_their_time(queue: Queue, clock: FrozenClock) -> None:
    await queue.submit("x", chunks=[{}, {}])
    first, second = await claim(queue, "w", 2)
    await queue.settle([claims.failure(first, "w", "boom", permanent=False, max_retries=3, now=clock.now(),
                                       retry_at=clock.now() + 30)])
    assert await claim(queue, "w") == []
    clock.advance(29.9)
    assert await claim(queue, "w") == []
    clock.advance(0.1)
    again = await claim(queue, "w")
    assert [(c.chunk_id, c.attempt) for c in again] == [(first.chunk_id, 2)]
    assert again[0].lease_token != first.lease_token
    await queue.settle([claims.success(c, "w", None, clock.now()) for c in (*again, second)])


async def test_pause_blocks_claims(queue: Queue) -> None:
    await queue.submit("x", chunks=[{}, {}, {}])
    held = await claim(queue, "w")
    result = await queue.pause(by="test")
    assert result.status == "paused" and await queue.is_paused()
    assert (await queue.totals()).paused
    assert await claim(queue, "w", 10) == []
    with pytest.raises(ActionRefused, match="already paused"):
        await queue.pause()
    # Chunks already held still end normally while paused.
    settled = await queue.settle([claims.success(held[0], "w", None, queue.clock.now())])
    assert len(settled.applied) == 1
    await queue.resume()
    assert not await queue.is_paused()
    with pytest.raises(ActionRefused, match="already running"):
        await queue.resume()
    rest = await claim(queue, "w", 10)
    assert len(rest) == 2
    await queue.settle([claims.success(c, "w", None, queue.clock.now()) for c in rest])


async def test_results_are_kept_and_truncated(queue: Queue, clock: FrozenClock) -> None:
    job = (await queue.submit("x", chunks=[{}, {}])).job_id
    small, big = await claim(queue, "w", 2)
    await queue.settle([claims.success(small, "w", {"rows": 12}, clock.now()),
                        claims.success(big, "w", {"blob": "x" * 30_000}, clock.now(), limit=2000)])
    chunks = await queue.chunks(job)
    assert chunks[0].result == {"rows": 12}
    kept = chunks[1].result["truncated"]
    assert kept.startswith('{"blob": "xxx') and kept.endswith("… [28,012 more characters cut]")
    assert len(kept) == 2000 + len("… [28,012 more characters cut]")


# -- fencing --------------------------------------------------------------------------


async def test_a_rescued_lease_cannot_be_completed_by_its_old_holder(queue: Queue, clock: FrozenClock,
                                                                       db_path: Path) -> None:
    job = (await queue.submit("x", chunks=[{}, {}])).job_id
    await register(queue, "old")
    mine, other = await claim(queue, "old", 2)

    # "old" goes silent; another worker keeps heartbeating and rescues its chunks.
    clock.advance(queue.settings.stale_after + 1)
    await register(queue, "new")
    summary = await maintenance.mark_stale_workers_offline(queue)
    assert "1 worker(s) marked offline (old)" in summary and "2 chunk(s) rescued" in summary
    assert query(db_path, "SELECT status FROM workers WHERE id = 'old'") == [("offline",)]
    taken = await claim(queue, "new", 2)
    assert [(c.chunk_id, c.attempt) for c in taken] == [(mine.chunk_id, 2), (other.chunk_id, 2)]

    # The old holder comes back with results: nothing it writes applies.
    late = await queue.settle([
        claims.success(mine, "old", {"late": True}, clock.now()),
        claims.failure(other, "old", "late failure", permanent=True, max_retries=3, now=clock.now()),
    ])
    assert late.applied == [] and late.fenced_out == 2 and late.finalized == []
    rows = query(db_path, "SELECT status, worker_id, lease_token, attempt, result FROM chunks ORDER BY id")
    assert rows == [("processing", "new", c.lease_token, 2, None) for c in taken]
    assert (await queue.job(job)).chunks_ended == 0
    assert query(db_path, "SELECT outcome, attempt, worker_id FROM chunk_attempts ORDER BY id") == [
        ("lost", 1, "old"), ("lost", 1, "old")]  # the rescue is recorded, the late failure is not

    # The current holder's results do apply, once.
    done = await queue.settle([claims.success(c, "new", None, clock.now()) for c in taken])
    assert len(done.applied) == 2 and done.finalized[0]["status"] == "completed"
    again = await queue.settle([claims.success(c, "new", None, clock.now()) for c in taken])
    assert again.applied == [] and again.fenced_out == 2
    job_row = await queue.job(job)
    assert (job_row.status.value, job_row.chunks_completed, job_row.chunks_failed) == ("completed", 2, 0)
    assert query(db_path, "SELECT id, chunks_done, chunks_failed FROM workers ORDER BY id") == [
        ("new", 2, 0), ("old", 0, 0)]


async def test_a_late_result_after_completion_changes_nothing(queue: Queue, clock: FrozenClock) -> None:
    job = (await queue.submit("x")).job_id
    (held,) = await claim(queue, "w")
    await queue.settle([claims.success(held, "w", {"first": True}, clock.now())])
    clock.advance(5)
    late = await queue.settle([claims.failure(held, "w", "boom", permanent=False, max_retries=3, now=clock.now())])
    assert late.fenced_out == 1
    chunk = await queue.chunk(job, 0)
    assert chunk.status.value == "completed" and chunk.result == {"first": True}
    assert await queue.attempts(job) == []


async def test_held_by_reports_only_current_leases(queue: Queue, clock: FrozenClock) -> None:
    job = (await queue.submit("x", chunks=[{}, {}, {}])).job_id
    held = await claim(queue, "w", 3)
    assert [(c.chunk_id, c.lease_token) for c in await claims.held_by(queue.db, "w")] == [
        (c.chunk_id, c.lease_token) for c in held]
    await queue.cancel(job, 1)
    await queue.settle([claims.success(held[2], "w", None, clock.now())])
    assert [(c.chunk_id, c.lease_token) for c in await claims.held_by(queue.db, "w")] == [
        (held[0].chunk_id, held[0].lease_token)]
    assert await claims.held_by(queue.db, "another") == []
    await queue.settle([claims.success(held[0], "w", None, clock.now())])
    assert (await queue.job(job)).status.value == "partial"


async def test_release_gives_the_attempt_back(queue: Queue, clock: FrozenClock, db_path: Path) -> None:
    job = (await queue.submit("x")).job_id
    (held,) = await claim(queue, "w")
    await queue.settle([claims.release(held, clock.now())])
    assert query(db_path, "SELECT status, attempt, worker_id, lease_token FROM chunks") == [
        ("pending", 0, None, None)]
    assert await queue.attempts(job) == []
    (again,) = await claim(queue, "w2")
    assert again.attempt == 1
    await queue.settle([claims.success(again, "w2", None, clock.now())])


async def test_rescue_of_a_chunk_on_its_last_attempt_fails_it(queue: Queue, clock: FrozenClock) -> None:
    job = (await queue.submit("x", max_retries=0)).job_id
    await register(queue, "w")
    await claim(queue, "w")
    clock.advance(queue.settings.stale_after + 1)
    await maintenance.mark_stale_workers_offline(queue)
    state = await queue.job(job)
    assert (state.status.value, state.chunks_failed) == ("failed", 1)
    (attempt,) = await queue.attempts(job)
    assert attempt.outcome == "lost" and "went silent" in attempt.error


async def test_stuck_chunks_fail_as_transient(queue: Queue, clock: FrozenClock, db_path: Path) -> None:
    job = (await queue.submit("x", chunks=[{}, {}], timeout=60, max_retries=1)).job_id
    first, second = await claim(queue, "w", 2)
    clock.advance(30)
    assert await maintenance.reset_stuck_tasks(queue) == "no stuck chunks"
    await queue.settle([claims.success(second, "w", None, clock.now())])
    clock.advance(31)
    assert "1 stuck chunk(s)" in await maintenance.reset_stuck_tasks(queue)
    chunk = await queue.chunk(job, 0)
    assert chunk.status.value == "pending" and chunk.run_after > clock.now()
    (attempt,) = await queue.attempts(job)
    assert attempt.outcome == "timed_out" and "60s timeout" in attempt.error
    # Its late result is fenced out; the second time it is stuck it fails for good.
    assert (await queue.settle([claims.success(first, "w", None, clock.now())])).fenced_out == 1
    clock.set(chunk.run_after)
    await claim(queue, "w2")
    clock.advance(61)
    await maintenance.reset_stuck_tasks(queue)
    state = await queue.job(job)
    assert (state.status.value, state.chunks_completed, state.chunks_failed) == ("partial", 1, 1)
    assert scalar(db_path, "SELECT count(*) FROM chunk_attempts WHERE outcome = 'timed_out'") == 2


async def test_totals_count_every_state(queue: Queue, clock: FrozenClock) -> None:
    await register(queue, "busy")
    await register(queue, "quiet")
    first = (await queue.submit("x", chunks=[{}] * 6)).job_id
    await queue.submit("x", chunks=[{}] * 2)
    held = await claim(queue, "busy", 4)
    await queue.settle([claims.success(held[0], "busy", None, clock.now()),
                        claims.failure(held[1], "busy", "no", permanent=True, max_retries=3, now=clock.now())])
    await queue.cancel(first, 5)
    clock.advance(queue.stale_display_after + 1)
    async with queue.db.transaction() as conn:  # "busy" heartbeats, "quiet" has gone silent
        await conn.execute(WORKER_SQL["heartbeat"], {"id": "busy", "now": clock.now()})
    totals = await queue.totals()
    assert (totals.chunks_total, totals.chunks_pending, totals.chunks_processing, totals.chunks_completed,
            totals.chunks_failed, totals.chunks_cancelled) == (8, 3, 2, 1, 1, 1)
    assert totals.jobs == {"running": 1, "pending": 1}
    assert totals.workers == {"online": 1, "stale": 1}
    assert not totals.paused
    await queue.settle([claims.success(c, "busy", None, clock.now()) for c in held[2:]])
    await queue.cancel(first)
    await queue.finalize((await queue.jobs())[0].id)
