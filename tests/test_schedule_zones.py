"""Schedules in a time zone across both DST changes, and due times missed while nothing ran them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import query
from queuetop.engine.api import Queue
from queuetop.engine.config import ConfigError, parse
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.records import MissedRuns
from queuetop.engine.services.scheduler import Scheduler

BERLIN = "Europe/Berlin"


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


async def fired_times(queue: Queue, clock: FrozenClock, name: str, until: float) -> list[float]:
    """Step the frozen clock from due time to due time until ``until``; the times it fired at."""
    scheduler = Scheduler(queue)
    while True:
        (schedule,) = [s for s in await queue.schedules() if s.name == name]
        if schedule.next_run_at > until:
            break
        clock.set(schedule.next_run_at - 0.5)
        assert await scheduler.tick() == 0  # not a moment early
        clock.set(schedule.next_run_at)
        assert await scheduler.tick() == 1
    return sorted(r.scheduled_for for r in await queue.schedule_runs(name, limit=1000))


async def test_spring_forward_a_nonexistent_time_fires_at_the_first_instant_after_the_gap(
        queue: Queue, clock: FrozenClock) -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night.
    clock.set(utc(2026, 3, 27, 12))
    schedule = await queue.add_schedule("nightly", "30 2 * * *", "demo.noop", tz=BERLIN)
    assert schedule.tz == BERLIN
    assert await fired_times(queue, clock, "nightly", utc(2026, 3, 31)) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),   # the gap: 03:00 CEST, the moment of the change
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    assert len(await queue.jobs()) == 3


async def test_fall_back_an_ambiguous_time_fires_once_the_first_time(queue: Queue, clock: FrozenClock) -> None:
    # 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    clock.set(utc(2026, 10, 23, 12))
    await queue.add_schedule("nightly", "30 2 * * *", "demo.noop", tz=BERLIN)
    assert await fired_times(queue, clock, "nightly", utc(2026, 10, 27)) == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first of the two; not again at 01:30 UTC
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]
    await queue.remove_schedule("nightly")
    clock.set(utc(2026, 10, 24, 23))
    await queue.add_schedule("quarterly", "*/15 2 * * *", "demo.noop", tz=BERLIN)
    assert await fired_times(queue, clock, "quarterly", utc(2026, 10, 25, 12)) == [
        utc(2026, 10, 25, 0, m) for m in (0, 15, 30, 45)]  # 02:00 to 02:45 CEST; the repeated hour: not again


async def test_a_utc_schedule_ignores_daylight_saving(queue: Queue, clock: FrozenClock) -> None:
    clock.set(utc(2026, 3, 28, 12))
    await queue.add_schedule("nightly", "30 2 * * *", "demo.noop")
    assert await fired_times(queue, clock, "nightly", utc(2026, 3, 30, 12)) == [
        utc(2026, 3, 29, 2, 30), utc(2026, 3, 30, 2, 30)]


async def test_next_fire_times_in_the_zone(queue: Queue, clock: FrozenClock) -> None:
    await queue.add_schedule("nightly", "30 2 * * *", "demo.noop", tz=BERLIN)
    assert await queue.schedule_next("nightly", count=3, after=utc(2026, 10, 24, 1)) == [
        utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]
    # From inside the repeated hour's second pass, the next one is the next day.
    assert await queue.schedule_next("nightly", count=1, after=utc(2026, 10, 25, 1, 10)) == [utc(2026, 10, 26, 1, 30)]
    with pytest.raises(UsageError, match="count must be between 1 and 1000"):
        await queue.schedule_next("nightly", count=0)


async def test_changing_the_zone_moves_the_next_run(queue: Queue, clock: FrozenClock) -> None:
    clock.set(utc(2026, 6, 1))
    first = await queue.add_schedule("nightly", "0 2 * * *", "demo.noop")
    moved = await queue.add_schedule("nightly", "0 2 * * *", "demo.noop", tz="America/New_York")
    assert (first.next_run_at, moved.next_run_at) == (utc(2026, 6, 1, 2), utc(2026, 6, 1, 6))


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "Europe/Berlin\x00"])
async def test_an_unknown_zone_is_refused_when_added(queue: Queue, zone: str) -> None:
    with pytest.raises(UsageError, match="unknown time zone"):
        await queue.add_schedule("x", "0 2 * * *", "demo.noop", tz=zone)
    assert await queue.schedules() == []


def test_config_checks_zone_and_catch_up_naming_the_key() -> None:
    entry = {"name": "n", "cron": "0 2 * * *", "intent": "demo.noop"}
    spec, = parse({"schedules": [{**entry, "tz": BERLIN, "catch_up": "all", "max_catch_up": 3}]}).schedules
    assert (spec.tz, spec.catch_up, spec.max_catch_up) == (BERLIN, "all", 3)
    for extra, message in (({"tz": "Berlin"}, "schedule 'n': tz: unknown time zone 'Berlin'"),
                           ({"tz": 1}, "tz: unknown time zone 1"),
                           ({"catch_up": "twice"}, "schedule 'n': catch_up must be \"none\", \"once\" or \"all\""),
                           ({"max_catch_up": 0}, "schedule 'n': max_catch_up must be an integer ≥ 1"),
                           ({"max_catch_up": 2.5}, "max_catch_up must be an integer"),
                           ({"max_catch_up": 5000}, "≤ 1000, got 5000")):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            parse({"schedules": [{**entry, **extra}]})


# -- missed runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("catch_up, runs", [("none", []), ("once", [5]), ("all", [3, 4, 5])])
async def test_due_times_missed_while_nothing_ran(queue: Queue, clock: FrozenClock, db_path: Path,
                                                  catch_up: str, runs: list[int]) -> None:
    """An hourly schedule and an engine that was gone for five due times."""
    reported: list[MissedRuns] = []

    async def hook(conn: object, missed: MissedRuns, now: float) -> None:
        reported.append(missed)
        await conn.execute("INSERT INTO task_logs (ts, level, message) VALUES (:ts, 'warning', :m)",  # type: ignore[attr-defined]
                           {"ts": missed.detected_at, "m": f"{missed.schedule} missed {missed.count}"})

    queue.schedule_missed_hooks.append(hook)
    await queue.add_schedule("hourly", "0 * * * *", "demo.noop", catch_up=catch_up, max_catch_up=3)
    start = clock.now()
    clock.set(start + 5 * 3600 + 600)  # due at 01:00 .. 05:00; found at 05:10
    second = Scheduler(await Queue.open(db_path, clock=clock))  # another engine, noticing at the same moment
    assert await Scheduler(queue).tick() + await second.tick() == len(runs)
    await second.queue.close()
    (schedule,) = await queue.schedules()
    assert (schedule.missed, schedule.last_missed_at, schedule.next_run_at) == (5, clock.now(), start + 6 * 3600)
    # the hook wrote in the transaction that recorded the miss: an outbox row, once
    assert query(db_path, "SELECT message FROM task_logs") == [("hourly missed 5",)]
    (missed,) = reported  # once, though two schedulers saw it
    assert (missed.count, missed.capped, missed.first, missed.last, missed.catch_up) == (
        5, False, start + 3600, start + 5 * 3600, catch_up)
    assert [r.scheduled_for for r in reversed(await queue.schedule_runs("hourly"))] == [start + h * 3600 for h in runs]
    assert len(await queue.jobs()) == len(runs)
    assert await Scheduler(queue).tick() == 0  # nothing found twice
    clock.set(start + 6 * 3600)
    assert await Scheduler(queue).tick() == 1  # and on time again
    assert query(db_path, "SELECT missed FROM schedules") == [(5,)]


async def test_a_little_late_is_not_missed(queue: Queue, clock: FrozenClock) -> None:
    await queue.add_schedule("hourly", "0 * * * *", "demo.noop")
    clock.advance(3600 + queue.settings.misfire_grace)
    assert await Scheduler(queue).tick() == 1
    (schedule,) = await queue.schedules()
    assert schedule.missed == 0


async def test_catch_up_all_of_many_runs_the_latest(queue: Queue, clock: FrozenClock) -> None:
    """Six hours of a per-second schedule: more than is counted one by one; the latest ten run."""
    await queue.add_schedule("busy", "* * * * * *", "demo.noop", catch_up="all")
    start = clock.now()
    clock.advance(6 * 3600)
    assert await Scheduler(queue).tick() == 10
    (schedule,) = await queue.schedules()
    assert schedule.missed == 10_000  # at least: counting stops there
    assert [r.scheduled_for for r in await queue.schedule_runs("busy")] == [clock.now() - s for s in range(10)]
    assert schedule.next_run_at == clock.now() + 1 and start < clock.now()


async def test_job_schedules_wait_while_the_queue_is_paused(queue: Queue, clock: FrozenClock) -> None:
    await queue.add_schedule("hourly", "0 * * * *", "demo.noop", catch_up="once")
    await queue.pause(by="test")
    clock.advance(3 * 3600)
    assert await Scheduler(queue).tick() == 0
    assert await queue.jobs() == []
    await queue.resume()
    assert await Scheduler(queue).tick() == 1  # resumed: the three missed hours, caught up once
    (schedule,) = await queue.schedules()
    assert schedule.missed == 3
    (run,) = await queue.schedule_runs("hourly")
    assert run.scheduled_for == clock.now() and run.job_id is not None


async def test_maintenance_found_late_runs_once_and_is_not_missed(queue: Queue, clock: FrozenClock) -> None:
    from queuetop.engine.services import scheduler as periodic

    await periodic.sync(queue.db, clock, (), {"mark-stale-workers-offline": "*/2 * * * *"})
    await queue.pause(by="test")  # maintenance goes on while the queue is paused
    clock.advance(3600)
    assert await Scheduler(queue).tick() == 1
    (schedule,) = await queue.schedules()
    assert (schedule.missed, schedule.last_status) == (0, "ok")
