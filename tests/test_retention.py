"""[retention]: cleanup-old-jobs deletes old ended history in small batches and never an active job."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import assert_counters, query, scalar
from queuetop.engine.api import Queue
from queuetop.engine.config import Config, ConfigError, RetentionSettings, parse
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.services import claims, maintenance
from queuetop.engine.services.scheduler import Scheduler

DAY = 86400.0


async def ended_job(queue: Queue, clock: FrozenClock, *, fail: bool = False, chunks: int = 3) -> int:
    """A job of ``chunks`` chunks run to its end now, with a failed attempt and log lines."""
    job = (await queue.submit("demo.noop", chunks=[{"n": n} for n in range(chunks)], max_retries=1)).job_id
    held, _ = await claims.claim(queue.db, "w", chunks, clock.now())
    outcomes = [claims.failure(c, "w", "flaky", permanent=False, max_retries=1, now=clock.now(), retry_at=clock.now())
                for c in held]
    await queue.settle(outcomes)  # one failed attempt each, back to pending
    held, _ = await claims.claim(queue.db, "w", chunks, clock.now())
    if fail:
        outcomes = [claims.failure(c, "w", "gone", permanent=True, max_retries=1, now=clock.now()) for c in held]
    else:
        outcomes = [claims.success(c, "w", {"ok": True}, clock.now()) for c in held]
    await queue.settle(outcomes)
    for c in held:
        queue.logs.add(job, c.chunk_id, "w", "info", f"chunk {c.chunk_index}")
    await queue.logs.flush()
    assert (await queue.job(job)).status.finished
    return job


def counts(db_path: Path | str) -> dict[str, int]:
    return {table: scalar(db_path, f"SELECT count(*) FROM {table}")
            for table in ("jobs", "chunks", "chunk_attempts", "task_logs", "schedule_runs")}


class Transactions:
    """How many transactions were opened while :func:`counting_transactions` was on."""

    count = 0


@contextmanager
def counting_transactions(queue: Queue) -> Iterator[Transactions]:
    """Count ``queue.db.transaction()`` calls (the real one still runs each)."""
    seen = Transactions()
    real = queue.db.transaction

    def counting(*args: object, **kwargs: object) -> object:
        seen.count += 1
        return real(*args, **kwargs)

    object.__setattr__(queue.db, "transaction", counting)
    try:
        yield seen
    finally:
        object.__delattr__(queue.db, "transaction")


@pytest.fixture
def retention(queue: Queue) -> RetentionSettings:
    settings = RetentionSettings(jobs_days=30, schedule_runs_days=7, events_days=90, alerts_days=10, batch_size=2)
    object.__setattr__(queue, "config", Config(retention=settings))
    return settings


async def test_old_ended_jobs_go_with_their_chunks_attempts_and_logs(queue: Queue, clock: FrozenClock,
                                                                     db_path: Path | str,
                                                                     retention: RetentionSettings) -> None:
    old = [await ended_job(queue, clock), await ended_job(queue, clock, fail=True)]
    # below the others' priority, so their claims leave its pending chunk alone
    running = (await queue.submit("demo.noop", chunks=[{"n": 0}, {"n": 1}], priority=-1)).job_id
    await claims.claim(queue.db, "w", 1, clock.now())  # one chunk processing, one pending: running for 40 days
    queue.logs.add(running, None, "w", "info", "still at it")
    await queue.logs.flush()
    clock.advance(29 * DAY)
    recent = await ended_job(queue, clock)  # 1 day later it is 30 days old: ended 29 days ago then
    clock.advance(11 * DAY)

    with counting_transactions(queue) as transactions:
        summary = await maintenance.cleanup_old_jobs(queue)
    assert summary.startswith("deleted 2 job(s), 6 chunk(s), 9 attempt(s), 6 log line(s); 0 event(s); "
                              "0 schedule run(s); ")
    # batches of 2 rows: 3 + 3 + 3 + 1 transactions for the first two jobs' rows, and more after
    assert transactions.count >= 10
    for job in old:
        assert query(db_path, "SELECT count(*) FROM jobs WHERE id = ?", (job,)) == [(0,)]
    assert sorted(j.id for j in await queue.jobs()) == sorted([running, recent])
    assert counts(db_path) == {"jobs": 2, "chunks": 5, "chunk_attempts": 3, "task_logs": 4, "schedule_runs": 0}
    assert_counters(db_path)
    assert await maintenance.cleanup_old_jobs(queue) == (
        "deleted 0 job(s), 0 chunk(s), 0 attempt(s), 0 log line(s); 0 event(s); 0 schedule run(s); 0 alert(s)")


async def test_old_alerts_that_are_done_with_go_and_undelivered_ones_stay(
        queue: Queue, clock: FrozenClock, db_path: Path | str, retention: RetentionSettings) -> None:
    async with queue.db.transaction() as conn:
        for n in range(6):
            at = clock.now() - (8 + n) * DAY
            await conn.execute(
                "INSERT INTO alerts (id, kind, subject, summary, rule, submit, status, next_attempt_at, created_at, "
                "last_seen_at) VALUES (:id, 'job.failed', 'x', 'x', 1, 'alerts.page', :status, :at, :at, :at)",
                {"id": n + 1, "at": at, "status": "pending" if n == 5 else "delivered"})
        await conn.execute("INSERT INTO alert_deliveries (alert_id, attempt, target, ok, at) "
                           "VALUES (5, 1, 'webhook', 1, :at)", {"at": clock.now() - 12 * DAY})
    assert (await maintenance.cleanup_old_jobs(queue)).endswith("; 2 alert(s)")  # alerts_days = 10
    assert query(db_path, "SELECT id FROM alerts ORDER BY id") == [(1,), (2,), (3,), (6,)]  # 6: undelivered
    assert query(db_path, "SELECT count(*) FROM alert_deliveries") == [(0,)]


async def test_a_retried_job_is_kept(queue: Queue, clock: FrozenClock, retention: RetentionSettings) -> None:
    job = await ended_job(queue, clock, fail=True)
    clock.advance(31 * DAY)
    await queue.retry(job)
    await maintenance.cleanup_old_jobs(queue)
    assert (await queue.job(job)).status.value == "pending"
    assert len(await queue.chunks(job)) == 3


async def test_old_schedule_runs_go_and_the_schedule_stays(queue: Queue, clock: FrozenClock,
                                                           db_path: Path | str, retention: RetentionSettings) -> None:
    await queue.add_schedule("hourly", "0 * * * *", "demo.noop")
    for _ in range(5):
        await queue.run_schedule_now("hourly")
        clock.advance(1)
    clock.advance(7 * DAY - 2)
    await queue.run_schedule_now("hourly")
    summary = await maintenance.cleanup_old_jobs(queue)
    assert "3 schedule run(s)" in summary  # ended over 7 days ago; the fourth, exactly 7 days ago, stays
    assert len(await queue.schedule_runs("hourly")) == 3
    assert [s.name for s in await queue.schedules()] == ["hourly"]


async def test_nothing_configured_deletes_nothing(queue: Queue, clock: FrozenClock, db_path: Path | str) -> None:
    await ended_job(queue, clock)
    clock.advance(10_000 * DAY)
    assert await maintenance.cleanup_old_jobs(queue) == "no [retention] settings: nothing deleted"
    assert counts(db_path)["jobs"] == 1


async def test_cleanup_old_jobs_is_a_built_in_maintenance_schedule(queue: Queue, clock: FrozenClock,
                                                                   retention: RetentionSettings) -> None:
    from queuetop.engine.services import scheduler as periodic

    await ended_job(queue, clock)
    await periodic.sync(queue.db, clock, (), {"cleanup-old-jobs": "15 3 * * *"})
    clock.advance(31 * DAY)
    assert await Scheduler(queue).tick() == 1
    (schedule,) = await queue.schedules()
    assert (schedule.name, schedule.last_status) == ("cleanup-old-jobs", "ok")
    assert await queue.jobs() == []


def test_retention_config_is_checked_naming_the_key() -> None:
    settings = parse({"retention": {"jobs_days": 30, "events_days": 7.5, "alerts_days": 90,
                                    "schedule_runs_days": 14, "batch_size": 100}}).retention
    assert (settings.jobs_days, settings.events_days, settings.batch_size) == (30, 7.5, 100)
    assert parse({}).retention.jobs_days is None
    assert parse({"events": {"retention_days": 5}}).retention.events_days == 5  # the older spelling
    for table, message in (({"jobs_days": "30"}, "[retention] jobs_days must be a number > 0, got '30'"),
                           ({"alerts_days": 0}, "[retention] alerts_days must be a number > 0, got 0"),
                           ({"events_days": float("nan")}, "[retention] events_days must be a number"),
                           ({"schedule_runs_days": True}, "[retention] schedule_runs_days must be a number"),
                           ({"batch_size": 1.5}, "[retention] batch_size must be an integer"),
                           ({"jobs_day": 3}, "unknown [retention] key(s): jobs_day")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse({"retention": table})
    with pytest.raises(ConfigError, match="say the same thing"):
        parse({"retention": {"events_days": 3}, "events": {"retention_days": 4}})
    with pytest.raises(ConfigError, match=r"\[retention\] must be a table"):
        parse({"retention": 30})


def test_the_readmes_config_example_is_a_valid_config(tmp_path: Path) -> None:
    """The README's whole-config example, [retention] and zoned schedules included, parses as written
    (in a project folder that has the handler_path folder it names)."""
    import tomllib

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = text[text.index("## Config file"):]
    block = section[section.index("```toml") + len("```toml"):section.index("```", section.index("```toml") + 7)]
    (tmp_path / "lib").mkdir()
    cfg = parse(tomllib.loads(block), tmp_path / "queuetop.toml")
    (nightly,) = cfg.schedules
    assert (nightly.tz, nightly.catch_up, nightly.max_catch_up) == ("Europe/Berlin", "once", 10)
    assert (cfg.retention.jobs_days, cfg.retention.events_days, cfg.retention.batch_size) == (30, 90, 500)  # events: [events]
    assert cfg.maintenance["cleanup-old-jobs"] == "15 3 * * *"


async def test_old_task_logs_go_in_batches_of_batch_size(queue: Queue, clock: FrozenClock,
                                                          retention: RetentionSettings) -> None:
    job = (await queue.submit("demo.noop")).job_id
    for n in range(5):
        queue.logs.add(job, None, None, "info", f"old {n}")
    await queue.logs.flush()
    clock.advance(queue.settings.log_retention_days * 86400 - 1)
    queue.logs.add(job, None, None, "info", "recent")
    await queue.logs.flush()
    clock.advance(2)

    with counting_transactions(queue) as transactions:
        assert await maintenance.cleanup_old_task_logs(queue) == "5 log line(s) deleted"
    assert transactions.count == 3  # 2 + 2 + 1 lines, batch_size 2: no transaction holds the whole clean-up
    assert [line.message for line in await queue.job_logs(job)] == ["recent"]
