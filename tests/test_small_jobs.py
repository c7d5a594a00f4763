"""Many small jobs: claims, settles and finalization are set-wise, with every invariant kept.

A claim batch, a settle batch and the end of the jobs they touch take the
same number of statements whether the batch holds one job's chunks or a
chunk each of many jobs. Run on both backends; statements are counted by
wrapping the backend's own connections, nothing is replaced.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import (assert_counters, async_wait_until, fast_config, queuetop_command, query, scalar,
                      subprocess_env)
from queuetop.engine.api import Queue
from queuetop.engine.handlers.registry import Registry
from queuetop.engine.services.worker import Worker
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.states import ChunkState
from queuetop.engine.services import claims
from queuetop.engine.services.settler import ONE_TRIP_PAUSE, Settler
from queuetop.engine.store.queries import Query


class _Counting:
    """A backend connection that counts the statements sent through it."""

    def __init__(self, conn: Any, counts: list[int]) -> None:
        self._conn, self._counts = conn, counts
        self.statements_are_trips = conn.statements_are_trips  # the settle takes the shape it would unwatched

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._counts[-1] += 1
        return self._conn.execute(sql, params)

    async def execute_fetchall(self, sql: str, params: Any = ()) -> Any:
        self._counts[-1] += 1
        return await self._conn.execute_fetchall(sql, params)

    async def executemany(self, sql: str, params: Any) -> Any:
        rows = list(params)
        self._counts[-1] += len(rows)  # one statement per row, however it is sent
        return await self._conn.executemany(sql, rows)


@contextmanager
def counting_statements(queue: Queue) -> Iterator[list[int]]:
    """Statements per transaction of ``queue``'s backend, one entry per transaction."""
    counts: list[int] = []
    original = queue.db.transaction

    @asynccontextmanager
    async def transaction(**kw: Any) -> AsyncIterator[Any]:
        counts.append(0)
        async with original(**kw) as conn:
            yield _Counting(conn, counts)

    setattr(queue.db, "transaction", transaction)  # on this instance only
    try:
        yield counts
    finally:
        delattr(queue.db, "transaction")


async def _claim_and_settle(queue: Queue, clock: FrozenClock, n: int,
                            intent: str) -> tuple[int, int, list[dict[str, Any]]]:
    """Claim ``n`` chunks of ``intent`` in one batch and complete them in one settle: statements of each."""
    with counting_statements(queue) as counts:
        batch, _ = await claims.claim(queue.db, "w1", n, clock.now(), [intent])
        assert len(batch) == n
        settled = await claims.settle(queue.db, [claims.success(c, "w1", {"ok": c.chunk_index}, clock.now())
                                                 for c in batch], clock.now(), on_job_ended=queue.job_ended_hooks)
    assert len(counts) == 2
    return counts[0], counts[1], settled.finalized


async def test_statements_per_batch_do_not_grow_with_the_jobs_it_touches(queue: Queue, clock: FrozenClock,
                                                                          db_path: Path | str) -> None:
    n = 60
    (one,) = await queue.submit_many([{"intent": "big", "chunks": [{"i": i} for i in range(n)],
                                       "on_finalize": "after"}])
    one_job = await _claim_and_settle(queue, clock, n, "big")
    many = await queue.submit_many([{"intent": "small", "params": {"i": i}, "on_finalize": "after"}
                                    for i in range(n)])
    many_jobs = await _claim_and_settle(queue, clock, n, "small")

    assert one_job[0] == many_jobs[0], "a claim of many jobs takes more statements than a claim of one"
    assert one_job[1] == many_jobs[1], "a settle that ends many jobs takes more statements than one that ends one"
    assert [job["id"] for job in one_job[2]] == [one.job_id]
    assert sorted(job["id"] for job in many_jobs[2]) == [r.job_id for r in many]
    # every job ended once, as completed, and got exactly one follow-up job
    assert all(job["status"] == "completed" for job in one_job[2] + many_jobs[2])
    parents = Counter(row[0] for row in query(db_path, "SELECT parent_job_id FROM jobs WHERE intent = 'after'"))
    assert parents == Counter([one.job_id] + [r.job_id for r in many])
    follow_up = await queue.job(many_jobs[2][0]["follow_up_job_id"])
    assert follow_up.params["job_id"] == many_jobs[2][0]["id"] and follow_up.params["status"] == "completed"


async def test_completions_settle_in_one_trip_unless_a_job_they_end_needs_what_follows(
        queue: Queue, clock: FrozenClock, db_path: Path | str) -> None:
    """``one_trip``: completions whose jobs end plainly are committed with the statement. A job
    ending with an on-finalize intent, or ending partial, makes that statement write nothing
    (PostgreSQL): the settle goes again in two trips, with the follow-up job and the hooks,
    each exactly once. Hooks never see a job that completed."""
    postgres = queue.db.dialect == "postgres"
    seen: list[tuple[int, str]] = []

    async def hook(conn: Any, job: dict[str, Any], now: float) -> None:
        seen.append((job["id"], job["status"]))

    hooks = (*queue.job_ended_hooks, hook)

    async def settle(outcomes: list[claims.Outcome]) -> claims.Settled:
        return await claims.settle(queue.db, outcomes, clock.now(), on_job_ended=hooks, one_trip=True)

    plain = await queue.submit_many([{"intent": "plain"} for _ in range(5)])
    batch, _ = await claims.claim(queue.db, "w1", 5, clock.now(), ["plain"])
    settled = await settle([claims.success(c, "w1", None, clock.now()) for c in batch])
    assert not settled.refused_one_trip
    assert [(job["id"], job["status"]) for job in settled.finalized] == [(r.job_id, "completed") for r in plain]

    (asking,) = await queue.submit_many([{"intent": "asks", "on_finalize": "after"}])
    batch, _ = await claims.claim(queue.db, "w1", 5, clock.now(), ["asks"])
    settled = await settle([claims.success(c, "w1", None, clock.now()) for c in batch])
    assert settled.refused_one_trip is postgres
    follow_ups = query(db_path, "SELECT id FROM jobs WHERE parent_job_id = ?", (asking.job_id,))
    assert [(row[0],) for row in follow_ups] == [(settled.finalized[0]["follow_up_job_id"],)]

    (two,) = await queue.submit_many([{"intent": "two", "chunks": [{}, {}], "max_retries": 0}])
    first, second = (await claims.claim(queue.db, "w1", 2, clock.now(), ["two"]))[0]
    await settle([claims.failure(first, "w1", "boom", permanent=True, max_retries=0, now=clock.now())])
    settled = await settle([claims.success(second, "w1", None, clock.now())])
    assert settled.refused_one_trip is postgres
    job = await queue.job(two.job_id)
    assert (job.status.value, job.chunks_completed, job.chunks_failed) == ("partial", 1, 1)  # counted once
    assert seen == [(two.job_id, "partial")]
    assert_counters(db_path)


async def test_after_a_refused_one_trip_settle_a_worker_settles_in_two_trips_for_a_pause(
        queue: Queue, clock: FrozenClock, db_path: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where every job has an on-finalize intent, each one-trip settle would be refused and written
    twice: after a refusal the worker's settles go in two trips for ONE_TRIP_PAUSE, then ask again.
    SQLite never refuses (its settle and its follow-ups are one trip to the connection's thread)."""
    postgres = queue.db.statements_are_trips
    now = [1000.0]
    asked: list[tuple[bool, bool]] = []  # (one_trip asked, refused)
    settle = queue.settle

    async def recording(*args: Any, one_trip: bool = False, **kwargs: Any) -> claims.Settled:
        settled = await settle(*args, one_trip=one_trip, **kwargs)
        asked.append((one_trip, settled.refused_one_trip))
        return settled

    monkeypatch.setattr(queue, "settle", recording)  # a spy on the real settle, which still runs
    settler = Settler(queue, name=lambda: "w1", next_claim=lambda: None, started=lambda *_: None,
                      wake=lambda: None, monotonic=lambda: now[0])
    made = await queue.submit_many([{"intent": "asks", "on_finalize": "after"} for _ in range(3)])
    batch, _ = await claims.claim(queue.db, "w1", 3, clock.now(), ["asks"])
    for claim, step in zip(batch, (0.0, ONE_TRIP_PAUSE - 0.01, 0.01)):
        now[0] += step
        await settler.write([claims.success(claim, "w1", None, clock.now())])
    assert asked == ([(True, True), (False, False), (True, True)] if postgres else [(True, False)] * 3)
    parents = Counter(row[0] for row in query(db_path, "SELECT parent_job_id FROM jobs WHERE intent = 'after'"))
    assert parents == Counter(r.job_id for r in made)  # one follow-up each, however the settle went
    assert_counters(db_path)


async def test_a_mixed_batch_settles_each_job_by_its_own_chunks(queue: Queue, clock: FrozenClock,
                                                                 db_path: Path | str) -> None:
    """One settle of chunks of many jobs: completed, failed, retried and fenced-out outcomes together."""
    made = await queue.submit_many([{"intent": "x", "chunks": [{"c": c} for c in range(3)], "max_retries": 0}
                                    for _ in range(20)])
    batch, _ = await claims.claim(queue.db, "w1", 60, clock.now())
    assert len(batch) == 60
    # one job is cancelled while its chunks are held: their results must be fenced out
    cancelled_job = made[7].job_id
    await queue.cancel(cancelled_job)
    rng = random.Random(7)
    outcomes, expected = [], {}
    for claim in batch:
        roll = rng.random()
        if claim.job_id == made[3].job_id:  # every chunk of this one fails: the job fails
            outcomes.append(claims.failure(claim, "w1", "boom", permanent=True, max_retries=0, now=clock.now()))
        elif claim.job_id == made[5].job_id and claim.chunk_index == 0:  # released: the job stays running
            outcomes.append(claims.release(claim, clock.now()))
        elif roll < 0.2 and claim.job_id not in (made[3].job_id, cancelled_job):
            outcomes.append(claims.failure(claim, "w1", "boom", permanent=True, max_retries=0, now=clock.now()))
        else:
            outcomes.append(claims.success(claim, "w1", None, clock.now()))
        expected[claim.chunk_id] = outcomes[-1].status
    rng.shuffle(outcomes)
    settled = await queue.settle(outcomes)

    assert settled.fenced_out == 3  # the cancelled job's three chunks
    statuses = {job["id"]: job["status"] for job in settled.finalized}
    assert statuses[made[3].job_id] == "failed"
    assert made[5].job_id not in statuses and cancelled_job not in statuses
    assert len(statuses) == 18
    for job_id, status in statuses.items():
        chunk_states = {row[0] for row in query(db_path, "SELECT status FROM chunks WHERE job_id = ?", (job_id,))}
        want = ("completed" if chunk_states == {"completed"} else "failed" if chunk_states == {"failed"}
                else "partial")
        assert status == want, (job_id, chunk_states)
    assert (await queue.job(made[5].job_id)).status == "running"
    # a second settle of the same outcomes changes nothing: the leases are gone
    again = await queue.settle(outcomes)
    assert again.applied == [] and again.finalized == [] and again.fenced_out == len(outcomes)
    assert scalar(db_path, "SELECT count(*) FROM chunks WHERE status = 'processing'") == 0
    assert_counters(db_path)
    assert all(state in (ChunkState.COMPLETED, ChunkState.FAILED, ChunkState.PENDING) for state in expected.values())


def test_two_processes_submitting_the_same_keys_make_each_job_once(tmp_path: Path, db_path: Path | str) -> None:
    """Two real processes bulk-submit overlapping dedupe keys in different orders at once."""
    keys = [f"acct-{n}" for n in range(3000)]
    files = []
    for name, seed in (("a", 1), ("b", 2)):
        order = keys[:]
        random.Random(seed).shuffle(order)
        path = tmp_path / f"{name}.ndjson"
        path.write_text("".join(json.dumps({"intent": "mail.send", "dedupe_key": k, "params": {"by": name}}) + "\n"
                                for k in order))
        files.append((path, order))
    # the schema exists before the race, so both processes only insert
    assert subprocess.run([*queuetop_command(), "submit", "seed", "--db", str(db_path)], env=subprocess_env(),
                          capture_output=True, timeout=60).returncode == 0
    procs = [subprocess.Popen([*queuetop_command(), "submit-many", str(path), "--json", "--db", str(db_path)],
                              env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for path, _ in files]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    ids_by_key = []
    for (_, order), results in zip(files, outputs):
        assert len(results) == len(order)
        ids_by_key.append({key: r["job_id"] for key, r in zip(order, results)})
    assert ids_by_key[0] == ids_by_key[1], "the two processes disagree on which job holds a key"
    assert sum(r["created"] for out in outputs for r in out) == len(keys)
    assert scalar(db_path, "SELECT count(*) FROM jobs WHERE intent = 'mail.send'") == len(keys)
    assert scalar(db_path, "SELECT count(DISTINCT dedupe_key) FROM jobs WHERE intent = 'mail.send'") == len(keys)
    assert_counters(db_path)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


async def test_a_claim_reads_only_what_it_claims_whatever_the_statistics_say(queue: Queue, backend: str) -> None:
    """A fresh backlog the planner has no statistics for must not make every claim read all of it.

    Without statistics PostgreSQL guesses a handful of pending chunks and
    plans a bitmap scan of all of them and a sort; a claim then reads the
    whole backlog and draining it costs its square. SQLite must walk the
    claim index in order too (no temporary sort).
    """
    await queue.submit_many({"intent": "demo.noop"} for _ in range(3000))
    sql = claims.SQL["claim"]
    params = {"worker_id": "w", "now": queue.clock.now() + 1, "limit": 5, "intents": '["demo.noop"]'}
    with pytest.raises(_RolledBack):  # EXPLAIN ANALYZE runs the claim: undo it
        async with queue.db.transaction() as conn:
            if backend == "postgres":
                await claims.plan_claim(queue.db, conn)  # as claims.claim does
                explain = Query("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                explain.postgres = "EXPLAIN (ANALYZE, FORMAT JSON) " + (sql.postgres or "")
                async with conn.execute(explain, params) as cur:
                    plan = (await cur.fetchone())[0][0]["Plan"]
                scans = [n for n in _plan_nodes(plan) if n.get("Index Name") == "chunks_claim"]
                assert [n["Node Type"] for n in scans] == ["Index Scan"], plan
                assert scans[0]["Actual Rows"] <= 5
            else:
                async with conn.execute("EXPLAIN QUERY PLAN " + sql, params) as cur:
                    detail = " | ".join(row[-1] for row in await cur.fetchall())
                assert "chunks_claim" in detail, detail
                assert "TEMP B-TREE" not in detail, detail
            raise _RolledBack


async def _explain(conn: Any, sql: Query, params: dict[str, Any]) -> dict[str, Any]:
    """The executed plan of a PostgreSQL statement (EXPLAIN ANALYZE runs it)."""
    explain = Query("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
    explain.postgres = "EXPLAIN (ANALYZE, FORMAT JSON) " + (sql.postgres or "")
    async with conn.execute(explain, params) as cur:
        return (await cur.fetchone())[0][0]["Plan"]


def _tables_read_whole(plan: dict[str, Any]) -> list[str]:
    return [n["Relation Name"] for n in _plan_nodes(plan) if n["Node Type"] == "Seq Scan"
            and n.get("Relation Name") in ("jobs", "chunks")]


@pytest.mark.postgres_only
async def test_claims_and_settles_find_their_rows_by_key_once_analyzed(queue: Queue) -> None:
    """With statistics of a few thousand jobs, PostgreSQL likes to read every job and chunk and hash them.

    The claim's chunk update and job start, the settle and the jobs' counters
    must each look up the rows of their batch by key instead: a drain that
    reads the whole table per batch costs the square of the table.
    """
    await queue.submit_many({"intent": "demo.noop"} for _ in range(3000))
    async with queue.db.transaction() as conn:
        await conn.execute("ANALYZE jobs")
        await conn.execute("ANALYZE chunks")
    now = queue.clock.now() + 1
    with pytest.raises(_RolledBack):
        async with queue.db.transaction() as conn:
            await claims.plan_claim(queue.db, conn)
            plan = await _explain(conn, claims.SQL["claim"], {"worker_id": "w", "now": now, "limit": 64,
                                                               "intents": '["demo.noop"]'})
            assert _tables_read_whole(plan) == [], plan
            raise _RolledBack
    batch, _ = await claims.claim(queue.db, "w", 64, now, ["demo.noop"])
    outcomes = [{"chunk_id": c.chunk_id, "lease_token": c.lease_token, "status": "completed", "run_after": None,
                 "finished_at": now, "error": None, "result": None, "refund": 0, "attempt": c.attempt,
                 "worker_id": "w", "kind": None, "started_at": c.claimed_at} for c in batch]
    starts = [{"job_id": c.job_id, "started_at": c.claimed_at} for c in batch]
    params = {"outcomes": json.dumps(outcomes), "starts": json.dumps(starts), "now": now, "one_trip": True}
    with pytest.raises(_RolledBack):
        async with queue.db.transaction() as conn:
            # the whole settle: chunks, attempts, workers' and jobs' counters in one statement
            plan = await _explain(conn, claims.SQL["settle_all"], params)
            assert _tables_read_whole(plan) == [], plan
            # The plan the server caches for the statement once it is prepared: it must not read
            # chunks_processing whole (a bitmap scan never marks ended chunks' entries dead, so
            # until a vacuum that index holds one entry per chunk ever claimed).
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            plan = await _explain(conn, claims.SQL["settle_all"], params)
            assert _tables_read_whole(plan) == [], plan
            used = {n["Index Name"] for n in _plan_nodes(plan) if "Index Name" in n}
            assert used == {"chunks_pkey", "jobs_pkey", "workers_pkey"}, plan
            raise _RolledBack
    await claims.settle(queue.db, [claims.success(c, "w", None, now) for c in batch], now)


def _xmin(db_path: Path | str, job_id: int) -> Any:
    """The transaction that wrote the job's row last (PostgreSQL)."""
    return scalar(db_path, "SELECT xmin::text FROM jobs WHERE id = ?", (job_id,))


def _count_job_writes(db_path: Path | str) -> None:
    """From now on, record every write of a jobs row in the table job_writes (SQLite)."""
    import sqlite3

    with sqlite3.connect(db_path, isolation_level=None) as conn:
        conn.executescript("CREATE TABLE job_writes (job_id INTEGER);"
                           "CREATE TRIGGER job_writes AFTER UPDATE ON jobs BEGIN"
                           " INSERT INTO job_writes VALUES (NEW.id); END;")
    conn.close()


def _job_writes(db_path: Path | str, job_id: int) -> int:
    return scalar(db_path, "SELECT count(*) FROM job_writes WHERE job_id = ?", (job_id,))


def _version(db_path: Path | str, backend: str, job_id: int) -> Any:
    """What changes whenever the job's row is written, on either backend."""
    return _xmin(db_path, job_id) if backend == "postgres" else _job_writes(db_path, job_id)


async def test_a_worker_claim_leaves_its_jobs_to_the_settle_that_follows(queue: Queue, clock: FrozenClock,
                                                                         db_path: Path | str, backend: str) -> None:
    """A worker's claim writes only chunks; its next settle starts the jobs.

    A job whose chunks have all ended by then goes from pending to its end
    in one write; one still running is started by a settle of no outcome;
    a start for a job already running writes nothing. Claims made for
    anyone else (``start=True``) start their jobs at once, as before.
    """
    made = await queue.submit_many([{"intent": "small"} for _ in range(3)]
                                   + [{"intent": "small", "chunks": [{}, {}]}])
    ids = [r.job_id for r in made]
    if backend == "sqlite":
        _count_job_writes(db_path)
    before = {job_id: _version(db_path, backend, job_id) for job_id in ids}
    claimed_at = clock.now()
    batch, specs = await claims.claim(queue.db, "w1", 10, claimed_at, ["small"], start=False)
    assert len(batch) == 5 and sorted(specs) == ids
    assert specs[ids[0]].intent == "small" and specs[ids[0]].params == {}
    assert claims.defers_job_starts(queue.db)
    statuses = {job_id: (await queue.job(job_id)).status.value for job_id in ids}
    assert set(statuses.values()) == {"pending"}
    assert {job_id: _version(db_path, backend, job_id) for job_id in ids} == before, "the claim wrote a job's row"
    clock.advance(2)
    starts = {job_id: claimed_at for job_id in ids}
    # the first two one-chunk jobs end with the starts; the third and the two-chunk job go on running
    first = [c for c in batch if c.job_id in ids[:2]]
    settled = await claims.settle(queue.db, [claims.success(c, "w1", None, clock.now()) for c in first],
                                  clock.now(), starts=starts)
    assert sorted(job["id"] for job in settled.finalized) == ids[:2]
    for job_id in ids:
        job = await queue.job(job_id)
        assert job.status.value == ("completed" if job_id in ids[:2] else "running")
        assert job.started_at == claimed_at
    if backend == "sqlite":  # started and ended in one write, each still-running job started in one
        assert [_job_writes(db_path, job_id) for job_id in ids] == [1, 1, 1, 1]
    written = _version(db_path, backend, ids[2])
    again = await claims.settle(queue.db, [], clock.now(), starts={ids[2]: claimed_at})  # already running
    assert again.applied == [] and again.finalized == []
    assert _version(db_path, backend, ids[2]) == written, "a start for a running job wrote its row"
    rest = [c for c in batch if c.job_id not in ids[:2]]
    await claims.settle(queue.db, [claims.success(c, "w1", None, clock.now()) for c in rest], clock.now())
    assert {(await queue.job(job_id)).status.value for job_id in ids} == {"completed"}
    # a claim that starts its jobs (tools, tests, the default) does so in its own transaction
    (other,) = await queue.submit_many([{"intent": "small"}])
    await claims.claim(queue.db, "w1", 1, clock.now(), ["small"])
    assert (await queue.job(other.job_id)).status.value == "running"


async def test_a_worker_shows_its_long_jobs_running_before_they_end(db_path: Path | str) -> None:
    """The start a claim leaves to the next settle is written at once, not with the job's end."""
    registry = Registry()
    release = asyncio.Event()

    async def slow(ctx: Any) -> None:
        await release.wait()

    registry.add("t.slow", slow)
    queue = await Queue.open(db_path, fast_config(), registry=registry)
    stop = asyncio.Event()
    try:
        job_id = (await queue.submit("t.slow")).job_id
        runner = asyncio.create_task(Worker(queue).run(stop))

        async def status() -> str:
            return (await queue.job(job_id)).status.value

        await async_wait_until(lambda: _is(status, "running"), message="the job to show running")
        job = await queue.job(job_id)
        assert job.started_at is not None and job.finished_at is None
        release.set()
        await async_wait_until(lambda: _is(status, "completed"), message="the job to end")
        stop.set()
        await asyncio.wait_for(runner, 15)
        job = await queue.job(job_id)
        assert job.started_at is not None and job.finished_at is not None and job.started_at <= job.finished_at
    finally:
        stop.set()
        await queue.close()
    assert_counters(db_path)


async def _is(read: Any, want: str) -> bool:
    return (await read()) == want


class _RolledBack(Exception):
    """Raised to leave a transaction without committing it."""


async def test_a_worker_refills_its_slots_with_the_settle_that_frees_them(
        db_path: Path | str, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite, where one connection writes at a time, a busy worker's claims ride with its
    settles (one transaction where two were); on PostgreSQL they stay apart, each on its own
    connection, the claim while the settle's commit waits for the disk. Either way every job
    runs once and ends completed, and the counters agree with the rows."""
    registry = Registry()
    runs: Counter[int] = Counter()

    async def small(ctx: Any) -> None:
        runs[ctx.job_id] += 1

    registry.add("small", small)
    queue = await Queue.open(db_path, fast_config(), registry=registry)
    settles_claiming: list[int] = []
    real_settle = claims.settle

    async def settle(*args: Any, **kwargs: Any) -> claims.Settled:
        done = await real_settle(*args, **kwargs)
        if kwargs.get("then_claim") is not None:
            settles_claiming.append(len(done.claimed))
        return done

    monkeypatch.setattr(claims, "settle", settle)
    stop = asyncio.Event()
    try:
        made = await queue.submit_many([{"intent": "small"} for _ in range(600)])
        worker = Worker(queue, concurrency=20)
        runner = asyncio.create_task(worker.run(stop))
        ended = ("completed", "failed", "partial", "cancelled")
        await async_wait_until(lambda: scalar(db_path, f"SELECT count(*) FROM jobs WHERE status IN {ended}") == 600,
                               message="every job to end", timeout=60)
        stop.set()
        await asyncio.wait_for(runner, 15)
    finally:
        stop.set()
        await queue.close()
    assert sorted(runs) == sorted(r.job_id for r in made) and set(runs.values()) == {1}
    assert scalar(db_path, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 600
    assert worker.claimed == 600
    if backend == "sqlite":
        assert sum(settles_claiming) >= 500, f"most chunks were claimed by settles: {sum(settles_claiming)} of 600"
    else:
        assert settles_claiming == []
    assert_counters(db_path)


async def test_a_queue_limited_elsewhere_during_a_drain_is_claimed_before_the_drain_ends(db_path: Path | str) -> None:
    """While a worker's settles do its claiming, it still learns which queues are held: a queue
    another process limits meanwhile is left out of those claims, and claimed apart, under its
    limit, long before the rest of the backlog is done."""
    from queuetop.engine.model.queues import QueueSpec
    from queuetop.engine.services import queues

    registry = Registry()

    async def small(ctx: Any) -> None:
        await asyncio.sleep(0.02)

    registry.add("small", small)
    queue = await Queue.open(db_path, fast_config(), registry=registry)
    other = await Queue.open(db_path, fast_config())  # another process: its changes reach no worker here
    stop = asyncio.Event()
    try:
        await queue.submit_many([{"intent": "small"} for _ in range(600)])
        runner = asyncio.create_task(Worker(queue, concurrency=4).run(stop))
        await async_wait_until(lambda: scalar(db_path, "SELECT count(*) FROM jobs WHERE status = 'completed'") >= 20,
                               message="the drain to be under way", timeout=30)
        await queues.configure(other.db, other.clock, [QueueSpec(name="q2", limit=1)])
        limited = [r.job_id for r in await other.submit_many([{"intent": "small", "queue": "q2"} for _ in range(3)])]
        ids = ", ".join(str(job_id) for job_id in limited)
        await async_wait_until(
            lambda: scalar(db_path, f"SELECT count(*) FROM jobs WHERE id IN ({ids}) AND status = 'completed'") == 3,
            message="the limited queue's jobs to end", timeout=60)
        left = scalar(db_path, "SELECT count(*) FROM jobs WHERE queue = 'default' AND status = 'pending'")
        assert left > 0, "the limited queue waited for the whole backlog"
        stop.set()
        await asyncio.wait_for(runner, 15)
    finally:
        stop.set()
        await other.close()
        await queue.close()
    assert_counters(db_path)
