"""The SQLite writer: a transaction's BEGIN rides with its first statement, and a claim and a
settle each go to the connection's thread once or twice, however many jobs they touch."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from queuetop.engine.api import Queue
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.services import claims

from conftest import assert_counters, scalar


@pytest.fixture
async def sqlite_queue(tmp_path: Path, clock: FrozenClock) -> Any:
    path = tmp_path / "queuetop.db"
    q = await Queue.open(path, clock=clock)
    try:
        yield q, path
    finally:
        await q.close()
    assert_counters(path)


async def _trips(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call the writer connection sends to its thread from now on, in a list."""
    async with queue.db.transaction() as writer:  # opens the writer; runs nothing
        pass
    sent: list[Any] = []
    real = type(writer).__mro__[1]._execute  # aiosqlite's own

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(fn)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(type(writer).__mro__[1], "_execute", counted)
    return sent


async def test_a_claim_is_one_trip_and_a_settle_two(sqlite_queue: Any, clock: FrozenClock,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    queue, path = sqlite_queue
    made = await queue.submit_many([{"intent": "small"} for _ in range(50)])
    sent = await _trips(queue, monkeypatch)
    batch, specs = await claims.claim(queue.db, "w1", 100, clock.now(), ["small"], start=False)
    assert len(batch) == 50 and len(specs) == 50
    assert len(sent) == 1, "begin, claim and commit in one trip"
    assert scalar(path, "SELECT count(*) FROM chunks WHERE status = 'processing'") == 50  # committed
    sent.clear()
    starts = {job_id: clock.now() for job_id in specs}
    settled = await claims.settle(queue.db, [claims.success(c, "w1", None, clock.now()) for c in batch],
                                  clock.now(), starts=starts)
    assert len(settled.finalized) == 50
    assert len(sent) == 2, "begin with every statement of the settle, then commit"
    assert {(await queue.job(r.job_id)).status.value for r in made} == {"completed"}


async def test_a_transaction_rolls_back_whether_its_begin_ran_or_not(sqlite_queue: Any) -> None:
    queue, path = sqlite_queue
    (job,) = await queue.submit_many([{"intent": "small"}])
    with pytest.raises(RuntimeError):
        async with queue.db.transaction() as conn:
            await conn.execute("UPDATE jobs SET priority = 7 WHERE id = ?", (job.job_id,))
            raise RuntimeError("after a statement")
    assert scalar(path, "SELECT priority FROM jobs WHERE id = ?", (job.job_id,)) == 0
    with pytest.raises(RuntimeError):
        async with queue.db.transaction():
            raise RuntimeError("before any statement")
    with pytest.raises(sqlite3.OperationalError):
        async with queue.db.transaction() as conn:
            await conn.execute("UPDATE no_such_table SET x = 1")
    # a transaction that ran nothing wrote nothing, and the writer is free for the next
    async with queue.db.transaction():
        pass
    async with queue.db.transaction() as conn:
        await conn.execute("UPDATE jobs SET priority = 3 WHERE id = ?", (job.job_id,))
        assert conn.in_transaction
    assert scalar(path, "SELECT priority FROM jobs WHERE id = ?", (job.job_id,)) == 3


async def test_a_busy_writer_is_waited_for_at_the_first_statement(sqlite_queue: Any, clock: FrozenClock) -> None:
    """Another process's write lock holds a claim back until it is released, not past it."""
    queue, path = sqlite_queue
    await queue.submit_many([{"intent": "small"}])
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        pending = asyncio.ensure_future(claims.claim(queue.db, "w1", 1, clock.now(), ["small"]))
        done, _ = await asyncio.wait({pending}, timeout=0.2)
        assert not done, "the claim went ahead while another connection held the write lock"
    finally:
        other.execute("ROLLBACK")
        other.close()
    batch, _ = await pending
    assert len(batch) == 1


async def test_a_settle_that_claims_is_one_transaction_of_one_trip(sqlite_queue: Any, clock: FrozenClock,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker refills its slots in the transaction that settles its chunks: the settle's
    statements, the claim and the commit go in one trip (a settle and a claim apart took
    three), or in two where a job the settle ends needs what follows its end before the
    claim. The claim leaves its jobs pending for the next settle, as a worker's does."""
    queue, path = sqlite_queue
    made = await queue.submit_many([{"intent": "small"} for _ in range(30)])
    first, specs = await claims.claim(queue.db, "w1", 10, clock.now(), ["small"], start=False)
    sent = await _trips(queue, monkeypatch)
    clock.advance(1)
    settled = await claims.settle(queue.db, [claims.success(c, "w1", None, clock.now()) for c in first],
                                  clock.now(), starts={job_id: clock.now() for job_id in specs},
                                  then_claim=claims.NextClaim("w1", 15, ["small"]))
    assert len(sent) == 1, "the settle's statements, the claim and the commit"
    assert len(settled.finalized) == 10
    assert len(settled.claimed) == 15 and sorted(settled.specs) == sorted({c.job_id for c in settled.claimed})
    assert [c.chunk_id for c in settled.claimed] == sorted(c.chunk_id for c in settled.claimed)
    assert not {c.chunk_id for c in settled.claimed} & {c.chunk_id for c in first}
    assert scalar(path, "SELECT count(*) FROM chunks WHERE status = 'processing' AND worker_id = 'w1'") == 15
    assert scalar(path, "SELECT count(*) FROM jobs WHERE status = 'running'") == 0, "the claim started its jobs"
    # a claim for another process's intents only, or for no slot, claims nothing and still settles
    sent.clear()
    again = await claims.settle(queue.db, [claims.success(c, "w1", None, clock.now()) for c in settled.claimed],
                                clock.now(), starts={job_id: clock.now() for job_id in settled.specs},
                                then_claim=claims.NextClaim("w1", 10, ["other"]))
    assert again.claimed == [] and len(again.finalized) == 15
    for no_claim in (claims.NextClaim("w1", 0, ["small"]), claims.NextClaim("w1", 10, ())):
        nothing = await claims.settle(queue.db, [], clock.now(), then_claim=no_claim)
        assert nothing.claimed == [] and nothing.applied == []
    assert {(await queue.job(r.job_id)).status.value for r in made[:25]} == {"completed"}
    assert {(await queue.job(r.job_id)).status.value for r in made[25:]} == {"pending"}
    # a job that asks for an on-finalize job gets it before the claim, in a second trip
    (asking,) = await queue.submit_many([{"intent": "asks", "on_finalize": "after"}])
    batch, specs = await claims.claim(queue.db, "w1", 1, clock.now(), ["asks"], start=False)
    sent.clear()
    ended = await claims.settle(queue.db, [claims.success(c, "w1", None, clock.now()) for c in batch],
                                clock.now(), starts={job_id: clock.now() for job_id in specs},
                                then_claim=claims.NextClaim("w1", 10, ["small"]))
    assert len(sent) > 1, "the settle's statements, then the follow-up's, then the claim and the commit"
    assert [job["id"] for job in ended.finalized] == [asking.job_id] and len(ended.claimed) == 5
    assert scalar(path, "SELECT count(*) FROM jobs WHERE parent_job_id = ?", (asking.job_id,)) == 1
