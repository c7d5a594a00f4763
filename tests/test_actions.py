"""Ends of attempts and operator actions: back-off, retries, finalize, cancel, retry, on-finalize."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from queuetop.engine.services import claims
from queuetop.engine.services.claims import Claim
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import ActionRefused, NotFound
from queuetop.engine.api import Queue
from queuetop.engine.services.retry import RetryPolicy

from conftest import assert_counters, fast_config, query


async def claim_all(queue: Queue, worker: str = "w") -> list[Claim]:
    batch, _ = await claims.claim(queue.db, worker, 1000, queue.clock.now())
    return batch


async def complete(queue: Queue, held: list[Claim], worker: str = "w") -> None:
    await queue.settle([claims.success(c, worker, None, queue.clock.now()) for c in held])


async def fail(queue: Queue, held: list[Claim], *, permanent: bool = True, worker: str = "w") -> None:
    await queue.settle([claims.failure(c, worker, f"chunk {c.chunk_index} broke", permanent=permanent,
                                       max_retries=(await queue.job(c.job_id)).max_retries,
                                       now=queue.clock.now()) for c in held])


# -- back-off ------------------------------------------------------------------------


def test_back_off_doubles_with_jitter_within_bounds() -> None:
    policy = RetryPolicy(base=10, cap=100)
    rng = random.Random(1)
    for attempt, ceiling in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling / 4  # jitter really spreads them
    assert not RetryPolicy.exhausted(3, 3) and RetryPolicy.exhausted(4, 3)


def test_failure_outcomes(clock: FrozenClock) -> None:
    held = Claim(1, 1, 0, {}, 2, "tok", clock.now() - 3)
    policy = RetryPolicy(base=4, cap=1000)
    transient = claims.failure(held, "w", "timeout", permanent=False, max_retries=3, now=clock.now(), policy=policy)
    assert transient.status.value == "pending" and transient.kind == "transient"
    assert clock.now() + 4 <= transient.run_after <= clock.now() + 8  # attempt 2: between base and 2*base
    permanent = claims.failure(held, "w", "bad input", permanent=True, max_retries=3, now=clock.now())
    assert (permanent.status.value, permanent.kind, permanent.finished_at) == ("failed", "permanent", clock.now())
    spent = claims.failure(Claim(1, 1, 0, {}, 4, "tok", 0), "w", "x", permanent=False, max_retries=3, now=1)
    assert spent.status.value == "failed" and spent.kind == "transient"
    told = claims.failure(held, "w", "429", permanent=False, max_retries=3, now=clock.now(), retry_at=clock.now() + 77)
    assert told.run_after == clock.now() + 77


async def test_transient_failures_back_off_then_fail(db_path: Path, clock: FrozenClock) -> None:
    policy = RetryPolicy(base=10, cap=1000)
    async with await Queue.open(db_path, fast_config(), clock=clock) as queue:
        job = (await queue.submit("x", max_retries=3)).job_id
        waits, times = [], []
        for attempt in range(1, 5):
            (held,) = await claim_all(queue)
            assert held.attempt == attempt
            clock.advance(2)
            times.append(clock.now())
            await queue.settle([claims.failure(held, "w", f"timeout #{attempt}", permanent=False, max_retries=3,
                                               now=clock.now(), policy=policy, rng=random.Random(attempt))])
            chunk = await queue.chunk(job, 0)
            if attempt < 4:
                assert chunk.status.value == "pending"
                waits.append(chunk.run_after - clock.now())
                clock.set(chunk.run_after - 0.01)
                assert await claim_all(queue) == []  # not before its time
                clock.set(chunk.run_after)
        assert chunk.status.value == "failed" and chunk.attempt == 4 and chunk.last_error == "timeout #4"
        for n, wait in enumerate(waits, start=1):
            assert 10 * 2 ** (n - 1) / 2 <= wait <= 10 * 2 ** (n - 1)
        assert waits == sorted(waits)
        state = await queue.job(job)
        assert (state.status.value, state.chunks_failed, state.finished_at) == ("failed", 1, clock.now())
        attempts = await queue.attempts(job)
        assert [(a.attempt, a.outcome, a.error, a.ended_at) for a in attempts] == [
            (n, "transient", f"timeout #{n}", times[n - 1]) for n in range(1, 5)]
        assert await queue.attempts(job, 0) == attempts
    assert_counters(db_path)


async def test_permanent_error_fails_at_once(queue: Queue) -> None:
    job = (await queue.submit("x", chunks=[{}, {}], max_retries=5)).job_id
    first, second = await claim_all(queue)
    await fail(queue, [first], permanent=True)
    chunk = await queue.chunk(job, 0)
    assert (chunk.status.value, chunk.attempt, chunk.last_error) == ("failed", 1, "chunk 0 broke")
    assert [(a.outcome, a.attempt) for a in await queue.attempts(job)] == [("permanent", 1)]
    assert (await queue.job(job)).status.value == "running"
    await complete(queue, [second])
    assert (await queue.job(job)).status.value == "partial"


async def test_no_retries_means_one_attempt(queue: Queue) -> None:
    job = (await queue.submit("x", max_retries=0)).job_id
    await fail(queue, await claim_all(queue), permanent=False)
    assert (await queue.job(job)).status.value == "failed"


# -- finalize -----------------------------------------------------------------------------


async def _job_with(queue: Queue, completed: int = 0, failed: int = 0, cancelled: int = 0, processing: int = 0,
                    pending: int = 0, on_finalize: str | None = None) -> tuple[int, list[Claim]]:
    """A job whose chunks are in the given states; returns it and the claims still held."""
    total = completed + failed + cancelled + processing + pending
    job = (await queue.submit("x", chunks=[{}] * total, on_finalize=on_finalize)).job_id
    held = await claim_all(queue)
    # Claims span every job; keep this job's, in chunk order.
    held = [c for c in held if c.job_id == job]
    await complete(queue, held[:completed])
    await fail(queue, held[completed:completed + failed])
    for index in range(completed + failed, completed + failed + cancelled):
        await queue.cancel(job, index)
    keep = held[completed + failed + cancelled:completed + failed + cancelled + processing]
    await queue.settle([claims.release(c, queue.clock.now()) for c in held[len(held) - pending:]] if pending else [])
    return job, keep


@pytest.mark.parametrize(("states", "expected"), [
    (dict(completed=2, pending=1), "completed"),                 # every chunk that ended completed
    (dict(completed=2, processing=1), "completed"),
    (dict(completed=1, failed=1, pending=1), "partial"),         # some completed
    (dict(completed=1, cancelled=1, pending=1), "partial"),
    (dict(failed=1, pending=2), "failed"),                      # none completed, some failed
    (dict(failed=1, cancelled=1, processing=1), "failed"),
    (dict(pending=3), "cancelled"),                             # nothing had ended
    (dict(processing=2, pending=1), "cancelled"),
    (dict(cancelled=1, pending=1), "cancelled"),
])
async def test_finalize_statuses(queue: Queue, db_path: Path, states: dict[str, int], expected: str) -> None:
    """As actions.finalize says: the status follows the chunks that had ended."""
    job, held = await _job_with(queue, **states)
    result = await queue.finalize(job)
    unfinished = states.get("processing", 0) + states.get("pending", 0)
    assert (result.status, result.chunks) == (expected, unfinished)
    state = await queue.job(job)
    assert state.status.value == expected and state.finished_at == queue.clock.now()
    assert state.chunks_cancelled == states.get("cancelled", 0) + unfinished
    assert query(db_path, "SELECT count(*) FROM chunks WHERE job_id = ? AND status IN ('pending', 'processing')",
                 (job,)) == [(0,)]
    # A chunk that was running when the job was finalized cannot complete afterwards.
    late = await queue.settle([claims.success(c, "w", None, queue.clock.now()) for c in held])
    assert late.fenced_out == len(held)
    assert (await queue.job(job)).status.value == expected


async def test_jobs_that_end_on_their_own(queue: Queue) -> None:
    all_done, _ = await _job_with(queue, completed=3)
    mixed, _ = await _job_with(queue, completed=1, failed=2)
    all_failed, _ = await _job_with(queue, failed=2)
    assert [(await queue.job(j)).status.value for j in (all_done, mixed, all_failed)] == [
        "completed", "partial", "failed"]


async def test_finalize_refuses_missing_and_finished_jobs(queue: Queue) -> None:
    with pytest.raises(NotFound, match="no job 404"):
        await queue.finalize(404)
    job, _ = await _job_with(queue, completed=1)
    with pytest.raises(ActionRefused, match=f"job {job} already ended completed: nothing to finalize"):
        await queue.finalize(job)


# -- on-finalize -------------------------------------------------------------------------


async def test_on_finalize_is_enqueued_with_the_outcome(queue: Queue) -> None:
    job, held = await _job_with(queue, completed=2, failed=1, processing=1, on_finalize="demo.report")
    assert await queue.count_jobs() == 1  # nothing yet: the job has not ended
    await complete(queue, held)
    jobs = await queue.jobs()
    assert len(jobs) == 2
    follow_up = jobs[0]
    assert (follow_up.intent, follow_up.parent_job_id, follow_up.status.value) == ("demo.report", job, "pending")
    assert follow_up.params == {"job_id": job, "status": "partial", "chunks_total": 4, "chunks_completed": 3,
                                "chunks_failed": 1, "chunks_cancelled": 0}
    assert follow_up.chunks_total == 1


async def test_on_finalize_follows_an_operator_finalize(queue: Queue) -> None:
    job, _ = await _job_with(queue, failed=1, pending=1, on_finalize="demo.report")
    await queue.finalize(job)
    (follow_up,) = await queue.jobs(search="demo.report")
    assert follow_up.params["status"] == "failed" and follow_up.params["chunks_cancelled"] == 1


@pytest.mark.parametrize("whole_job", [True, False], ids=["cancel-job", "cancel-last-chunk"])
async def test_on_finalize_follows_a_cancel(queue: Queue, whole_job: bool) -> None:
    """However a job ends, its on-finalize intent runs once, told how it ended."""
    job, _ = await _job_with(queue, pending=1, on_finalize="demo.report")
    await (queue.cancel(job) if whole_job else queue.cancel(job, 0))
    follow_ups = await queue.jobs(search="demo.report")
    assert [f.params["status"] for f in follow_ups] == ["cancelled"]
    assert follow_ups[0].parent_job_id == job


# -- cancel ---------------------------------------------------------------------------


async def test_cancel_a_job(queue: Queue, db_path: Path) -> None:
    job, held = await _job_with(queue, completed=1, processing=1, pending=2)
    result = await queue.cancel(job)
    assert (result.status, result.chunks) == ("cancelled", 3)
    state = await queue.job(job)
    assert (state.status.value, state.chunks_completed, state.chunks_cancelled) == ("cancelled", 1, 3)
    assert query(db_path, "SELECT chunk_index, status, lease_token FROM chunks WHERE job_id = ? ORDER BY 1",
                 (job,)) == [(0, "completed", None), (1, "cancelled", None), (2, "cancelled", None),
                             (3, "cancelled", None)]
    assert await claim_all(queue) == []
    assert (await queue.settle([claims.success(c, "w", None, queue.clock.now()) for c in held])).fenced_out == 1
    with pytest.raises(ActionRefused, match=f"job {job} already ended cancelled: nothing to cancel"):
        await queue.cancel(job)


async def test_cancel_one_chunk(queue: Queue) -> None:
    job, held = await _job_with(queue, processing=1, pending=1)
    result = await queue.cancel(job, 0)
    assert (result.chunks, result.status) == (1, "running")
    with pytest.raises(ActionRefused, match=f"job {job} chunk 0 already ended cancelled"):
        await queue.cancel(job, 0)
    with pytest.raises(NotFound, match=f"job {job} has no chunk 9"):
        await queue.cancel(job, 9)
    (rest,) = await claim_all(queue)
    await complete(queue, [rest])
    assert (await queue.job(job)).status.value == "partial"


async def test_cancel_missing_job(queue: Queue) -> None:
    with pytest.raises(NotFound, match="no job 77"):
        await queue.cancel(77)


# -- retry ------------------------------------------------------------------------------


async def test_retry_failed_chunks_reopens_the_job(queue: Queue, db_path: Path) -> None:
    job, _ = await _job_with(queue, completed=1, failed=2)
    assert (await queue.job(job)).status.value == "partial"
    result = await queue.retry(job)
    assert (result.chunks, result.status) == (2, "running")
    state = await queue.job(job)
    assert (state.status.value, state.chunks_failed, state.finished_at) == ("running", 0, None)
    assert query(db_path, "SELECT chunk_index, status, attempt, worker_id, lease_token FROM chunks"
                          " WHERE job_id = ? ORDER BY 1", (job,)) == [
        (0, "completed", 1, "w", None), (1, "pending", 0, None, None), (2, "pending", 0, None, None)]
    assert len(await queue.attempts(job)) == 2  # the failed attempts stay on record
    again = await claim_all(queue)
    assert [(c.chunk_index, c.attempt) for c in again] == [(1, 1), (2, 1)]
    await complete(queue, again)
    state = await queue.job(job)
    assert (state.status.value, state.chunks_completed, state.chunks_failed) == ("completed", 3, 0)


async def test_attempts_read_in_the_order_they_were_made_across_a_retry(queue: Queue, clock: FrozenClock) -> None:
    """A retry starts a chunk's attempts at 1 again: by attempt number its new run sorted among the old ones."""
    job = (await queue.submit("x", max_retries=1)).job_id
    for _ in range(2):  # two attempts, the last spent
        clock.advance(60)
        await fail(queue, await claim_all(queue), permanent=False)
    assert (await queue.chunk(job, 0)).status.value == "failed"
    await queue.retry(job)
    clock.advance(60)
    await fail(queue, await claim_all(queue), permanent=True)  # attempt 1 again
    made = await queue.attempts(job)
    assert [a.attempt for a in made] == [1, 2, 1]
    assert [a.started_at for a in made] == sorted(a.started_at for a in made)
    assert [a.attempt for a in await queue.attempts(job, 0)] == [1, 2, 1]


async def test_retry_all_failed_returns_the_job_to_pending(queue: Queue) -> None:
    job, _ = await _job_with(queue, failed=2)
    assert (await queue.retry(job)).status == "pending"


async def test_retry_one_chunk(queue: Queue) -> None:
    job, _ = await _job_with(queue, completed=1, failed=2)
    result = await queue.retry(job, 2)
    assert result.chunks == 1
    assert [c.status.value for c in await queue.chunks(job)] == ["completed", "failed", "pending"]
    with pytest.raises(ActionRefused, match=f"job {job} chunk 0 is completed, not failed or cancelled: nothing to retry"):
        await queue.retry(job, 0)
    with pytest.raises(NotFound, match=f"job {job} has no chunk 5"):
        await queue.retry(job, 5)
    await complete(queue, await claim_all(queue))
    await queue.retry(job)
    await complete(queue, await claim_all(queue))
    assert (await queue.job(job)).status.value == "completed"


async def test_retry_refusals(queue: Queue) -> None:
    with pytest.raises(NotFound, match="no job 12"):
        await queue.retry(12)
    job, _ = await _job_with(queue, completed=1)
    with pytest.raises(ActionRefused, match=f"job {job} has no failed or cancelled chunks to retry"):
        await queue.retry(job)


async def test_retry_takes_cancelled_chunks_back_too(queue: Queue) -> None:
    job, held = await _job_with(queue, completed=1, failed=1, cancelled=1, processing=1)
    await queue.finalize(job)  # the processing chunk is cut short: cancelled
    state = await queue.job(job)
    assert (state.status.value, state.chunks_failed, state.chunks_cancelled) == ("partial", 1, 2)
    result = await queue.retry(job, 2)  # one cancelled chunk
    assert (result.chunks, result.status) == (1, "running")
    state = await queue.job(job)
    assert (state.chunks_failed, state.chunks_cancelled, state.finished_at) == (1, 1, None)
    result = await queue.retry(job)  # the failed one and the other cancelled one
    assert result.chunks == 2 and "1 cancelled chunk(s) and 1 failed chunk(s)" in result.message
    assert [c.status.value for c in await queue.chunks(job)] == ["completed", "pending", "pending", "pending"]
    await complete(queue, await claim_all(queue))
    assert (await queue.job(job)).status.value == "completed"


async def test_retry_of_a_cancelled_job_reopens_it(queue: Queue) -> None:
    job = (await queue.submit("x", chunks=[{}] * 3)).job_id
    await queue.cancel(job)
    assert (await queue.retry(job)).status == "pending"
    state = await queue.job(job)
    assert (state.status.value, state.chunks_cancelled) == ("pending", 0)


async def test_refusal_is_known_before_acting(queue: Queue) -> None:
    job, _ = await _job_with(queue, completed=1, failed=1, pending=1)
    assert await queue.refusal("retry", job) is None
    assert await queue.refusal("retry", job, 0) == (
        f"job {job} chunk 0 is completed, not failed or cancelled: nothing to retry")
    assert await queue.refusal("cancel", job) is None and await queue.refusal("finalize", job) is None
    assert await queue.refusal("cancel", job, 1) == f"job {job} chunk 1 already ended failed"
    assert await queue.refusal("retry", 999) == "no job 999"
    assert await queue.refusal("retry", job, 9) == f"job {job} has no chunk 9"
    await queue.finalize(job)
    refused = await queue.refusal("finalize", job)
    assert refused is not None and "already ended" in refused
    with pytest.raises(ActionRefused, match=refused):
        await queue.finalize(job)  # the action says the same
    await queue.retry(job)
    assert await queue.refusal("retry", job) == f"job {job} has no failed or cancelled chunks to retry"


async def test_retry_refused_when_the_dedupe_key_was_taken(queue: Queue) -> None:
    old = (await queue.submit("x", dedupe_key="k")).job_id
    await fail(queue, await claim_all(queue))
    new = (await queue.submit("x", dedupe_key="k")).job_id
    with pytest.raises(ActionRefused, match=f"job {old} cannot reopen: another unfinished job holds its dedupe key"):
        await queue.retry(old)
    assert (await queue.job(old)).status.value == "failed"
    assert [c.status.value for c in await queue.chunks(old)] == ["failed"]  # rolled back whole
    await queue.cancel(new)


# -- lock order ----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "finalize", "retry"])
async def test_an_action_waits_for_a_settle_of_its_job_instead_of_deadlocking(queue: Queue, backend: str,
                                                                                 db_path: Path | str,
                                                                                 action: str) -> None:
    """A settle holds a chunk and then wants its job; an operator acts on that job meanwhile.

    Claims and settles lock chunks before jobs. An action that locked the
    job first and then waited on the settle's chunk would deadlock with it
    (PostgreSQL would abort one of them); it must wait on the chunk first.
    On SQLite the settle's write transaction simply makes the action wait.
    """
    import asyncio

    from conftest import async_wait_until

    job = (await queue.submit("demo.noop", chunks=[{"n": 0}, {"n": 1}], max_retries=0)).job_id
    held = await claim_all(queue)
    if action == "retry":  # retry needs a failed chunk: fail chunk 1 first, keep chunk 0 held
        await fail(queue, [c for c in held if c.chunk_index == 1])
        held = [c for c in held if c.chunk_index == 0]
    settling = held[0]
    other = await Queue.open(db_path, fast_config(), clock=queue.clock)
    chunk_held, go = asyncio.Event(), asyncio.Event()

    async def settle_in_two_steps() -> None:
        outcome = claims.success(settling, "w", None, queue.clock.now())
        async with other.db.transaction() as conn:
            payload = json.dumps([{"chunk_id": outcome.chunk_id, "lease_token": outcome.lease_token,
                                          "status": "completed", "run_after": None,
                                          "finished_at": outcome.finished_at, "error": None, "result": None,
                                          "refund": 0}])
            async with conn.execute(claims.SQL["settle"], {"outcomes": payload}) as cur:
                assert len(await cur.fetchall()) == 1  # the chunk is now locked by this transaction
            chunk_held.set()
            await go.wait()
            async with conn.execute(claims.SQL["count_job_chunks"], {
                    "counts": json.dumps([{"job_id": job, "completed": 1, "failed": 0, "cancelled": 0}]),
                    "now": queue.clock.now()}) as cur:
                await cur.fetchall()  # wants the job: an action holding it would deadlock here

    settler = asyncio.create_task(settle_in_two_steps())
    try:
        await asyncio.wait_for(chunk_held.wait(), 10)
        acting = asyncio.create_task(getattr(queue, action)(job))
        if backend == "postgres":
            # the action is blocked on a lock before the settle goes on
            await async_wait_until(lambda: scalar_waiting(db_path), timeout=10)
        else:
            await asyncio.sleep(0)  # SQLite: the action waits on the write lock either way
        go.set()
        await asyncio.wait_for(settler, 20)
        result = await asyncio.wait_for(acting, 20)
    finally:
        go.set()
        await other.close()
    assert result.job_id == job
    chunks = dict(query(db_path, "SELECT chunk_index, status FROM chunks WHERE job_id = ?", (job,)))
    assert chunks[0] == "completed"  # the settle landed; the action saw it
    assert_counters(db_path)


def scalar_waiting(db_path: Path | str) -> bool:
    """Whether some backend of the test server is waiting on a row or transaction lock."""
    from conftest import scalar

    return bool(scalar(db_path, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))
