"""Schema versions: a v1 database of each kind is upgraded and keeps its data; a newer one is refused.

No migration past v1 has shipped yet, so the upgrade runs a v2 made up for
the test through the same code path a real one takes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import is_postgres, scalar
from queuetop.engine.api import Queue
from queuetop.engine.model.exceptions import DatabaseError
from queuetop.engine.store import open_store
from queuetop.engine.store.postgres import backend as postgres_backend
from queuetop.engine.store.sqlite import backend as sqlite_backend

# A new table filled from the old data: the shape of a real migration's work.
V2 = (2, "CREATE TABLE job_notes (job_id INTEGER NOT NULL REFERENCES jobs (id), note TEXT NOT NULL);\n"
         "INSERT INTO job_notes (job_id, note) SELECT id, intent FROM jobs;\n")


def _backend(db_path: Path | str):  # the module of the backend under test
    return postgres_backend if is_postgres(db_path) else sqlite_backend


def _version(db_path: Path | str) -> int:
    if is_postgres(db_path):
        return int(scalar(db_path, "SELECT value FROM queuetop_meta WHERE key = 'schema_version'"))
    return scalar(db_path, "PRAGMA user_version")


def test_a_fresh_database_is_v1_while_no_migration_ships(db_path: Path | str) -> None:
    assert sqlite_backend.schema_version() == 1
    assert postgres_backend.schema_version() == 1


async def test_a_v1_database_is_upgraded_and_keeps_its_data(db_path: Path | str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Queue.open(db_path) as queue:
        made = await queue.submit("keep.me", chunks=[{"n": 1}, {"n": 2}], params={"k": "v"})
    assert _version(db_path) == 1

    monkeypatch.setattr(_backend(db_path), "_migrations", lambda: [V2])
    async with await Queue.open(db_path) as queue:
        job = await queue.job(made.job_id)
        assert (job.intent, job.params, job.chunks_total) == ("keep.me", {"k": "v"}, 2)
        assert [c.params for c in await queue.chunks(made.job_id)] == [{"n": 1}, {"n": 2}]
    assert _version(db_path) == 2
    assert scalar(db_path, "SELECT note FROM job_notes WHERE job_id = %d" % made.job_id) == "keep.me"

    # Opening again at v2 changes nothing.
    async with await Queue.open(db_path) as queue:
        assert (await queue.job(made.job_id)).intent == "keep.me"
    assert _version(db_path) == 2


async def test_a_database_newer_than_the_code_is_refused_untouched(db_path: Path | str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Queue.open(db_path) as queue:
        await queue.submit("x")
    with monkeypatch.context() as patch:
        patch.setattr(_backend(db_path), "_migrations", lambda: [V2])
        store = await open_store(db_path)
        await store.close()
    assert _version(db_path) == 2
    with pytest.raises(DatabaseError, match=r"newer queuetop \(.*v2, this one knows v1\)"):
        await open_store(db_path)
    assert _version(db_path) == 2
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 1


async def test_a_failing_migration_leaves_the_database_at_its_version(db_path: Path | str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Queue.open(db_path) as queue:
        await queue.submit("x")
    monkeypatch.setattr(_backend(db_path), "_migrations",
                        lambda: [(2, "CREATE TABLE job_notes (job_id INTEGER);\nALTER TABLE no_such_table ADD x INT;\n")])
    with pytest.raises(Exception):
        await open_store(db_path)
    monkeypatch.undo()
    assert _version(db_path) == 1
    async with await Queue.open(db_path) as queue:
        assert len(await queue.jobs()) == 1
    with pytest.raises(Exception):
        scalar(db_path, "SELECT count(*) FROM job_notes")  # the half-done migration left nothing
