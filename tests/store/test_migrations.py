"""Schema versions: a v1 database of each kind is upgraded and keeps its data; a newer one is refused.

A v1 database is made from today's schema by undoing what the shipped
migrations add (0002: workers.intents, 0003: workers.abandoned, 0004: the
schedules' zone and catch-up columns and the retention indexes, 0005: the alert
tables, 0006: the state counters and the find indexes, 0007: the queue columns,
the queues table and its indexes, 0009: the jobs' nonces) and stamping it v1. A further
migration made up for the test checks the mechanism past the newest one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_counters, is_postgres, query, scalar
from queuetop.engine.api import Queue
from queuetop.engine.model.exceptions import DatabaseError
from queuetop.engine.store import open_store
from queuetop.engine.store.postgres import backend as postgres_backend
from queuetop.engine.store.sqlite import backend as sqlite_backend

# A new table filled from the old data: the shape of a real migration's work.
NEXT = max(sqlite_backend.schema_version(), postgres_backend.schema_version()) + 1
V2 = (NEXT, "CREATE TABLE job_notes (job_id INTEGER NOT NULL REFERENCES jobs (id), note TEXT NOT NULL);\n"
         "INSERT INTO job_notes (job_id, note) SELECT id, intent FROM jobs;\n")


UNDONE_INDEXES = ("jobs_intent", "jobs_created", "chunks_errors", "jobs_updated")
V4_COLUMNS = ("tz", "catch_up", "max_catch_up", "missed", "last_missed_at")
V7_INDEXES = ("chunks_queue_claim", "chunks_queue_processing", "jobs_queue")
V4_INDEXES = ("jobs_ended", "jobs_parent", "task_logs_chunk", "schedule_runs_job", "schedule_runs_finished")


def _backend(db_path: Path | str):  # the module of the backend under test
    return postgres_backend if is_postgres(db_path) else sqlite_backend


def _version(db_path: Path | str) -> int:
    if is_postgres(db_path):
        return int(scalar(db_path, "SELECT value FROM queuetop_meta WHERE key = 'schema_version'"))
    return scalar(db_path, "PRAGMA user_version")


def test_both_backends_ship_the_same_migration_numbers() -> None:
    assert [n for n, _ in sqlite_backend._migrations()] == [n for n, _ in postgres_backend._migrations()]
    assert sqlite_backend.schema_version() == postgres_backend.schema_version() >= 2


async def _make_v1(db_path: Path | str) -> None:
    """Today's schema taken back to v1: what 0002 to 0011 add is removed, the version stamped 1."""
    import psycopg
    import sqlite3

    undo = ["DROP VIEW held_queues", "DROP TABLE queues",
            *(f"DROP INDEX {index}" for index in V7_INDEXES),
            *(f"ALTER TABLE {table} DROP COLUMN queue" for table in ("jobs", "chunks", "schedules")),
            "ALTER TABLE workers DROP COLUMN intents", "ALTER TABLE workers DROP COLUMN abandoned",
            "ALTER TABLE jobs DROP COLUMN nonce",
            *(f"DROP INDEX {index}" for index in (*V4_INDEXES, *UNDONE_INDEXES)),
            *(f"ALTER TABLE schedules DROP COLUMN {column}" for column in V4_COLUMNS)]
    if is_postgres(db_path):
        with psycopg.connect(str(db_path), autocommit=True) as conn:
            for statement in undo:
                conn.execute(statement)
            conn.execute("DROP TABLE counts")
            conn.execute("DROP FUNCTION queuetop_count_rows CASCADE")  # and its triggers
            conn.execute("DROP FUNCTION queuetop_count_sessions CASCADE")
            conn.execute("DROP FUNCTION queuetop_counts_fold")
            conn.execute("DROP TABLE alert_deliveries, alert_marks, alerts")
            conn.execute("DROP INDEX IF EXISTS jobs_text_trgm")
            conn.execute("DROP INDEX IF EXISTS chunks_errors_trgm")
            conn.execute("UPDATE queuetop_meta SET value = '1' WHERE key = 'schema_version'")
    else:
        with sqlite3.connect(db_path) as conn:
            for statement in undo:
                conn.execute(statement)
            conn.execute("DROP TABLE counts")
            for trigger in ("jobs_count_insert", "jobs_count_delete", "jobs_count_update",
                            "chunks_count_insert", "chunks_count_delete", "chunks_count_update",
                            "sessions_count_insert", "sessions_count_delete"):
                conn.execute(f"DROP TRIGGER {trigger}")
            for table in ("alert_deliveries", "alert_marks", "alerts"):
                conn.execute(f"DROP TABLE {table}")
            for trigger in ("jobs_text_insert", "jobs_text_delete", "jobs_text_update",
                            "chunk_errors_insert", "chunk_errors_delete", "chunk_errors_update"):
                conn.execute(f"DROP TRIGGER {trigger}")
            conn.execute("DROP TABLE jobs_text")
            conn.execute("DROP TABLE chunk_errors")
            conn.execute("PRAGMA user_version = 1")


async def test_a_real_v1_database_gets_the_shipped_migrations_and_keeps_its_data(db_path: Path | str,
                                                                                tmp_path: Path) -> None:
    from queuetop.engine.events.tail import Tailer

    events = tmp_path / "events.ndjson"
    events.write_text("".join(f'{{"type": "a2a.send", "ts": {1_767_225_600_000 + n}, "agentId": "eden", '
                              f'"data": {{"workSessionId": "ws_{n % 2}"}}}}\n' for n in range(4)))
    async with await Queue.open(db_path) as queue:
        made = await queue.submit("keep.me", chunks=[{"n": 1}], params={"k": "v"})
        other = await queue.submit("keep.too", chunks=[{"n": 1}, {"n": 2}])
        await queue.cancel(other.job_id)
        await queue.add_schedule("nightly", "0 2 * * *", "keep.me")
        tailer = Tailer(queue.db, queue.clock, [str(events)])
        try:
            await tailer.poll_once()  # two work sessions
        finally:
            tailer.close()
    await _make_v1(db_path)
    with pytest.raises(Exception):
        scalar(db_path, "SELECT count(*) FROM counts")
    assert _version(db_path) == 1
    for column in ("intents", "abandoned"):
        with pytest.raises(Exception):
            scalar(db_path, f"SELECT {column} FROM workers")
    with pytest.raises(Exception):
        scalar(db_path, "SELECT tz FROM schedules")
    with pytest.raises(Exception):
        scalar(db_path, "SELECT nonce FROM jobs")
    with pytest.raises(Exception):
        scalar(db_path, "SELECT queue FROM jobs")
    async with await Queue.open(db_path) as queue:
        job = await queue.job(made.job_id)
        assert (job.intent, job.params, job.chunks_total, job.queue) == ("keep.me", {"k": "v"}, 1, "default")
        assert {c.queue for c in await queue.chunks(made.job_id)} == {"default"}
        (schedule,) = await queue.schedules()  # the old schedule reads in UTC and skips what it missed
        assert (schedule.name, schedule.tz, schedule.catch_up, schedule.max_catch_up, schedule.missed) == (
            "nightly", "UTC", "none", 10, 0)
    assert _version(db_path) == sqlite_backend.schema_version() >= 4
    assert scalar(db_path, "SELECT count(intents) FROM workers") == 0  # the columns are back
    assert scalar(db_path, "SELECT count(abandoned) FROM workers") == 0
    # 0006: the counters start from the rows there were, and the triggers keep them from then on.
    assert_counters(db_path)
    async with await Queue.open(db_path) as queue:
        totals = await queue.totals()
        assert (totals.jobs, totals.chunks_pending, totals.chunks_cancelled) == (
            {"pending": 1, "cancelled": 1}, 1, 2)
        await queue.cancel(made.job_id)
        found = await queue.find_jobs("state:cancelled intent:keep.*")
        assert ([job.id for job in found.jobs], found.matched, found.total) == (
            [other.job_id, made.job_id], 2, 2)
        # 0008: the search indexes start from the rows there were (free text through them)
        found = await queue.find_jobs("keep.too")
        assert ([job.id for job in found.jobs], found.matched, found.exact) == ([other.job_id], 1, True)
    assert_counters(db_path)
    with pytest.raises(Exception):  # the CHECK came with the column
        scalar(db_path, "UPDATE schedules SET catch_up = 'twice'")
    assert _indexes(db_path) >= {*V4_INDEXES, *V7_INDEXES}
    assert scalar(db_path, "SELECT count(*) FROM alerts") == 0  # 0005's tables too
    # 0009: every job from before has a nonce of its own, as new ones do.
    nonces = [row[0] for row in query(db_path, "SELECT nonce FROM jobs ORDER BY id")]
    assert len(nonces) == len(set(nonces)) == 2
    assert all(len(nonce) == 32 and set(nonce) <= set("0123456789abcdef") for nonce in nonces)
    # 0007: the old jobs are in the default queue, and new ones can name theirs
    async with await Queue.open(db_path) as queue:
        named = await queue.submit("keep.named", queue="reports")
        assert ((await queue.job(named.job_id)).queue, (await queue.chunks(named.job_id))[0].queue) == (
            "reports", "reports")
    assert scalar(db_path, "SELECT count(*) FROM held_queues") == 0
    # 0011: the sessions counter starts from the sessions there were
    assert scalar(db_path, "SELECT sum(n) FROM counts WHERE kind = 'sessions'") == 2
    async with await Queue.open(db_path) as queue:
        assert await queue.count_sessions() == 2


def _indexes(db_path: Path | str) -> set[str]:
    if is_postgres(db_path):
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    return {row[0] for row in query(db_path, sql)}


async def test_a_further_migration_runs_once_and_keeps_the_data(db_path: Path | str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Queue.open(db_path) as queue:
        made = await queue.submit("keep.me", chunks=[{"n": 1}, {"n": 2}], params={"k": "v"})
    assert _version(db_path) == _backend(db_path).schema_version()

    shipped = _backend(db_path)._migrations()
    current = _version(db_path)
    monkeypatch.setattr(_backend(db_path), "_migrations", lambda: [*shipped, V2])
    async with await Queue.open(db_path) as queue:
        job = await queue.job(made.job_id)
        assert (job.intent, job.params, job.chunks_total) == ("keep.me", {"k": "v"}, 2)
        assert [c.params for c in await queue.chunks(made.job_id)] == [{"n": 1}, {"n": 2}]
    assert _version(db_path) == current + 1 == NEXT
    assert scalar(db_path, "SELECT note FROM job_notes WHERE job_id = %d" % made.job_id) == "keep.me"

    # Opening again at that version changes nothing.
    async with await Queue.open(db_path) as queue:
        assert (await queue.job(made.job_id)).intent == "keep.me"
    assert _version(db_path) == NEXT


async def test_a_database_newer_than_the_code_is_refused_untouched(db_path: Path | str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Queue.open(db_path) as queue:
        await queue.submit("x")
    shipped = _backend(db_path)._migrations()
    with monkeypatch.context() as patch:
        patch.setattr(_backend(db_path), "_migrations", lambda: [*shipped, V2])
        store = await open_store(db_path)
        await store.close()
    assert _version(db_path) == NEXT
    with pytest.raises(DatabaseError, match=rf"newer queuetop \(.*v{NEXT}, this one knows v{NEXT - 1}\)"):
        await open_store(db_path)
    assert _version(db_path) == NEXT
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 1


async def test_a_failing_migration_leaves_the_database_at_its_version(db_path: Path | str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Queue.open(db_path) as queue:
        await queue.submit("x")
    shipped = _backend(db_path)._migrations()
    monkeypatch.setattr(_backend(db_path), "_migrations", lambda: [
        *shipped, (NEXT, "CREATE TABLE job_notes (job_id INTEGER);\nALTER TABLE no_such_table ADD x INT;\n")])
    with pytest.raises(Exception):
        await open_store(db_path)
    monkeypatch.undo()
    assert _version(db_path) == NEXT - 1
    async with await Queue.open(db_path) as queue:
        assert len(await queue.jobs()) == 1
    with pytest.raises(Exception):
        scalar(db_path, "SELECT count(*) FROM job_notes")  # the half-done migration left nothing
