"""Schedules: cron in the database, fired exactly once, run history, failures; maintenance tasks."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from queuetop.engine.services import claims

from queuetop.engine.services import maintenance

from queuetop.engine.services import scheduler as periodic
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.config import ScheduleSpec
from queuetop.engine.model.exceptions import NotFound, UsageError
from queuetop.engine.services.scheduler import Scheduler
from queuetop.engine.api import Queue

from conftest import assert_counters, query, scalar

MINUTE = 60.0


def at_minute(clock: FrozenClock) -> float:
    """The clock's next whole minute (the FrozenClock starts on one)."""
    return (clock.now() // MINUTE + 1) * MINUTE


def assert_runs_match_jobs(db_path: Path) -> None:
    """No time fired twice, and every scheduled job belongs to exactly one run."""
    assert query(db_path, "SELECT schedule_id, scheduled_for FROM schedule_runs"
                          " GROUP BY 1, 2 HAVING count(*) > 1") == []
    runs = query(db_path, "SELECT job_id FROM schedule_runs WHERE job_id IS NOT NULL ORDER BY job_id")
    jobs = query(db_path, "SELECT id FROM jobs WHERE schedule_id IS NOT NULL ORDER BY id")
    assert runs == jobs


async def test_a_schedule_fires_when_due_and_once(queue: Queue, clock: FrozenClock, db_path: Path) -> None:
    schedule = await queue.add_schedule("nightly", "*/5 * * * *", "demo.noop", {"account": 7})
    first = clock.now() + 5 * MINUTE  # the FrozenClock starts on a whole hour
    assert (schedule.next_run_at, schedule.active, schedule.kind) == (first, True, "job")
    scheduler = Scheduler(queue)
    clock.set(first - 0.001)
    assert await scheduler.tick() == 0
    clock.set(first)
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0  # same moment again: nothing
    (job,) = await queue.jobs()
    assert (job.intent, job.params, job.schedule_id, job.chunks_total) == (
        "demo.noop", {"account": 7}, schedule.id, 1)
    (run,) = await queue.schedule_runs("nightly")
    assert (run.scheduled_for, run.status, run.job_id, run.error) == (first, "ok", job.id, None)
    (after,) = [s for s in await queue.schedules() if s.name == "nightly"]
    assert (after.next_run_at, after.last_run_at, after.last_status) == (first + 5 * MINUTE, first, "ok")
    clock.advance(5 * MINUTE)
    assert await scheduler.tick() == 1
    assert [r.scheduled_for for r in await queue.schedule_runs("nightly")] == [first + 5 * MINUTE, first]
    assert_runs_match_jobs(db_path)


async def test_missed_runs_are_not_replayed(queue: Queue, clock: FrozenClock) -> None:
    await queue.add_schedule("tick", "* * * * *", "demo.noop")
    clock.advance(3600 + 30)
    scheduler = Scheduler(queue)
    assert await scheduler.tick() == 0  # catch_up "none": the 60 missed times are counted, not run
    assert await scheduler.tick() == 0
    (schedule,) = [s for s in await queue.schedules() if s.name == "tick"]
    assert clock.now() < schedule.next_run_at <= clock.now() + MINUTE
    assert (schedule.missed, schedule.last_missed_at) == (60, clock.now())
    assert await queue.jobs() == []


async def test_schedules_fire_once_across_processes(db_path: Path, clock: FrozenClock) -> None:
    """Several engines (here: connections) tick at the same moments; each time fires once."""
    queues = [await Queue.open(db_path, clock=clock) for _ in range(3)]
    try:
        await queues[0].add_schedule("every-minute", "* * * * *", "demo.noop")
        await queues[0].add_schedule("every-two", "*/2 * * * *", "demo.noop")
        schedulers = [Scheduler(q) for q in queues]
        for _ in range(10):
            clock.advance(MINUTE)
            fired = await asyncio.gather(*(s.tick() for s in schedulers for _ in range(2)))
            minute = int(clock.now() // MINUTE)
            assert sum(fired) == 1 + (minute % 2 == 0)
    finally:
        for q in queues:
            await q.close()
    assert query(db_path, "SELECT s.name, count(*) FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id"
                          " GROUP BY s.name ORDER BY s.name") == [("every-minute", 10), ("every-two", 5)]
    assert_runs_match_jobs(db_path)
    assert_counters(db_path)


async def test_inactive_schedules_do_not_fire(queue: Queue, clock: FrozenClock) -> None:
    await queue.add_schedule("tick", "* * * * *", "demo.noop")
    disabled = await queue.set_schedule_active("tick", False)
    assert not disabled.active
    clock.advance(10 * MINUTE)
    assert await Scheduler(queue).tick() == 0
    enabled = await queue.set_schedule_active("tick", True)
    assert enabled.active and enabled.next_run_at == at_minute(clock)  # counted from now, not from the past
    assert await Scheduler(queue).tick() == 0
    clock.set(enabled.next_run_at)
    assert await Scheduler(queue).tick() == 1


async def test_run_now_fires_whatever_the_cron_says(queue: Queue) -> None:
    await queue.add_schedule("yearly", "0 0 1 1 *", "demo.noop", {"why": "now"})
    run = await queue.run_schedule_now("yearly")
    assert run.status == "ok" and run.job_id is not None
    assert (await queue.job(run.job_id)).params == {"why": "now"}


async def test_bad_schedules_and_names(queue: Queue) -> None:
    with pytest.raises(UsageError, match="invalid cron expression 'every day'"):
        await queue.add_schedule("bad", "every day", "demo.noop")
    with pytest.raises(UsageError, match="invalid cron"):
        await queue.add_schedule("bad", "61 * * * *", "demo.noop")
    with pytest.raises(UsageError, match="needs an intent"):
        await queue.add_schedule("bad", "* * * * *", "")
    for call in (queue.set_schedule_active("nope", True), queue.remove_schedule("nope"),
                 queue.schedule_runs("nope"), queue.run_schedule_now("nope")):
        with pytest.raises(NotFound, match="no schedule 'nope'"):
            await call
    assert [s.name for s in await queue.schedules()] == []


async def test_remove_a_schedule(queue: Queue) -> None:
    await queue.add_schedule("tmp", "* * * * *", "demo.noop")
    await queue.run_schedule_now("tmp")
    await queue.remove_schedule("tmp")
    assert await queue.schedules() == []
    assert scalar(queue.db.path, "SELECT count(*) FROM schedule_runs") == 0
    assert (await queue.jobs())[0].schedule_id is None  # the job it made stays


@pytest.mark.sqlite_only  # the failure is injected with a SQLite trigger
async def test_a_failing_run_is_recorded_and_the_schedule_stays(queue: Queue, clock: FrozenClock,
                                                              db_path: Path) -> None:
    await queue.add_schedule("typo", "* * * * *", "reports.colect")
    with closing(sqlite3.connect(db_path, isolation_level=None)) as c:
        c.execute("CREATE TRIGGER no_jobs BEFORE INSERT ON jobs WHEN NEW.intent = 'demo.noop'"
                  " BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    await queue.add_schedule("blocked", "* * * * *", "demo.noop")
    clock.set(at_minute(clock))
    assert await Scheduler(queue).tick() == 2
    schedules = {s.name: s for s in await queue.schedules()}
    (typo_run,) = await queue.schedule_runs("typo")
    assert typo_run.status == "error" and "'reports.colect'" in typo_run.error and typo_run.job_id is None
    (blocked_run,) = await queue.schedule_runs("blocked")
    assert blocked_run.status == "error" and blocked_run.error == "submit failed: IntegrityError: disk says no"
    for name, run in (("typo", typo_run), ("blocked", blocked_run)):
        schedule = schedules[name]
        assert (schedule.active, schedule.last_status, schedule.last_error) == (True, "error", run.error)
        assert schedule.next_run_at == clock.now() + MINUTE
    assert await queue.count_jobs() == 0
    # Fixed, the next run goes through and the schedule shows it.
    with closing(sqlite3.connect(db_path, isolation_level=None)) as c:
        c.execute("DROP TRIGGER no_jobs")
    clock.advance(MINUTE)
    assert await Scheduler(queue).tick() == 2
    schedules = {s.name: s for s in await queue.schedules()}
    assert (schedules["blocked"].last_status, schedules["blocked"].last_error) == ("ok", None)
    assert schedules["typo"].last_status == "error"


@pytest.mark.parametrize("ending", ["fail", "cancel"])
async def test_a_scheduled_job_that_ends_badly_marks_its_run(queue: Queue, clock: FrozenClock, ending: str) -> None:
    await queue.add_schedule("collect", "* * * * *", "demo.noop")
    run = await queue.run_schedule_now("collect")
    if ending == "fail":
        (held,), _ = await claims.claim(queue.db, "w", 1, clock.now())
        await queue.settle([claims.failure(held, "w", "HTTP 400", permanent=True, max_retries=3, now=clock.now())])
    else:
        await queue.cancel(run.job_id)
    (after,) = await queue.schedule_runs("collect")
    assert after.status == "error"
    assert f"job {run.job_id} ended {'failed' if ending == 'fail' else 'cancelled'}" in after.error
    (schedule,) = await queue.schedules()
    assert schedule.last_status == "error" and schedule.active


async def test_config_sync_keeps_the_operators_switch(queue: Queue, clock: FrozenClock) -> None:
    specs = (ScheduleSpec("a", "*/5 * * * *", "demo.noop", {"x": 1}), ScheduleSpec("b", "0 * * * *", "demo.noop"))
    crons = {"mark-stale-workers-offline": "*/2 * * * *"}
    await periodic.sync(queue.db, clock, specs, crons)
    await queue.set_schedule_active("a", False)
    before = {s.name: s for s in await queue.schedules()}
    assert before["mark-stale-workers-offline"].kind == "maintenance"
    clock.advance(30)
    await periodic.sync(queue.db, clock, (ScheduleSpec("a", "*/5 * * * *", "demo.noop", {"x": 2}),
                                          ScheduleSpec("b", "30 * * * *", "demo.noop")), crons)
    after = {s.name: s for s in await queue.schedules()}
    assert not after["a"].active  # a restart with the same config does not re-enable it
    assert after["a"].params == {"x": 2} and after["a"].next_run_at == before["a"].next_run_at
    assert after["b"].next_run_at == clock.now() - 30 + 30 * MINUTE  # new cron: next run recomputed


# -- maintenance -------------------------------------------------------------------------


async def test_maintenance_runs_on_its_schedule(queue: Queue, clock: FrozenClock, db_path: Path) -> None:
    await periodic.sync(queue.db, clock, (), {"mark-stale-workers-offline": "* * * * *",
                                              "cleanup-old-task-logs": "0 3 * * *"})
    await periodic.upsert(queue.db, clock, ScheduleSpec("broken", "* * * * *", "no-such-task"), kind="maintenance")
    job = (await queue.submit("demo.noop")).job_id
    async with queue.db.transaction() as conn:
        await conn.execute("INSERT INTO workers (id, host, pid, concurrency, started_at, last_heartbeat)"
                           " VALUES ('gone', 'h', 1, 1, :now, :now)", {"now": clock.now()})
    await claims.claim(queue.db, "gone", 1, clock.now())
    clock.set(clock.now() + queue.settings.stale_after + MINUTE)
    clock.set(clock.now() // MINUTE * MINUTE)
    assert await Scheduler(queue).tick() == 2
    runs = {s.name: s for s in await queue.schedules()}
    assert runs["mark-stale-workers-offline"].last_status == "ok"
    assert query(db_path, "SELECT status FROM workers WHERE id = 'gone'") == [("offline",)]
    assert (await queue.chunk(job, 0)).status.value == "pending"
    assert runs["broken"].last_status == "error" and "no maintenance task 'no-such-task'" in runs["broken"].last_error
    assert runs["broken"].active and runs["broken"].next_run_at > clock.now()
    assert runs["cleanup-old-task-logs"].last_run_at is None


async def test_cleanup_deletes_only_old_logs(queue: Queue, clock: FrozenClock, db_path: Path) -> None:
    job = (await queue.submit("demo.noop")).job_id
    queue.logs.add(job, None, None, "info", "old")
    clock.advance(queue.settings.log_retention_days * 86400 - 1)
    queue.logs.add(job, None, None, "info", "recent")
    await queue.logs.flush()
    clock.advance(2)
    assert await maintenance.cleanup_old_task_logs(queue) == "1 log line(s) deleted"
    assert [line.message for line in await queue.job_logs(job)] == ["recent"]
    await queue.cancel(job)
