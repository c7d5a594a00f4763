"""The schema and the database file: constraints, indexes the queries use, refusal of foreign files."""

from __future__ import annotations

import re

import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from queuetop.engine.services import claims

from queuetop.engine.store.sqlite import backend as db

from queuetop.engine.services import jobs

from queuetop.engine.store import queries
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import DatabaseError
from queuetop.engine.api import Queue

from conftest import assert_counters

# SQLite's own machinery: its file, pragmas, query plans and CHECKs. The
# PostgreSQL schema's equivalence is checked at the end of this module.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to a freshly prepared database, with one job of three chunks."""
    db.prepare(db_path)
    c = sqlite3.connect(db_path, isolation_level=None)
    db.configure(c)
    c.execute("INSERT INTO jobs (id, intent, chunks_total, created_at) VALUES (1, 'demo.noop', 3, 0)")
    c.executemany("INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (1, ?, 0)", [(0,), (1,), (2,)])
    c.execute("INSERT INTO workers (id, host, pid, concurrency, started_at, last_heartbeat)"
              " VALUES ('w', 'h', 1, 1, 0, 0)")
    c.execute("INSERT INTO schedules (id, name, cron, intent, created_at) VALUES (1, 's', '* * * * *', 'x', 0)")
    yield c
    c.close()


BAD_WRITES = {
    "job status": "UPDATE jobs SET status = 'done' WHERE id = 1",
    "job counters above total": "UPDATE jobs SET chunks_completed = 2, chunks_failed = 2 WHERE id = 1",
    "negative counter": "UPDATE jobs SET chunks_failed = -1 WHERE id = 1",
    "negative max_retries": "UPDATE jobs SET max_retries = -1 WHERE id = 1",
    "zero timeout": "UPDATE jobs SET timeout = 0 WHERE id = 1",
    "chunk status": "UPDATE chunks SET status = 'running' WHERE chunk_index = 0",
    "processing without lease": "UPDATE chunks SET status = 'processing' WHERE chunk_index = 0",
    "lease while pending": "UPDATE chunks SET lease_token = 'abc' WHERE chunk_index = 0",
    "negative attempt": "UPDATE chunks SET attempt = -1 WHERE chunk_index = 0",
    "attempt outcome": "INSERT INTO chunk_attempts (chunk_id, attempt, outcome, ended_at) VALUES (1, 1, 'oops', 0)",
    "worker status": "UPDATE workers SET status = 'sleeping'",
    "worker concurrency": "UPDATE workers SET concurrency = 0",
    "task log level": "INSERT INTO task_logs (ts, level, message) VALUES (0, 'fatal', 'x')",
    "schedule kind": "UPDATE schedules SET kind = 'cron'",
    "schedule active": "UPDATE schedules SET active = 2",
    "schedule last status": "UPDATE schedules SET last_status = 'maybe'",
    "schedule run status": "INSERT INTO schedule_runs (schedule_id, scheduled_for, started_at, status)"
                           " VALUES (1, 0, 0, 'done')",
    "queue paused": "UPDATE queue_state SET paused = 2",
    "second queue_state row": "INSERT INTO queue_state (id, paused) VALUES (2, 0)",
    "duplicate chunk index": "INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (1, 1, 0)",
    "chunk of a missing job": "INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (99, 0, 0)",
    "run of a missing schedule": "INSERT INTO schedule_runs (schedule_id, scheduled_for, started_at)"
                                 " VALUES (99, 0, 0)",
}


@pytest.mark.parametrize("sql", BAD_WRITES.values(), ids=BAD_WRITES.keys())
def test_constraints_reject_bad_rows(conn: sqlite3.Connection, sql: str) -> None:
    # What the tables hold (not total_changes: a trigger's write counts there even when its
    # statement fails at the end and is undone).
    def contents() -> list[Any]:
        return [conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("jobs", "chunks", "chunk_attempts", "workers", "task_logs", "schedules",
                              "schedule_runs", "queue_state", "counts")]

    before = contents()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(sql)
    assert contents() == before


def test_good_rows_pass_the_same_constraints(conn: sqlite3.Connection, db_path: Path) -> None:
    """The CHECKs are not so strict that legitimate states are refused."""
    conn.execute("UPDATE chunks SET status = 'processing', lease_token = 't', worker_id = 'w', attempt = 1"
                 " WHERE chunk_index = 0")
    conn.execute("UPDATE chunks SET status = 'completed' WHERE chunk_index = 1")
    conn.execute("UPDATE jobs SET status = 'running', chunks_completed = 1 WHERE id = 1")
    conn.execute("INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (1, 3, 0)")
    conn.execute("UPDATE jobs SET chunks_total = 4 WHERE id = 1")
    for state in ("pending", "running", "completed", "partial", "failed", "cancelled"):
        conn.execute("UPDATE jobs SET status = ? WHERE id = 1", (state,))
    conn.execute("UPDATE jobs SET status = 'running' WHERE id = 1")
    assert_counters(db_path)


def test_unique_job_chunk_index(conn: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: chunks.job_id, chunks.chunk_index"):
        conn.execute("INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (1, 0, 0)")
    conn.execute("INSERT INTO jobs (id, intent, chunks_total, created_at) VALUES (2, 'demo.noop', 1, 0)")
    conn.execute("INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (2, 0, 0)")  # other job: fine


def test_dedupe_key_unique_only_among_unfinished_jobs(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO jobs (intent, dedupe_key, chunks_total, created_at) VALUES ('x', 'k', 1, 0)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO jobs (intent, dedupe_key, chunks_total, created_at) VALUES ('x', 'k', 1, 0)")
    conn.execute("UPDATE jobs SET status = 'completed' WHERE dedupe_key = 'k'")
    conn.execute("INSERT INTO jobs (intent, dedupe_key, chunks_total, created_at) VALUES ('x', 'k', 1, 0)")


# -- query plans ----------------------------------------------------------------------


def _populate(db_path: Path) -> None:
    """Enough rows in every state that the planner has something to choose between."""
    c = sqlite3.connect(db_path, isolation_level=None)
    with closing(c):
        c.execute("BEGIN")
        for job_id in range(1, 41):
            c.execute("INSERT INTO jobs (id, intent, chunks_total, created_at, status, priority)"
                      " VALUES (?, 'demo.noop', 100, 0, 'running', ?)", (job_id, job_id % 3))
            for index in range(100):
                state = ("pending", "pending", "completed", "failed", "cancelled", "processing")[index % 6]
                c.execute(
                    "INSERT INTO chunks (job_id, chunk_index, status, priority, run_after, attempt, worker_id,"
                    " lease_token, claimed_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
                    (job_id, index, state, job_id % 3, index, "w" if state == "processing" else None,
                     f"t{job_id}-{index}" if state == "processing" else None, 5.0),
                )
            c.execute("INSERT INTO task_logs (job_id, ts, level, message) VALUES (?, 0, 'info', 'x')", (job_id,))
        c.execute("COMMIT")


def _plan(db_path: Path, sql: str, params: dict[str, Any]) -> list[str]:
    with closing(sqlite3.connect(db_path)) as c:
        return [row[3] for row in c.execute("EXPLAIN QUERY PLAN " + sql, params)]


def _scans_of(plan: list[str], table: str) -> list[str]:
    """Plan steps that read ``table`` (or its alias) row by row."""
    return [step for step in plan if step.startswith(f"SCAN {table} ") or step == f"SCAN {table}"]


def test_claim_walks_the_partial_claim_index(db_path: Path) -> None:
    db.prepare(db_path)
    _populate(db_path)
    # as a worker claims: only the intents its process can run
    plan = _plan(db_path, claims.SQL["claim"], {"worker_id": "w", "now": 50.0, "limit": 8,
                                                "intents": '["demo.noop", "reports.collect"]'})
    chunk_steps = [step for step in plan if " chunks" in f" {step}"]
    assert chunk_steps, plan
    for step in chunk_steps:
        assert step in ("SCAN chunks USING INDEX chunks_claim", "SCAN chunks USING COVERING INDEX chunks_claim",
                        "SEARCH chunks USING INTEGER PRIMARY KEY (rowid=?)"), (
            f"the claim reads chunks by {step!r}, not through chunks_claim; plan: {plan}")
    assert any("chunks_claim" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), f"the claim sorts instead of walking the index: {plan}"


def test_the_claim_index_matches_the_claim_query_literally() -> None:
    """A partial index is used only when its WHERE is implied by the query's: keep them in step."""
    schema = db.schema_sql()
    assert "ON chunks (priority DESC, id, run_after) WHERE status = 'pending'" in schema
    assert "WHERE status = 'pending' AND run_after <= :now" in claims.SQL["claim"]
    assert "ORDER BY priority DESC, id" in claims.SQL["claim"]


def test_fenced_writes_find_chunks_by_primary_key(db_path: Path) -> None:
    db.prepare(db_path)
    _populate(db_path)
    for name, params in (("settle", {"outcomes": "[]"}),):
        plan = _plan(db_path, claims.SQL[name], params)
        assert not _scans_of(plan, "chunks") and not _scans_of(plan, "c"), (name, plan)
        assert any("INTEGER PRIMARY KEY" in step for step in plan), (name, plan)


JOB_QUERIES: dict[str, tuple[dict[str, Any], str | None]] = {
    # query name: (params, the index it must search the chunks/jobs/logs table with)
    "list_chunks": ({"job_id": 3, "limit": 50, "offset": 0}, "sqlite_autoindex_chunks_1"),
    "get_chunk": ({"job_id": 3, "chunk_index": 7}, "sqlite_autoindex_chunks_1"),
    "attempts_of_job": ({"job_id": 3}, "chunk_attempts_chunk"),
    "job_logs": ({"job_id": 3, "after_id": 0, "limit": 50}, "task_logs_job"),
    "get_job": ({"job_id": 3}, "task_logs_job"),
    "list_jobs": ({"status": None, "search": None, "limit": 50, "offset": 0}, "task_logs_job"),
    "unfinished_by_dedupe_keys": ({"keys": '["k", "l"]'}, "jobs_dedupe"),
}


@pytest.mark.parametrize("name", JOB_QUERIES)
def test_listing_queries_use_their_indexes(db_path: Path, name: str) -> None:
    db.prepare(db_path)
    _populate(db_path)
    params, index = JOB_QUERIES[name]
    plan = _plan(db_path, jobs.SQL[name], params)
    for table in ("chunks", "c", "task_logs", "l", "chunk_attempts", "a"):
        assert not _scans_of(plan, table), f"{name} scans {table}: {plan}"
    assert not any("TEMP B-TREE" in step for step in plan), f"{name} sorts rows: {plan}"
    if index:
        assert any(index in step for step in plan), f"{name} does not use {index}: {plan}"


def test_dashboard_totals_read_only_the_counters(db_path: Path) -> None:
    """The header's totals read the small counts table: neither jobs nor chunks."""
    from queuetop.engine.store import find

    db.prepare(db_path)
    _populate(db_path)
    plan = _plan(db_path, find.totals_query(), {})
    assert plan and all("counts" in step for step in plan), plan


@pytest.mark.parametrize(("concern", "name", "params", "index"), [
    ("maintenance", "held_by_workers", {"worker_ids": "[]"}, "chunks_processing"),
    ("claims", "held_by_worker", {"worker_id": "w"}, "chunks_processing"),  # every heartbeat of every worker
    ("maintenance", "stuck_chunks", {"now": 0}, "chunks_processing"),
    ("maintenance", "mark_stale_offline", {"now": 0, "cutoff": 0}, "workers_status"),
    ("schedules", "due", {"now": 0}, "schedules_due"),
    ("workers", "list_workers", {"include_offline": 1, "limit": 50, "offset": 0}, "chunks_processing"),
])
def test_maintenance_and_worker_queries_use_their_indexes(db_path: Path, concern: str, name: str,
                                                          params: dict[str, Any], index: str) -> None:
    db.prepare(db_path)
    _populate(db_path)
    plan = _plan(db_path, queries.load(concern)[name], params)
    assert any(index in step for step in plan), f"{name} does not use {index}: {plan}"
    bare = [step for step in plan if step in ("SCAN chunks", "SCAN c")]
    assert not bare, f"{name} scans the chunks table: {plan}"


# -- the file ---------------------------------------------------------------------------


async def test_database_file_is_private_and_configured(db_path: Path) -> None:
    queue = await Queue.open(db_path, clock=FrozenClock())
    try:
        await queue.submit("demo.noop")  # a write, so the WAL and shared-memory files exist
        for path in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
            assert path.exists(), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} is {oct(path.stat().st_mode)}"
        # Both of the engine's connections run with the same settings.
        async with queue.db.transaction() as writer:
            writer_settings = [(await (await writer.execute(f"PRAGMA {name}")).fetchone())[0]
                               for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")]
        reader_settings = [await queue.db.scalar(f"PRAGMA {name}")
                           for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")]
        for settings in (writer_settings, reader_settings):
            journal, foreign_keys, busy_timeout, synchronous = settings
            assert journal == "wal"
            assert foreign_keys == 1
            assert busy_timeout >= 1000
            assert synchronous == 1  # NORMAL
    finally:
        await queue.close()
    with closing(sqlite3.connect(db_path)) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, in the file
        assert c.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
        assert c.execute("PRAGMA application_id").fetchone()[0] == db.APPLICATION_ID


async def test_foreign_keys_are_enforced_on_engine_connections(queue: Queue) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with queue.db.transaction() as conn:
            await conn.execute("INSERT INTO chunks (job_id, chunk_index, run_after) VALUES (424242, 0, 0)")


def test_reopening_keeps_schema_and_rows(db_path: Path) -> None:
    db.prepare(db_path)
    with closing(sqlite3.connect(db_path)) as c:
        c.execute("INSERT INTO jobs (intent, chunks_total, created_at) VALUES ('x', 0, 0)")
        c.commit()
        before = (c.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
                  c.execute("SELECT * FROM jobs").fetchall())
    db.prepare(db_path)
    with closing(sqlite3.connect(db_path)) as c:
        after = (c.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
                 c.execute("SELECT * FROM jobs").fetchall())
        assert c.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
    assert after == before


def _frozen_bytes(path: Path) -> dict[str, bytes]:
    """Every file of the database (main, -wal, -shm) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


async def test_newer_schema_is_refused_untouched(db_path: Path) -> None:
    db.prepare(db_path)
    with closing(sqlite3.connect(db_path)) as c:
        c.execute(f"PRAGMA user_version = {db.schema_version() + 5}")
        c.commit()
    before = _frozen_bytes(db_path)
    with pytest.raises(DatabaseError, match=r"newer queuetop .*schema v\d+.*upgrade queuetop.*untouched"):
        await Queue.open(db_path)
    with pytest.raises(DatabaseError, match="newer queuetop"):
        db.prepare(db_path)
    assert _frozen_bytes(db_path) == before


async def test_other_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE notes (body TEXT)")
        c.execute("INSERT INTO notes VALUES ('mine')")
        c.commit()
    before = _frozen_bytes(path)
    with pytest.raises(DatabaseError, match="not a queuetop database"):
        await Queue.open(path)
    assert _frozen_bytes(path) == before
    with closing(sqlite3.connect(path)) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL


async def test_non_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = _frozen_bytes(path)
    with pytest.raises(DatabaseError, match="not a usable queuetop database"):
        await Queue.open(path)
    assert _frozen_bytes(path) == before


def _shape(schema: str) -> dict[str, set[str]]:
    """Per table: its state lists (``IN (...)``) and unique keys, whitespace folded."""
    shape: dict[str, set[str]] = {}
    for table, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\)[^;]*;", schema, re.S):
        items = {"in " + " ".join(m.split()) for m in re.findall(r"\bIN \(([^)]*)\)", body)}
        items |= {"unique " + " ".join(m.split()) for m in re.findall(r"UNIQUE \(([^)]*)\)", body)}
        items |= {"unique " + col for col in re.findall(r"^\s*(\w+)\s+\w+ NOT NULL UNIQUE", body, re.M)}
        shape[table] = items
    for index, where in re.findall(r"CREATE UNIQUE INDEX (\w+) ON \w+ \([^)]*\)\s*WHERE ([^;]*);", schema):
        shape.setdefault("index " + index, set()).add(" ".join(where.split()))
    return shape


def test_postgres_schema_has_the_same_tables_states_and_keys() -> None:
    """The PostgreSQL schema is the SQLite one in other types: same tables,
    the same state names in every CHECK, the same unique keys."""
    repo = Path(__file__).resolve().parents[1]
    sqlite_shape = _shape((repo / "schema.sql").read_text())
    postgres_shape = _shape((repo / "schema.postgres.sql").read_text())
    # PostgreSQL finds intents through a table of them where SQLite has its FTS5 tables (0012)
    assert postgres_shape.pop("job_intents") == set()
    assert sqlite_shape.keys() == postgres_shape.keys()
    for table, items in sqlite_shape.items():
        assert items == postgres_shape[table], table
    assert "in 'pending', 'processing', 'completed', 'failed', 'cancelled'" in sqlite_shape["chunks"]


def _prepare_in_child(path: str, results: Any) -> None:
    try:
        db.prepare(path)
        results.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put(repr(exc))


def test_processes_creating_one_new_file_together_all_succeed(tmp_path: Path) -> None:
    """Engines started together on a file that does not exist yet: one creates
    the schema, the others wait for it and see a queuetop database."""
    import multiprocessing

    # fork: cheap enough for many rounds (the children only use plain sqlite3);
    # the race showed about once in 40 rounds before it was fixed.
    context = multiprocessing.get_context("fork")
    for round_ in range(40):
        path = str(tmp_path / f"new-{round_}.db")
        results = context.Queue()
        children = [context.Process(target=_prepare_in_child, args=(path, results)) for _ in range(4)]
        for child in children:
            child.start()
        outcomes = [results.get(timeout=60) for _ in children]
        for child in children:
            child.join(timeout=60)
        assert outcomes == ["ok"] * 4
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA application_id").fetchone()[0] == db.APPLICATION_ID
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
