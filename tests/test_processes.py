"""Real `queuetop --engine-only` processes sharing one database: draining, SIGKILL, SIGTERM, schedules.

Every process is the installed console script; every wait is a poll of the
database with a deadline; every process is stopped in a finally (the
``engines`` fixture) whatever the test's outcome.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import Engine, Engines, assert_counters, is_postgres, query, run_cli, scalar, wait_until, write_config

try:
    from psycopg.errors import UndefinedTable as PostgresUndefinedTable
except ImportError:  # only the SQLite variants run
    class PostgresUndefinedTable(Exception):  # type: ignore[no-redef]
        pass

pytestmark = pytest.mark.slow


def submit(db: Path | str, cwd: Path, *args: str) -> int:
    result = run_cli("submit", *args, "--db", db, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["job_id"]


def workers_online(db: Path | str, n: int) -> bool:
    if not is_postgres(db) and not Path(db).exists():  # a plain connect would create it
        return False
    try:
        return scalar(db, "SELECT count(*) FROM workers WHERE status = 'online'") >= n
    except (sqlite3.OperationalError, PostgresUndefinedTable):  # an engine is creating the schema right now
        return False


def test_three_processes_drain_5000_chunks_exactly_once(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "drain.toml", "[engine]\npoll_interval = 0.05\nconcurrency = 32\n")
    assert run_cli("pause", "--db", db, cwd=tmp_path).returncode == 0  # hold the work until all three are up
    chunks_file = tmp_path / "chunks.json"
    chunks_file.write_text(json.dumps([{"n": n} for n in range(1000)]))
    jobs = [submit(db, tmp_path, "demo.noop", "--chunks", str(chunks_file)) for _ in range(5)]
    for _ in range(3):
        engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 3), timeout=20, message=lambda: "three workers\n" + engines.logs())
    assert run_cli("resume", "--db", db, cwd=tmp_path).returncode == 0

    wait_until(lambda: scalar(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 5, timeout=60,
               message=lambda: f"the jobs to complete: {query(db, 'SELECT id, status, chunks_completed FROM jobs')}"
                               f"\n{engines.logs()}")
    assert_counters(db)  # while the engines still run
    for engine in engines.started:
        assert engine.stop() == 0, engine.log()

    assert query(db, "SELECT count(*), sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), min(attempt), max(attempt) FROM chunks") == [
        (5000, 5000, 1, 1)]  # claimed once each: no chunk ran twice
    assert scalar(db, "SELECT count(*) FROM chunk_attempts") == 0  # nothing failed, nothing was lost
    assert query(db, "SELECT id, status, chunks_completed FROM jobs ORDER BY id") == [
        (job, "completed", 1000) for job in jobs]
    done = query(db, "SELECT status, chunks_done, chunks_failed FROM workers")
    assert len(done) == 3 and {row[0] for row in done} == {"offline"}
    assert sum(row[1] for row in done) == 5000 and sum(row[2] for row in done) == 0  # each completion counted once
    assert sum(row[1] > 0 for row in done) >= 2, f"one process did all the work: {done}"
    assert query(db, "SELECT count(DISTINCT worker_id) FROM chunks") == [(sum(row[1] > 0 for row in done),)]
    assert_counters(db)


RESCUE_CONFIG = """
[engine]
heartbeat_interval = 0.2
stale_after = 1.5
poll_interval = 0.05

[maintenance]
mark-stale-workers-offline = "* * * * * *"
"""


def test_a_killed_worker_s_chunk_is_rescued_by_another_process(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "rescue.toml", RESCUE_CONFIG)
    victim = engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the first worker\n" + engines.logs())
    job = submit(db, tmp_path, "demo.sleep", "--params", '{"seconds": 2.0}')
    victim_id = scalar(db, "SELECT id FROM workers WHERE pid = ?", (victim.pid,))
    wait_until(lambda: query(db, "SELECT status, worker_id FROM chunks WHERE job_id = ?", (job,)) == [
        ("processing", victim_id)], timeout=10, message=lambda: "the chunk to be claimed\n" + engines.logs())
    victim.signal(signal.SIGKILL)  # mid-chunk: it sleeps for two seconds
    assert victim.wait(5) == -signal.SIGKILL
    assert query(db, "SELECT status, chunks_done FROM workers WHERE id = ?", (victim_id,)) == [("online", 0)]

    rescuer = engines.start(db, config=config)
    wait_until(lambda: scalar(db, "SELECT status FROM jobs WHERE id = ?", (job,)) == "completed", timeout=20,
               message=lambda: "the rescued chunk to complete\n" + engines.logs())
    assert rescuer.stop() == 0, rescuer.log()

    rescuer_id = scalar(db, "SELECT id FROM workers WHERE pid = ?", (rescuer.pid,))
    assert query(db, "SELECT status, attempt, worker_id FROM chunks WHERE job_id = ?", (job,)) == [
        ("completed", 2, rescuer_id)]
    assert query(db, "SELECT attempt, outcome, worker_id FROM chunk_attempts") == [(1, "lost", victim_id)]
    assert query(db, "SELECT id, status, chunks_done FROM workers ORDER BY started_at") == [
        (victim_id, "offline", 0), (rescuer_id, "offline", 1)]
    assert "1 chunk(s) rescued" in rescuer.log()
    assert_counters(db)


def test_sigterm_finishes_in_flight_chunks_and_flushes_logs(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    # The buffer would not write for an hour, nor before 100,000 lines: only the shutdown flush can.
    config = write_config(tmp_path / "term.toml", "[engine]\ngrace_period = 10\nconcurrency = 4\npoll_interval = 0.05\n"
                                                  "log_flush_interval = 3600\nlog_flush_entries = 100000\n")
    engine = engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the worker\n" + engines.logs())
    chunks_file = tmp_path / "chunks.json"
    chunks_file.write_text(json.dumps([{"lines": 300}, {"lines": 200}]))
    job = submit(db, tmp_path, "demo.log", "--chunks", str(chunks_file), "--params", '{"hold": 1.0}')
    wait_until(lambda: scalar(db, "SELECT count(*) FROM chunks WHERE status = 'processing'") == 2, timeout=10,
               message=lambda: "both chunks to run\n" + engines.logs())
    started = time.monotonic()
    engine.signal(signal.SIGTERM)
    assert engine.wait(15) == 0, engine.log()
    assert time.monotonic() - started < 10
    assert "stopping: 2 chunk(s) in flight" in engine.log()  # they really were in flight at the signal

    assert query(db, "SELECT status, chunks_completed FROM jobs WHERE id = ?", (job,)) == [("completed", 2)]
    lines = query(db, "SELECT chunk_id, message FROM task_logs WHERE job_id = ? ORDER BY id", (job,))
    assert len(lines) == 500
    by_chunk: dict[int, list[str]] = {}
    for chunk_id, message in lines:
        by_chunk.setdefault(chunk_id, []).append(message)
    assert sorted(len(v) for v in by_chunk.values()) == [200, 300]
    for messages in by_chunk.values():
        assert messages == [f"line {n}" for n in range(len(messages))]
    assert query(db, "SELECT status, stopped_at IS NOT NULL FROM workers") == [("offline", 1)]
    assert_counters(db)


def test_sigterm_with_short_grace_releases_chunks_without_spending_attempts(tmp_path: Path, db_path: Path | str,
                                                                            engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "short.toml", "[engine]\ngrace_period = 0.2\npoll_interval = 0.05\n")
    engine = engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the worker\n" + engines.logs())
    job = submit(db, tmp_path, "demo.sleep", "--params", '{"seconds": 60}')
    (tmp_path / "two.json").write_text('[{"seconds": 0}, {"seconds": 60}]')
    half = submit(db, tmp_path, "demo.sleep", "--chunks", str(tmp_path / "two.json"))
    wait_until(lambda: query(db, "SELECT status FROM chunks WHERE chunk_index = ? ORDER BY job_id", (0,))
               == [("processing",), ("completed",)] and scalar(
                   db, "SELECT status FROM chunks WHERE job_id = ? AND chunk_index = 1", (half,)) == "processing",
               timeout=10, message=lambda: "the chunks to run\n" + engines.logs())
    started = time.monotonic()
    assert engine.stop(timeout=15) == 0, engine.log()
    assert time.monotonic() - started < 8
    assert query(db, "SELECT status, attempt, worker_id, lease_token FROM chunks WHERE job_id = ?", (job,)) == [
        ("pending", 0, None, None)]
    assert scalar(db, "SELECT count(*) FROM chunk_attempts") == 0
    # a job whose every chunk went back unspent is pending again (it read as running, in the header
    # too, with nothing running); one with a chunk ended is under way and stays running
    assert query(db, "SELECT id, status, started_at IS NULL FROM jobs ORDER BY id") == [
        (job, "pending", 1), (half, "running", 0)]
    assert query(db, "SELECT status FROM workers") == [("offline",)]
    assert_counters(db)


def test_a_schedule_fires_once_across_two_processes(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "sched.toml", """
[engine]
scheduler_interval = 0.05
poll_interval = 0.05

[maintenance]
mark-stale-workers-offline = "* * * * * *"

[[schedules]]
name = "every-second"
cron = "* * * * * *"
intent = "demo.noop"
params = { source = "test" }
""")
    first, second = engines.start(db, config=config), engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 2), timeout=20, message=lambda: "two workers\n" + engines.logs())
    # Both processes are up and ticking twenty times a second: let the schedule fire for a few seconds.
    wait_until(lambda: scalar(db, "SELECT count(*) FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id"
                                  " WHERE s.name = 'every-second'") >= 4, timeout=20,
               message=lambda: "four runs\n" + engines.logs())
    for engine in (first, second):
        assert engine.stop() == 0, engine.log()

    runs = query(db, "SELECT r.scheduled_for, r.status, r.job_id, r.worker_id FROM schedule_runs r"
                     " JOIN schedules s ON s.id = r.schedule_id WHERE s.name = 'every-second' ORDER BY 1")
    assert len(runs) >= 4
    times = [r[0] for r in runs]
    assert len(set(times)) == len(times), f"a time fired twice: {times}"
    assert all(t == int(t) for t in times)  # whole seconds, as the cron says
    assert {r[1] for r in runs} == {"ok"}
    job_ids = [r[2] for r in runs]
    assert None not in job_ids and len(set(job_ids)) == len(job_ids)
    scheduled = query(db, "SELECT id, params FROM jobs WHERE schedule_id IS NOT NULL ORDER BY id")
    assert [row[0] for row in scheduled] == sorted(job_ids)  # every scheduled job has exactly one run
    assert {row[1] for row in scheduled} == {'{"source": "test"}'}
    # The per-second maintenance task, too, ran once per second whichever process got there first.
    maintenance = query(db, "SELECT r.scheduled_for, r.status FROM schedule_runs r JOIN schedules s"
                            " ON s.id = r.schedule_id WHERE s.name = 'mark-stale-workers-offline'")
    assert len(maintenance) >= 2 and {status for _, status in maintenance} == {"ok"}
    assert len({t for t, _ in maintenance}) == len(maintenance)
    assert_counters(db)


def test_sigterm_does_not_wait_for_a_stuck_sync_handler(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """A sync handler still running after the grace period: released, logs kept, and the process exits."""
    db = db_path
    config = write_config(tmp_path / "stuck.toml", "[engine]\ngrace_period = 0.2\npoll_interval = 0.05\n"
                                                   "log_flush_interval = 3600\n")
    engine = engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the worker\n" + engines.logs())
    job = submit(db, tmp_path, "demo.log", "--params", '{"lines": 7, "hold": 60}')
    wait_until(lambda: scalar(db, "SELECT status FROM chunks WHERE job_id = ?", (job,)) == "processing",
               timeout=10, message=lambda: "the chunk to run\n" + engines.logs())
    started = time.monotonic()
    assert engine.stop(timeout=15) == 0, engine.log()
    assert time.monotonic() - started < 8, "the engine waited for the handler's thread"
    assert "still running after the grace period" in engine.log()
    assert query(db, "SELECT status, attempt, worker_id FROM chunks WHERE job_id = ?", (job,)) == [("pending", 0, None)]
    # The lines it logged before it got stuck were flushed on the way out.
    assert [row[0] for row in query(db, "SELECT message FROM task_logs WHERE job_id = ? ORDER BY id", (job,))] == [
        f"line {n}" for n in range(7)]
    assert query(db, "SELECT status FROM workers") == [("offline",)]
    assert_counters(db)


def stop_outside_a_write(engine: Engine, db: Path | str) -> None:
    """SIGSTOP ``engine`` at a moment it holds no SQLite write lock.

    Stopped inside a write transaction, it would keep every other process
    from writing for as long as it stays stopped: that is SQLite's single
    writer, not the rescue under test. (PostgreSQL's row locks are taken
    per row; there any moment will do.)
    """
    for _ in range(50):
        engine.signal(signal.SIGSTOP)
        if is_postgres(db):
            return
        probe = sqlite3.connect(db, isolation_level=None, timeout=0.5)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # stopped mid-write: let it finish, then try again
            engine.signal(signal.SIGCONT)
        finally:
            probe.close()
    raise AssertionError("the engine held the write lock at every stop")


def test_a_paused_worker_that_lost_its_lease_cannot_complete_the_chunk(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """SIGSTOP a worker mid-chunk until it is declared stale and its chunk is rescued and completed
    elsewhere, then SIGCONT it: whatever it does next, the chunk stays the rescuer's."""
    db = db_path
    config = write_config(tmp_path / "rescue.toml", RESCUE_CONFIG)
    frozen = engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the first worker\n" + engines.logs())
    job = submit(db, tmp_path, "demo.sleep", "--params", '{"seconds": 1.5}')
    frozen_id = scalar(db, "SELECT id FROM workers WHERE pid = ?", (frozen.pid,))
    wait_until(lambda: query(db, "SELECT status, worker_id FROM chunks WHERE job_id = ?", (job,)) == [
        ("processing", frozen_id)], timeout=10, message=lambda: "the chunk to be claimed\n" + engines.logs())
    stop_outside_a_write(frozen, db)
    try:
        rescuer = engines.start(db, config=config)
        wait_until(lambda: scalar(db, "SELECT status FROM jobs WHERE id = ?", (job,)) == "completed", timeout=20,
                   message=lambda: "the rescuer to complete the chunk\n" + engines.logs())
    finally:
        frozen.signal(signal.SIGCONT)
    # Back from the dead: it learns it was marked offline and carries on under a new id.
    wait_until(lambda: scalar(db, "SELECT count(*) FROM workers WHERE pid = ?", (frozen.pid,)) == 2, timeout=10,
               message=lambda: "the frozen worker to re-register\n" + engines.logs())
    for engine in (frozen, rescuer):
        assert engine.stop() == 0, engine.log()

    rescuer_id = scalar(db, "SELECT id FROM workers WHERE pid = ?", (rescuer.pid,))
    assert query(db, "SELECT status, attempt, worker_id, result FROM chunks WHERE job_id = ?", (job,)) == [
        ("completed", 2, rescuer_id, '{"slept": 1.5}')]
    assert query(db, "SELECT attempt, outcome, worker_id FROM chunk_attempts") == [(1, "lost", frozen_id)]
    assert query(db, "SELECT status, chunks_done FROM workers WHERE id = ?", (frozen_id,)) == [("offline", 0)]
    assert scalar(db, "SELECT sum(chunks_done) FROM workers") == 1
    log = frozen.log()
    assert "was marked offline" in log and "re-registering" in log
    assert_counters(db)
