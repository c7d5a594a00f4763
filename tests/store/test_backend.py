"""The store conformance suite: every Backend method, one set of tests, on SQLite and PostgreSQL.

The ``db`` fixture (conftest) is the engine's own store on each backend.
Everything here goes through the Backend protocol only; where the backends
differ (how other processes are noticed) the test says what each promises.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import async_wait_until, is_postgres
from queuetop.engine.model.exceptions import DatabaseError
from queuetop.engine.store import open_store, queries
from queuetop.engine.store.protocol import Backend

INSERT = "INSERT INTO schedules (name, cron, kind, intent, params, next_run_at, created_at) " \
         "VALUES (:name, '* * * * *', 'job', 'x', '{}', 0, 0)"
COUNT = "SELECT count(*) FROM schedules"


def test_each_backend_is_a_backend(db: Backend, db_path: Path | str) -> None:
    assert isinstance(db, Backend)
    assert db.dialect == ("postgres" if is_postgres(db_path) else "sqlite")
    assert str(db.path) == str(db_path)
    assert issubclass(db.IntegrityError, db.Error)


async def test_a_backend_and_its_connections_say_alike_whether_statements_are_trips(
        db: Backend, db_path: Path | str) -> None:
    """The claims choose a settle's and a claim's shape from this flag, never from the dialect's name:
    a connection that said otherwise would have a transaction settled in the other backend's shape."""
    assert db.statements_are_trips is is_postgres(db_path)
    async with db.transaction() as conn:
        assert conn.statements_are_trips is db.statements_are_trips


async def test_a_transaction_commits_and_reads_see_it(db: Backend) -> None:
    async with db.transaction() as conn:
        cursor = await conn.execute(INSERT, {"name": "a"})
        assert cursor.rowcount == 1
        async with conn.execute("SELECT name FROM schedules WHERE name = :name", {"name": "a"}) as cur:
            assert (await cur.fetchone())[0] == "a"
    assert await db.scalar(COUNT) == 1
    row = await db.fetchone("SELECT name, kind FROM schedules")
    assert row["name"] == "a" and row[1] == "job" and list(row.keys()) == ["name", "kind"]
    assert [r["name"] for r in await db.fetchall("SELECT name FROM schedules")] == ["a"]
    assert await db.fetchone("SELECT name FROM schedules WHERE name = :name", {"name": "none"}) is None
    assert await db.scalar("SELECT name FROM schedules WHERE name = :name", {"name": "none"}) is None


async def test_an_exception_rolls_the_whole_transaction_back(db: Backend) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(INSERT, {"name": "a"})
            raise RuntimeError("boom")
    assert await db.scalar(COUNT) == 0


async def test_integrity_errors_are_the_backends_own_class(db: Backend) -> None:
    async with db.transaction() as conn:
        await conn.execute(INSERT, {"name": "a"})
    with pytest.raises(db.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(INSERT, {"name": "a"})
    with pytest.raises(db.Error):
        await db.fetchall("SELECT no_such_column FROM schedules")
    assert await db.scalar(COUNT) == 1


async def test_a_failed_transaction_leaves_the_connection_fit_for_the_next(db: Backend) -> None:
    """Transactions that fail on the server, again and again, leave nothing behind and spoil no later one.

    PostgreSQL: a transaction's BEGIN and COMMIT travel in its pipeline, and a
    failed one is rolled back there; the driver prepares a statement it has run
    five times, so the later rounds run prepared statements on connections
    that saw failures.
    """
    for attempt in range(8):
        with pytest.raises(db.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(INSERT, {"name": f"n{attempt}"})
                await conn.execute(INSERT, {"name": f"n{attempt}"})  # the same name again
    assert await db.scalar(COUNT) == 0
    for attempt in range(8):
        async with db.transaction() as conn:
            await conn.execute(INSERT, {"name": f"n{attempt}"})
    assert await db.scalar(COUNT) == 8


async def test_write_once_commits_its_statements_together_and_returns_the_last_ones_rows(
        db: Backend, db_path: Path | str) -> None:
    """A transaction known whole before it starts (a worker's claim): committed with its
    statements, the last one's rows returned, and other processes told as of any commit."""
    other = await open_store(db_path)
    try:
        before = await db.data_version()
        rows = await other.write_once([(INSERT, {"name": "a"}), (INSERT + " RETURNING name, kind", {"name": "b"})])
        assert [(row["name"], row[1]) for row in rows] == [("b", "job")]
        assert sorted(row["name"] for row in await db.fetchall("SELECT name FROM schedules")) == ["a", "b"]
        await async_wait_until(lambda: _moved(db, before), timeout=10, message="data_version to move")
        assert [row[0] for row in await other.write_once([(COUNT, None)])] == [2]
    finally:
        await other.close()


async def test_a_write_once_that_fails_writes_nothing_and_spoils_no_later_one(db: Backend) -> None:
    for attempt in range(8):  # past the driver's five runs before it prepares a statement
        with pytest.raises(db.IntegrityError):
            await db.write_once([(INSERT, {"name": f"n{attempt}"}), (INSERT, {"name": f"n{attempt}"})])
    assert await db.scalar(COUNT) == 0
    for attempt in range(8):
        rows = await db.write_once([(INSERT + " RETURNING name", {"name": f"n{attempt}"})])
        assert [row["name"] for row in rows] == [f"n{attempt}"]
    assert await db.scalar(COUNT) == 8


@pytest.mark.postgres_only
async def test_write_once_settings_hold_for_the_transactions_that_ask_and_no_other(db: Backend) -> None:
    """A claim's settings (``SET LOCAL …``) hold for each write_once that asks for them (on
    connections kept for it, in the URL's schema too); every other transaction runs without
    them, and a statement that fails there spoils no later one."""
    plan = "-- the claim's plan\nSET LOCAL enable_bitmapscan = off"
    setting = "SELECT current_setting('enable_bitmapscan') AS bitmaps"
    for attempt in range(8):  # past the driver's five runs before it prepares a statement
        rows = await db.write_once([(INSERT + " RETURNING name", {"name": f"n{attempt}"})], settings=[plan])
        assert [row["name"] for row in rows] == [f"n{attempt}"]
        assert [row["bitmaps"] for row in await db.write_once([(setting, None)], settings=[plan])] == ["off"]
        with pytest.raises(db.IntegrityError):
            await db.write_once([(INSERT, {"name": f"n{attempt}"})], settings=[plan])
    assert await db.scalar(COUNT) == 8  # what they wrote, in the same schema
    assert await db.scalar(setting) == "on"
    assert [row["bitmaps"] for row in await db.write_once([(setting, None)])] == ["on"]
    async with db.transaction() as conn:
        async with conn.execute(setting) as cursor:
            assert (await cursor.fetchone())[0] == "on"


async def test_executemany_counts_every_row(db: Backend) -> None:
    async with db.transaction() as conn:
        cursor = await conn.executemany(INSERT, [{"name": n} for n in "abc"])
        assert cursor.rowcount == 3
    assert await db.scalar(COUNT) == 3


async def test_named_queries_run_on_both(db: Backend) -> None:
    """Shared text and each backend's own run through the same call."""
    sql = queries.load("events")
    assert await db.scalar(sql["max_event_id"]) == 0
    async with db.transaction() as conn:
        await conn.execute(sql["lock_events"])  # a dialect difference, invisible here


async def test_concurrent_writers_lose_no_update(db: Backend) -> None:
    """Concurrent transactions that update one row each see the others' commits (no lost update).

    SQLite serialises whole transactions (BEGIN IMMEDIATE); PostgreSQL locks
    the row. Callers rely on exactly this, so both must give it.
    """
    async with db.transaction() as conn:
        await conn.execute(INSERT, {"name": "counter"})

    async def bump() -> None:
        async with db.transaction(wake=True) as conn:
            await conn.execute("UPDATE schedules SET next_run_at = next_run_at + 1 WHERE name = 'counter'")

    await asyncio.gather(*(bump() for _ in range(8)))
    assert await db.scalar("SELECT next_run_at FROM schedules WHERE name = 'counter'") == 8


async def test_data_version_moves_when_another_connection_commits(db: Backend, db_path: Path | str) -> None:
    other = await open_store(db_path)
    try:
        before = await db.data_version()
        async with other.transaction() as conn:
            await conn.execute(INSERT, {"name": "elsewhere"})
        await async_wait_until(lambda: _moved(db, before), timeout=10, message="data_version to move")
    finally:
        await other.close()


async def _moved(db: Backend, before: int) -> bool:
    return await db.data_version() != before


async def test_a_burst_of_commits_is_noticed_after_its_last(db: Backend, db_path: Path | str) -> None:
    """Every process that commits tells the others (PostgreSQL: NOTIFY; SQLite: the file).
    A burst is told in few notices, not one a commit, and the last commit is told too."""
    other = await open_store(db_path)
    heard: list[float] = []
    listening = None
    if is_postgres(db_path):
        import psycopg

        from queuetop.engine.store.postgres.backend import PostgresDatabase

        assert isinstance(other, PostgresDatabase)
        listening = await psycopg.AsyncConnection.connect(str(db_path), autocommit=True)
        await listening.execute(f"LISTEN {other.channel}")

        async def listen() -> None:
            async for _ in listening.notifies():
                heard.append(asyncio.get_running_loop().time())

        listener = asyncio.create_task(listen())
    try:
        async with other.transaction() as conn:
            await conn.execute(INSERT, {"name": "burst"})
        before = await db.data_version()
        for n in range(40):
            async with other.transaction() as conn:
                await conn.execute("UPDATE schedules SET next_run_at = :n WHERE name = 'burst'", {"n": n + 1})
        last_commit = asyncio.get_running_loop().time()
        await async_wait_until(lambda: _moved(db, before), timeout=10, message="data_version to move")
        if listening is not None:
            await async_wait_until(lambda: heard and heard[-1] > last_commit, timeout=10,
                                   message="a notice after the last commit")
            assert len(heard) < 20, f"{len(heard)} notices for 41 commits"
    finally:
        if listening is not None:
            listener.cancel()
            await listening.close()
        await other.close()


async def test_on_notify_hears_wakes_from_other_connections_where_the_backend_can(
        db: Backend, db_path: Path | str) -> None:
    heard = asyncio.Event()
    db.on_notify(heard.set)
    other = await open_store(db_path)
    try:
        async with other.transaction(wake=True) as conn:
            await conn.execute(INSERT, {"name": "wake"})
        if is_postgres(db_path):
            await asyncio.wait_for(heard.wait(), timeout=10)
        else:
            # SQLite has nothing to subscribe to: other processes' workers poll.
            await asyncio.sleep(0)
            assert not heard.is_set()
    finally:
        await other.close()


async def test_close_releases_the_store(db_path: Path | str) -> None:
    db = await open_store(db_path)
    await db.close()
    with pytest.raises(Exception):
        await db.fetchall(COUNT)


async def test_a_foreign_target_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    import sqlite3

    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE jobs (x)")
    with pytest.raises(DatabaseError, match="not a queuetop database"):
        await open_store(foreign)


async def test_attempt_counts_for_a_page_of_jobs_is_one_query(db_path: Path | str) -> None:
    from queuetop.engine.api import Queue
    from queuetop.engine.services import claims

    async with await Queue.open(db_path) as queue:
        ids = [(await queue.submit("x", chunks=[{}, {}])).job_id for _ in range(3)]
        got, _ = await claims.claim(queue.db, "w", 10, queue.clock.now())
        failed = [c for c in got if c.job_id in ids[:2]]
        await queue.settle([claims.failure(c, "w", "boom", permanent=False, max_retries=3, now=queue.clock.now())
                            for c in failed])
        counts = await queue.attempt_counts(ids)
        assert counts == {ids[0]: 2, ids[1]: 2}
        assert counts == {j: len(await queue.attempts(j)) for j in ids if await queue.attempts(j)}
        assert await queue.attempt_counts([]) == {}
