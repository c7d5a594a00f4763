"""Submitting work: one job per request, chunks from a date range or a list, dedupe keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from queuetop.engine.services import claims
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.services.jobs import date_chunks, parse_range
from queuetop.engine.api import Queue

from conftest import assert_counters, fast_config, query, queuetop_command, scalar, subprocess_env


async def test_date_range_split_into_90_day_chunks(queue: Queue) -> None:
    result = await queue.submit("reports.collect", date_range="2024-01-01..2025-12-31", chunk_days=90,
                                params={"account": 7})
    assert result.created
    job = await queue.job(result.job_id)
    chunks = await queue.chunks(result.job_id)
    # 2024 has 366 days, 2025 365: 731 days is eight full chunks of 90 and one of 11.
    assert job.chunks_total == len(chunks) == 9
    assert job.params == {"account": 7}
    assert [c.chunk_index for c in chunks] == list(range(9))
    spans = [(dt.date.fromisoformat(c.params["start"]), dt.date.fromisoformat(c.params["end"])) for c in chunks]
    assert spans[0][0] == dt.date(2024, 1, 1)
    assert spans[-1][1] == dt.date(2025, 12, 31)
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert (end - start).days + 1 == 90  # inclusive ends: every chunk but the last is 90 days
        assert next_start == end + dt.timedelta(days=1)  # contiguous: no gap, no overlap
    assert (spans[-1][1] - spans[-1][0]).days + 1 == 11
    assert sum((end - start).days + 1 for start, end in spans) == 731


@pytest.mark.parametrize(("text", "days", "count"), [
    ("2024-01-01..2024-01-01", 90, 1),     # one day
    ("2024-01-01..2024-03-30", 90, 1),     # exactly one chunk (2024 is a leap year: 90 days)
    ("2024-01-01..2024-03-31", 90, 2),     # one day over
    ("2024-02-28..2024-03-01", 1, 3),      # across the leap day
    ("2023-12-31..2024-01-01", 7, 1),      # across a year end
])
def test_date_chunks_edges(text: str, days: int, count: int) -> None:
    first, last = parse_range(text)
    chunks = date_chunks(first, last, days)
    assert len(chunks) == count
    assert chunks[0]["start"] == first.isoformat() and chunks[-1]["end"] == last.isoformat()


@pytest.mark.parametrize("text", ["2024-01-01", "2024-01-01..", "2024-13-01..2024-12-31", "yesterday..today",
                                  "2024-02-01..2024-01-01"])
async def test_malformed_range_is_refused(queue: Queue, text: str) -> None:
    with pytest.raises(UsageError, match="malformed range"):
        await queue.submit("x", date_range=text, chunk_days=5)
    assert await queue.count_jobs() == 0


async def test_bad_submissions_are_refused_before_writing(queue: Queue) -> None:
    with pytest.raises(UsageError, match="chunk days must be an integer ≥ 1"):
        await queue.submit("x", date_range="2024-01-01..2024-01-31", chunk_days=0)
    with pytest.raises(UsageError, match=r"chunk_days \(--chunk-days\) needs a date_range \(--range\)"):
        await queue.submit("x", chunk_days=5)
    with pytest.raises(UsageError, match="not both"):
        await queue.submit("x", date_range="2024-01-01..2024-01-31", chunks=[{}])
    with pytest.raises(UsageError, match="chunk 1 must be a JSON object"):
        await queue.submit("x", chunks=[{"a": 1}, [2]])
    with pytest.raises(UsageError, match="at least one chunk"):
        await queue.submit("x", chunks=[])
    with pytest.raises(UsageError, match="params must be a JSON object"):
        await queue.submit("x", params=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="max retries must be an integer ≥ 0"):
        await queue.submit("x", max_retries=-1)
    for timeout in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(UsageError, match="timeout must be a number > 0"):
            await queue.submit("x", timeout=timeout)
    with pytest.raises(UsageError, match="priority must be an integer"):
        await queue.submit("x", priority=2 ** 70)
    with pytest.raises(UsageError, match="not a valid intent key"):
        await queue.submit("reports.collect\n")
    with pytest.raises(UsageError, match="over the limit of 10"):
        await queue.submit("x", chunks=[{}] * 11, max_chunks=10)
    with pytest.raises(UsageError, match="intent"):
        await queue.submit("")
    assert await queue.count_jobs() == 0


async def test_explicit_chunks_keep_their_order_and_params(queue: Queue, clock: FrozenClock) -> None:
    params = [{"account": n, "region": r} for n, r in ((1, "eu"), (2, "us"), (3, "ap"), (4, "eu"))]
    result = await queue.submit("accounts.sync", chunks=params, priority=3, max_retries=5, timeout=60)
    job = await queue.job(result.job_id)
    assert (job.chunks_total, job.priority, job.max_retries, job.timeout) == (4, 3, 5, 60)
    assert job.status.value == "pending" and job.created_at == clock.now()
    chunks = await queue.chunks(result.job_id)
    assert [c.params for c in chunks] == params
    assert {(c.status.value, c.priority, c.attempt, c.run_after) for c in chunks} == {("pending", 3, 0, clock.now())}


async def test_no_chunks_means_one_empty_chunk(queue: Queue) -> None:
    result = await queue.submit("demo.noop")
    chunks = await queue.chunks(result.job_id)
    assert [(c.chunk_index, c.params) for c in chunks] == [(0, {})]


async def test_defaults_come_from_the_engine_settings(db_path: Path) -> None:
    async with await Queue.open(db_path, fast_config(max_retries=7, chunk_timeout=12.5)) as q:
        job = await q.job((await q.submit("demo.noop")).job_id)
    assert (job.max_retries, job.timeout) == (7, 12.5)


async def test_one_submit_is_one_job(queue: Queue) -> None:
    first = await queue.submit("a", chunks=[{"n": n} for n in range(1000)])
    second = await queue.submit("b", date_range="2024-01-01..2024-12-31", chunk_days=30)
    assert await queue.count_jobs() == 2
    assert (await queue.job(first.job_id)).chunks_total == 1000
    assert (await queue.job(second.job_id)).chunks_total == 13


@pytest.mark.sqlite_only  # the failure is injected with a SQLite trigger
async def test_a_submit_is_one_transaction(queue: Queue, db_path: Path) -> None:
    """If inserting any chunk fails, neither the job nor any of its chunks is left behind."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as c:
        c.execute("CREATE TRIGGER refuse_chunk_7 BEFORE INSERT ON chunks WHEN NEW.chunk_index = 7"
                  " BEGIN SELECT RAISE(ABORT, 'chunk 7 refused'); END")
    with pytest.raises(sqlite3.IntegrityError, match="chunk 7 refused"):
        await queue.submit("x", chunks=[{"n": n} for n in range(10)])
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 0
    assert scalar(db_path, "SELECT count(*) FROM chunks") == 0
    # The queue is still usable afterwards.
    ok = await queue.submit("x", chunks=[{"n": n} for n in range(5)])
    assert (await queue.job(ok.job_id)).chunks_total == 5


@pytest.mark.sqlite_only  # the failure is injected with a SQLite trigger
async def test_readers_never_see_half_a_job(queue: Queue, db_path: Path) -> None:
    """Another connection sees no job, or the job with all its chunks."""
    seen: set[tuple[int, int]] = set()
    stop = asyncio.Event()

    def watch() -> None:
        with closing(sqlite3.connect(db_path, isolation_level=None)) as c:
            while not stop.is_set():
                seen.add(c.execute("SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM chunks)").fetchone())

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    try:
        for _ in range(5):
            await queue.submit("x", chunks=[{"n": n} for n in range(20_000)])
    finally:
        stop.set()
        await watcher
    assert seen <= {(n, n * 20_000) for n in range(6)}, sorted(seen)


# -- dedupe ---------------------------------------------------------------------------


async def test_dedupe_returns_the_unfinished_job(queue: Queue, clock: FrozenClock) -> None:
    first = await queue.submit("x", chunks=[{"n": 1}, {"n": 2}], dedupe_key="acct-7")
    again = await queue.submit("x", chunks=[{"n": 9}], dedupe_key="acct-7")
    other = await queue.submit("x", dedupe_key="acct-8")
    assert first.created and not again.created and other.created
    assert again.job_id == first.job_id != other.job_id
    assert (await queue.job(first.job_id)).chunks_total == 2  # the second submit added nothing
    assert await queue.count_jobs() == 2

    # Still the same job while it runs.
    batch, _ = await claims.claim(queue.db, "w1", 10, clock.now())
    assert (await queue.job(first.job_id)).status.value == "running"
    assert (await queue.submit("x", dedupe_key="acct-7")).job_id == first.job_id

    # Once it has finished, the key is free again: a new job.
    await queue.settle([claims.success(c, "w1", None, clock.now()) for c in batch if c.job_id == first.job_id])
    assert (await queue.job(first.job_id)).status.value == "completed"
    fresh = await queue.submit("x", dedupe_key="acct-7")
    assert fresh.created and fresh.job_id not in (first.job_id, other.job_id)


async def test_dedupe_key_is_freed_by_cancel(queue: Queue) -> None:
    first = await queue.submit("x", dedupe_key="k")
    await queue.cancel(first.job_id)
    second = await queue.submit("x", dedupe_key="k")
    assert second.created and second.job_id != first.job_id


async def test_concurrent_submits_in_one_process_make_one_job(db_path: Path) -> None:
    queues = [await Queue.open(db_path) for _ in range(4)]  # four connections, four writers
    try:
        results = await asyncio.gather(*(q.submit("x", chunks=[{"n": n} for n in range(50)], dedupe_key="k")
                                         for q in queues for _ in range(5)))
    finally:
        for q in queues:
            await q.close()
    assert len({r.job_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 1
    assert scalar(db_path, "SELECT count(*) FROM chunks") == 50
    assert_counters(db_path)


@pytest.mark.parametrize("fresh", [True, False], ids=["new-database", "existing-database"])
def test_concurrent_submits_from_processes_make_one_job(tmp_path: Path, fresh: bool) -> None:
    """Several `queuetop submit --dedupe-key K` processes started together make exactly one job.

    On a new database they also race to create the file and its schema.
    """
    db_path = tmp_path / "shared.db"
    if not fresh:
        subprocess.run([*queuetop_command(), "pause", "--db", str(db_path)], cwd=tmp_path, env=subprocess_env(),
                       check=True, capture_output=True)
    command = [*queuetop_command(), "submit", "demo.noop", "--db", str(db_path), "--dedupe-key", "K",
               "--range", "2024-01-01..2024-12-31", "--chunk-days", "7", "--json"]
    procs = [subprocess.Popen(command, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=30)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    for code, out, err in outputs:
        assert code == 0, err
        assert err == ""
    results = [json.loads(out) for _, out, _ in outputs]
    assert len({r["job_id"] for r in results}) == 1, results
    assert sum(r["created"] for r in results) == 1, results
    assert query(db_path, "SELECT count(*), sum(chunks_total) FROM jobs") == [(1, 53)]
    assert scalar(db_path, "SELECT count(*) FROM chunks") == 53
    assert_counters(db_path)
