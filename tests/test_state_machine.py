"""Property test of the chunk state machine on a real database.

Random sequences of claims, successes, transient and permanent failures,
releases, cancels, retries, finalizes, rescues and clock steps run against
one small job (and the follow-up jobs its on-finalize intent makes). Results
are settled with every lease ever handed out, stale ones included. After
every step: the counter invariant holds, no chunk leaves a finished state
except failed or cancelled -> pending through retry, a fenced-out write changes nothing,
and attempts never exceed the job's allowance.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuetop.engine.services import claims

from queuetop.engine.services import maintenance
from queuetop.engine.services.claims import Claim
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import ActionRefused
from queuetop.engine.api import Queue
from queuetop.engine.services.retry import RetryPolicy
from queuetop.engine.services.worker import SQL as WORKER_SQL

from conftest import PG_DSN, PG_SKIP_REASON, assert_counters, postgres_schema, query, scalar

CHUNKS = 3
MAX_RETRIES = 2
FINISHED = {"completed", "failed", "cancelled"}

# Weighted: claims and ends of attempts are the common case; the job-ending
# actions are rarer so that sequences live long enough to get interesting.
# "late_*" settle a lease that is no longer current, preferring one whose
# chunk another lease holds now: the write the fence exists to stop.
WEIGHTED_OPS = (["claim"] * 4 + ["succeed"] * 3 + ["fail_transient"] * 3 + ["fail_permanent"] * 2
                + ["late_succeed", "late_fail", "release", "release", "cancel_chunk", "retry", "retry", "rescue",
                   "rescue", "advance", "advance", "cancel_job", "finalize"])
OPS = st.tuples(st.sampled_from(WEIGHTED_OPS), st.integers(0, 30))


def argument(op: str, n: int) -> Any:
    """The step's argument, from one integer (so every step shrinks alike)."""
    if op == "claim":
        return 1 + n % 4  # batch size
    if op == "cancel_chunk":
        return n % CHUNKS
    if op == "retry":
        return None if n % 3 == 0 else n % CHUNKS  # the whole job, or one chunk
    if op == "advance":
        return (0.5, 5.0, 60.0)[n % 3]
    if op in ("cancel_job", "finalize", "rescue"):
        return None
    return n  # which of the candidate leases


def snapshot(db_path: Path | str) -> dict[str, Any]:
    return {
        "chunks": query(db_path, "SELECT id, job_id, status, attempt, worker_id, lease_token, run_after, result"
                                 " FROM chunks ORDER BY id"),
        "jobs": query(db_path, "SELECT * FROM jobs ORDER BY id"),
        "attempts": scalar(db_path, "SELECT count(*) FROM chunk_attempts"),
        "workers": query(db_path, "SELECT id, status, chunks_done, chunks_failed FROM workers ORDER BY id"),
    }


async def run_steps(db_path: Path, steps: list[tuple[str, int]]) -> None:
    clock = FrozenClock()
    policy = RetryPolicy(base=1.0, cap=10.0)
    queue = await Queue.open(db_path, clock=clock)
    try:
        job = (await queue.submit("demo.noop", chunks=[{"n": n} for n in range(CHUNKS)], max_retries=MAX_RETRIES,
                                  on_finalize="demo.report")).job_id
        leases: list[Claim] = []
        workers = 0
        for op, n in steps:
            arg = argument(op, n)
            before = snapshot(db_path)
            fenced = False
            if op == "claim":
                workers += 1
                worker = f"w{workers}"
                async with queue.db.transaction() as conn:
                    await conn.execute(WORKER_SQL["register"], {"id": worker, "host": "h", "pid": 1,
                                                                "concurrency": arg, "now": clock.now(), "intents": None})
                batch, specs = await claims.claim(queue.db, worker, arg, clock.now())
                for c in batch:
                    assert c.attempt <= specs[c.job_id].max_retries + 1
                leases.extend(batch)
            elif op in ("succeed", "fail_transient", "fail_permanent", "release", "late_succeed", "late_fail") \
                    and leases:
                held = {r[5]: r[0] for r in before["chunks"] if r[2] == "processing"}
                if op.startswith("late_"):
                    stale = [c for c in leases if c.lease_token not in held]
                    pool = [c for c in stale if c.chunk_id in held.values()] or stale or leases
                else:  # a worker ending its own attempt: a current lease when there is one
                    pool = [c for c in leases if c.lease_token in held] or leases
                lease = pool[arg % len(pool)]
                row = next(r for r in before["chunks"] if r[0] == lease.chunk_id)
                current = row[2] == "processing" and row[5] == lease.lease_token
                worker = row[4] if current else "stale"
                if op in ("succeed", "late_succeed"):
                    outcome = claims.success(lease, worker, {"ok": True}, clock.now())
                elif op == "release":
                    outcome = claims.release(lease, clock.now())
                else:
                    outcome = claims.failure(lease, worker, op, permanent=op == "fail_permanent",
                                             max_retries=MAX_RETRIES, now=clock.now(), policy=policy)
                settled = await queue.settle([outcome])
                assert len(settled.applied) == int(current), (op, lease, row)
                fenced = not current
            elif op == "cancel_chunk":
                try:
                    await queue.cancel(job, arg)
                except ActionRefused:
                    fenced = True
            elif op == "cancel_job":
                try:
                    await queue.cancel(job)
                    assert (await queue.job(job)).status.value == "cancelled"
                except ActionRefused:
                    fenced = True
            elif op == "retry":
                failed = {r[0] for r in before["chunks"] if r[1] == job and r[2] in ("failed", "cancelled")}
                try:
                    result = await queue.retry(job, arg)
                except ActionRefused:
                    fenced = True
                else:
                    assert result.chunks == (len(failed) if arg is None else 1)
            elif op == "finalize":
                try:
                    await queue.finalize(job)
                except ActionRefused:
                    fenced = True
                else:
                    assert (await queue.job(job)).status.finished
            elif op == "rescue":
                clock.advance(queue.settings.stale_after + 1)
                await maintenance.mark_stale_workers_offline(queue)
            elif op == "advance":
                clock.advance(arg)

            after = snapshot(db_path)
            if fenced:
                assert after == before, f"{op}({arg}) was refused or fenced out but changed the database"
            assert_counters(db_path)
            old = {r[0]: r for r in before["chunks"]}
            allowed = dict(query(db_path, "SELECT id, max_retries + 1 FROM jobs"))
            for row in after["chunks"]:
                chunk_id, job_id, status, attempt, worker_id, lease_token, _, _ = row
                was = old.get(chunk_id)
                if was is not None and was[2] in FINISHED and status != was[2]:
                    assert op == "retry" and was[2] in ("failed", "cancelled") and status == "pending", (
                        f"{op}({arg}) moved chunk {chunk_id} from {was[2]} to {status}")
                assert attempt <= allowed[job_id]
                assert (status == "processing") == (lease_token is not None)
                if status == "processing":
                    assert worker_id is not None
                if status == "pending" and was is not None and was[2] in ("failed", "cancelled"):
                    assert attempt == 0  # retry resets attempts
    finally:
        await queue.close()
    assert_counters(db_path)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(OPS, min_size=15, max_size=50))
def test_chunk_state_machine(steps: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory(prefix="queuetop-sm-") as tmp:
        asyncio.run(run_steps(Path(tmp) / "sm.db", steps))


# The same property on PostgreSQL, with fewer examples: each one makes a
# schema of its own and reads it back over new connections (about 1 s each).
@pytest.mark.skipif(not PG_DSN, reason=PG_SKIP_REASON)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(OPS, min_size=15, max_size=50))
def test_chunk_state_machine_on_postgres(steps: list[tuple[str, int]]) -> None:
    with postgres_schema("qt_sm") as url:
        asyncio.run(run_steps(url, steps))


def test_a_known_tricky_sequence(db_path: Path | str) -> None:
    """Claim, rescue, re-claim, late results, retry after failure, finalize, cancel: spelled out once."""
    steps: list[tuple[str, int]] = [
        ("claim", 2), ("rescue", 0), ("claim", 2), ("late_succeed", 0), ("late_fail", 1), ("succeed", 0),
        ("fail_permanent", 0), ("release", 0), ("claim", 0), ("fail_transient", 0), ("advance", 2),
        ("claim", 0), ("late_succeed", 0), ("succeed", 0), ("retry", 0), ("claim", 0), ("finalize", 0),
        ("late_succeed", 0), ("retry", 1), ("cancel_job", 0), ("claim", 3), ("succeed", 0),
    ]
    asyncio.run(run_steps(db_path, steps))
    # The job ended partial (one chunk failed), which made a follow-up job; the failed chunk was
    # retried and the job finalized while it ran: completed, counting only the chunks that had
    # ended, and a second follow-up. The chunk that finalize cut short was retried (a cancelled
    # chunk goes back to pending too), reopening the job, and the operator then cancelled it: a
    # third follow-up. The first follow-up ran; the other two are still running.
    assert query(db_path, "SELECT id, status, parent_job_id, chunks_cancelled FROM jobs ORDER BY id") == [
        (1, "cancelled", None, 1), (2, "completed", 1, 0), (3, "running", 1, 0), (4, "running", 1, 0)]
    assert query(db_path, "SELECT chunk_index, status, attempt FROM chunks WHERE job_id = 1 ORDER BY 1") == [
        (0, "completed", 2), (1, "cancelled", 0), (2, "completed", 3)]
