"""queuetop.connect: the synchronous client, with and without an event loop in the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

import queuetop
from queuetop import ActionRefused, JobState, NotFound, Queue, UsageError
from queuetop.engine.model.exceptions import ConfigError, DatabaseError
from queuetop.engine.store.sqlite import backend as sqlite_backend


def test_the_public_names_import_from_the_package() -> None:
    from queuetop import Client, Job, connect  # noqa: F401

    assert Queue.__module__ == "queuetop.engine.api"
    assert "connect" in dir(queuetop)
    with pytest.raises(AttributeError):
        queuetop.NoSuchThing  # noqa: B018


def test_submit_read_and_act_in_plain_sync_code(db_path: Path | str) -> None:
    with queuetop.connect(db_path) as client:
        made = client.submit("reports.build", chunks=[{"n": 1}, {"n": 2}], params={"month": "2026-01"})
        assert made.created
        job = client.job(made.job_id)
        assert job.status is JobState.PENDING and job.chunks_total == 2 and job.params == {"month": "2026-01"}
        assert [j.id for j in client.jobs()] == [made.job_id]
        again = client.submit("reports.build", dedupe_key="k")
        assert client.submit("reports.build", dedupe_key="k").job_id == again.job_id
        result = client.cancel(made.job_id, 0)
        assert result.chunks == 1
        assert client.finalize(made.job_id).status == "cancelled"
        with pytest.raises(ActionRefused):
            client.finalize(made.job_id)
        with pytest.raises(ActionRefused):
            client.retry(again.job_id)  # nothing failed
        with pytest.raises(NotFound):
            client.job(10_000)
    with pytest.raises(UsageError, match="closed"):
        client.job(made.job_id)
    client.close()  # a second close does nothing


async def test_works_inside_a_running_event_loop(db_path: Path | str) -> None:
    """Sync code called from async code (the thread's loop is running) still works."""
    assert asyncio.get_running_loop().is_running()
    client = queuetop.connect(db_path)
    try:
        job_id = client.submit("x").job_id
        assert client.job(job_id).intent == "x"
    finally:
        client.close()
    async with await Queue.open(db_path) as queue:
        assert (await queue.job(job_id)).intent == "x"


def test_each_client_has_its_own_connection(db_path: Path | str) -> None:
    one, two = queuetop.connect(db_path), queuetop.connect(db_path)
    try:
        job_id = one.submit("x").job_id
        one.close()
        assert two.job(job_id).id == job_id  # closing one leaves the other open
        threads = [threading.Thread(target=lambda: two.submit("y")) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(two.jobs(status="pending")) == 5
    finally:
        two.close()


def test_bad_targets_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        queuetop.connect(tmp_path / "q.db", tmp_path / "missing.toml")
    newer = tmp_path / "newer.db"
    sqlite_backend.prepare(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {sqlite_backend.schema_version() + 1}")
    with pytest.raises(DatabaseError, match="newer queuetop"):
        queuetop.connect(newer)
    # No thread is left behind by the failed opens.
    assert not [t for t in threading.enumerate() if t.name == "queuetop-client"]


def test_a_config_file_sets_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "queuetop.toml"
    config.write_text("[engine]\nmax_retries = 7\n")
    with queuetop.connect(tmp_path / "q.db", config) as client:
        assert client.job(client.submit("x").job_id).max_retries == 7
