"""Periodic work: schedules in the database, fired exactly once each time.

Every engine process runs a :class:`Scheduler`. When a schedule is due, each
process that notices tries a compare-and-set on its next run time inside a
``BEGIN IMMEDIATE`` transaction; one wins and fires it. ``UNIQUE(schedule_id,
scheduled_for)`` on the runs makes a second firing impossible even so.

A ``job`` schedule submits a job in the same transaction that fires it; a
``maintenance`` schedule runs one of the built-in tasks in the process that
won. A schedule whose run fails records the error and stays scheduled.

A schedule's cron is read in its time zone (:mod:`queuetop.engine.model.cron`).
While the queue is paused, job schedules wait (maintenance goes on). A due
time found more than ``[engine] misfire_grace`` seconds late (the engine was
down, the queue paused) was *missed*: the process that wins the
compare-and-set counts it on the schedule, logs a warning, runs the
engine's ``schedule_missed_hooks`` inside that transaction (what an alert
hooks into) and, per the schedule's ``catch_up``, runs none of the missed
times, the latest once, or each of the latest ``max_catch_up``. Maintenance
schedules found late run once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from collections import deque
from collections.abc import Iterator
from itertools import chain

from queuetop.engine.store import queries
from queuetop.engine.model.changes import JOBS, SCHEDULES, Change
from queuetop.engine.model.clock import Clock
from queuetop.engine import config
from queuetop.engine.config import ScheduleSpec
from queuetop.engine.model import cron as zoned
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.model.exceptions import ConfigError, NotFound, UsageError
from queuetop.engine.model.queues import is_intent_key, queue_name_problem
from queuetop.engine.model.records import MissedRuns, Schedule, ScheduleRun, Submission
from queuetop.engine.model.states import CatchUp, ScheduleKind
from queuetop.engine.services import actions
from queuetop.engine.model.text import describe
from queuetop.engine.services.jobs import insert_job

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

SQL = queries.load("schedules")
log = logging.getLogger("queuetop.engine")


#: Missed due times counted one by one up to this many; past it, "at least".
COUNT_CAP = 10_000


def next_run(cron: str, after: float, tz: str = zoned.DEFAULT_ZONE) -> float:
    """The first time after ``after`` that ``cron`` names in zone ``tz`` (5 fields, or 6 with seconds last)."""
    return next_runs(cron, after, 1, tz)[0]


def next_runs(cron: str, after: float, count: int, tz: str = zoned.DEFAULT_ZONE) -> list[float]:
    """The first ``count`` times after ``after`` that ``cron`` names in zone ``tz``."""
    try:
        times = zoned.fire_times(cron, tz, after)
        found: list[float] = []
        for _ in range(count):
            try:
                found.append(next(times))
            except (OverflowError, StopIteration):  # past the year 9999: there are no more
                break
        return found
    except zoned.ZoneError as exc:
        raise UsageError(str(exc)) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"invalid cron expression {cron!r}: {exc}") from None


def check_options(tz: str, catch_up: str, max_catch_up: int) -> None:
    """Refuse an unknown zone, catch-up mode or bound (one line, as a UsageError)."""
    try:
        config.check_schedule_options(tz, catch_up, max_catch_up)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def check_schedule(name: str, cron: str, intent: str, tz: str, catch_up: str, max_catch_up: int) -> None:
    """Refuse a schedule that could never fire or submit: no name, a bad cron (heard about first), zone,
    catch-up or intent key."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError("a schedule needs a name")
    check_cron(cron)
    check_options(tz, catch_up, max_catch_up)
    if intent and not is_intent_key(intent):  # (none at all: upsert says the schedule needs one)
        raise UsageError(f"intent {intent!r} is not a valid intent key (letters, digits, '_', '.', '-')")


def check_cron(cron: str) -> None:
    """5 fields, 6 with seconds, or an @-alias (see :func:`queuetop.engine.config.check_cron`)."""
    try:
        config.check_cron(cron)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


async def upsert(db: Database, clock: Clock, spec: ScheduleSpec, kind: ScheduleKind | str = ScheduleKind.JOB) -> Schedule:
    check_cron(spec.cron)
    check_options(spec.tz, spec.catch_up, spec.max_catch_up)
    if not spec.intent:
        raise UsageError(f"schedule {spec.name!r} needs an intent")
    if spec.queue is not None and queue_name_problem(spec.queue):
        raise UsageError(f"schedule {spec.name!r}: {queue_name_problem(spec.queue)}")
    now = clock.now()
    async with db.transaction() as conn:
        async with conn.execute(SQL["upsert"], {
            "name": spec.name, "cron": spec.cron, "kind": ScheduleKind(kind).value, "intent": spec.intent,
            "params": json.dumps(spec.params), "active": int(spec.active),
            "next_run_at": next_run(spec.cron, now, spec.tz), "now": now, "tz": spec.tz,
            "catch_up": spec.catch_up, "max_catch_up": spec.max_catch_up, "queue": spec.queue,
        }) as cur:
            return Schedule.from_row(await cur.fetchone())


async def sync(db: Database, clock: Clock, schedules: tuple[ScheduleSpec, ...],
               maintenance: dict[str, str]) -> None:
    """Make the database's schedules include the config's and the built-in ones."""
    for name, cron in maintenance.items():
        await upsert(db, clock, ScheduleSpec(name=name, cron=cron, intent=name), kind=ScheduleKind.MAINTENANCE)
    for spec in schedules:
        await upsert(db, clock, spec)


async def list_schedules(db: Database) -> list[Schedule]:
    return [Schedule.from_row(row) for row in await db.fetchall(SQL["list"])]


async def get(db: Database, name: str) -> Schedule:
    row = await db.fetchone(SQL["get"], {"name": name})
    if row is None:
        raise NotFound(f"no schedule {name!r}")
    return Schedule.from_row(row)


async def list_runs(db: Database, name: str, limit: int = 20) -> list[ScheduleRun]:
    await get(db, name)
    return [ScheduleRun(**dict(row)) for row in await db.fetchall(SQL["runs"], {"name": name, "limit": limit})]


async def set_active(db: Database, clock: Clock, name: str, active: bool) -> Schedule:
    schedule = await get(db, name)
    async with db.transaction() as conn:
        async with conn.execute(SQL["set_active"], {
            "name": name, "active": int(active), "next_run_at": next_run(schedule.cron, clock.now(), schedule.tz),
        }) as cur:
            return Schedule.from_row(await cur.fetchone())


async def remove(db: Database, name: str) -> None:
    await get(db, name)
    async with db.transaction() as conn:
        await conn.execute(SQL["remove"], {"name": name})


async def fire(queue: "Engine", schedule: Schedule, *, forced: bool = False) -> ScheduleRun | None:
    """Fire ``schedule`` if this process wins it; None when another one did.

    ``forced`` (run now) skips the compare-and-set and fires at the current time.
    """
    now = queue.clock.now()
    scheduled_for = now if forced else schedule.next_run_at
    async with queue.db.transaction(wake=True) as conn:
        if not forced:
            cur = await conn.execute(SQL["advance"], {
                "id": schedule.id, "expected": schedule.next_run_at, "now": now,
                "next_run_at": next_run(schedule.cron, max(now, schedule.next_run_at or now), schedule.tz),
            })
            if cur.rowcount != 1:
                return None
        try:
            async with conn.execute(SQL["start_run"], {"schedule_id": schedule.id, "scheduled_for": scheduled_for,
                                                       "now": now, "worker_id": queue.process_id}) as cur:
                run_id = (await cur.fetchone())[0]
        except queue.db.IntegrityError:
            return None  # this very time was fired already
        job_id, error = await _submit(queue, conn, schedule, run_id, now)
        if error:
            await queue.alert_rules.schedule_failed(conn, schedule.name, schedule.intent, error, now)
    if schedule.kind is ScheduleKind.MAINTENANCE:
        try:
            # The tasks are handed in through the engine: maintenance imports this module.
            summary = await queue.run_maintenance(schedule.intent)
            log.info("maintenance %s: %s", schedule.name, summary)
        except Exception as exc:  # recorded on the schedule; it stays scheduled
            error = describe(exc)
        async with queue.db.transaction() as conn:
            ended = queue.clock.now()
            await _record(conn, schedule.id, run_id, ended, None, error)
            if error:
                await queue.alert_rules.schedule_failed(conn, schedule.name, schedule.intent, error, ended)
    _said(queue, schedule, job_id, error)
    queue.changes.publish(Change.of(SCHEDULES, source="scheduler"))
    row = await queue.db.fetchone(SQL["get_run"], {"run_id": run_id})
    return ScheduleRun(**dict(row))


async def _submit(queue: "Engine", conn: Any, schedule: Schedule, run_id: int,
                  now: float) -> tuple[int | None, str | None]:
    """A job schedule's run, inside the firing transaction: its job, or the error recorded instead."""
    job_id = error = None
    if schedule.kind is not ScheduleKind.JOB:
        return None, None
    if schedule.intent not in queue.registry:
        error = f"unknown intent {schedule.intent!r}: no handler is registered under that key"
    else:
        await conn.execute("SAVEPOINT submit")
        try:
            job_id, _ = await insert_job(conn, Submission(
                intent=schedule.intent, params=schedule.params, schedule_id=schedule.id,
                queue=schedule.queue or queue.queue_routes.route(schedule.intent), max_retries=queue.settings.max_retries, timeout=queue.settings.chunk_timeout), now)
            await conn.execute("RELEASE submit")
        except queue.db.Error as exc:
            await conn.execute("ROLLBACK TO submit")
            error = f"submit failed: {describe(exc)}"
    await _record(conn, schedule.id, run_id, now, job_id, error)
    return job_id, error


def _said(queue: "Engine", schedule: Schedule, job_id: int | None, error: str | None) -> None:
    if error:
        log.error("schedule %s failed: %s", schedule.name, error)
    elif schedule.kind is ScheduleKind.JOB:
        log.info("schedule %s fired: job %d", schedule.name, job_id)
        queue.changes.publish(Change.of(JOBS, job_ids=[job_id], source="submit"))


def missed_runs(schedule: Schedule, now: float) -> MissedRuns:
    """The due times from ``schedule.next_run_at`` up to ``now``, and those its ``catch_up`` runs."""
    assert schedule.next_run_at is not None
    mode = CatchUp(schedule.catch_up)
    keep = {CatchUp.NONE: 0, CatchUp.ONCE: 1, CatchUp.ALL: schedule.max_catch_up}[mode]
    first = schedule.next_run_at
    wanted = max(keep, 1)
    latest: deque[float] = deque(maxlen=wanted)
    count, capped = 0, False
    for when in chain([first], zoned.fire_times(schedule.cron, schedule.tz, first)):
        if when > now:
            break
        count += 1
        latest.append(when)
        if count >= COUNT_CAP:
            capped = True
            break
    if capped:
        # More than we count: the latest due times come from a window before
        # now that holds enough of them, widened until it does.
        window = max(1.0, (latest[-1] - first) / count * len(latest) * 2)
        while True:
            start = max(first, now - window)
            found = list(_until(zoned.fire_times(schedule.cron, schedule.tz, start), now, COUNT_CAP))
            if len(found) >= wanted or start == first:
                latest.extend(found)
                break
            window *= 2
    return MissedRuns(schedule_id=schedule.id, schedule=schedule.name, intent=schedule.intent, tz=schedule.tz,
                      count=count, capped=capped, first=first, last=latest[-1], catch_up=mode.value,
                      run_for=tuple(latest)[-keep:] if keep else (), detected_at=now)


def _until(times: Iterator[float], end: float, limit: int) -> Iterator[float]:
    """``times`` up to ``end``, at most ``limit`` of them."""
    for n, when in enumerate(times):
        if when > end or n >= limit:
            return
        yield when


async def catch_up(queue: "Engine", schedule: Schedule) -> list[ScheduleRun] | None:
    """Handle a job schedule found past ``misfire_grace``: count, report, run per ``catch_up``.

    None when another process won it.
    """
    now = queue.clock.now()
    missed = missed_runs(schedule, now)
    made: list[tuple[int, int | None, str | None]] = []
    async with queue.db.transaction(wake=True) as conn:
        cur = await conn.execute(SQL["advance"], {
            "id": schedule.id, "expected": schedule.next_run_at, "now": now,
            "next_run_at": next_run(schedule.cron, now, schedule.tz),
        })
        if cur.rowcount != 1:
            return None
        await conn.execute(SQL["record_missed"], {"id": schedule.id, "count": missed.count, "now": now})
        for hook in queue.schedule_missed_hooks:
            await hook(conn, missed, now)
        for when in missed.run_for:
            await conn.execute("SAVEPOINT catch_up")
            try:
                async with conn.execute(SQL["start_run"], {"schedule_id": schedule.id, "scheduled_for": when,
                                                           "now": now, "worker_id": queue.process_id}) as cur:
                    run_id = (await cur.fetchone())[0]
                await conn.execute("RELEASE catch_up")
            except queue.db.IntegrityError:
                await conn.execute("ROLLBACK TO catch_up")
                continue  # that time has a run already (a run-now at the same instant)
            made.append((run_id, *await _submit(queue, conn, schedule, run_id, now)))
    log.warning("schedule %s missed %s%d run(s) due %s to %s (%s); catch_up %s: %d run(s) now", schedule.name,
                "at least " if missed.capped else "", missed.count, zoned.utc_text(missed.first),
                zoned.utc_text(missed.last), schedule.tz, missed.catch_up, len(made))
    for _, job_id, error in made:
        _said(queue, schedule, job_id, error)
    queue.changes.publish(Change.of(SCHEDULES, source="scheduler"))
    runs = []
    for run_id, _, _ in made:
        runs.append(ScheduleRun(**dict(await queue.db.fetchone(SQL["get_run"], {"run_id": run_id}))))
    return runs


async def _record(conn: Any, schedule_id: int, run_id: int, now: float, job_id: int | None,
                  error: str | None) -> None:
    status = "error" if error else "ok"
    await conn.execute(SQL["end_run"], {"run_id": run_id, "now": now, "status": status, "error": error,
                                        "job_id": job_id})
    await conn.execute(SQL["record_last"], {"id": schedule_id, "status": status, "error": error, "now": now})


async def record_job_outcome(conn: Any, job: dict[str, Any], now: float) -> None:
    """Inside a finalizing transaction: a scheduled job that did not complete
    turns its run and its schedule's last status into an error, so the
    schedules screen shows that the run failed and why.
    """
    if job.get("schedule_id") is None or job["status"] == "completed":
        return
    async with conn.execute(SQL["last_failed_error"], {"job_id": job["id"]}) as cur:
        row = await cur.fetchone()
    error = f"job {job['id']} ended {job['status']}: {job['chunks_failed']} of {job['chunks_total']} chunk(s) failed"
    if row is not None and row[0]:
        error += f" (last error: {row[0]})"
    async with conn.execute(SQL["job_run_failed"], {"job_id": job["id"], "error": error}) as cur:
        ran = await cur.fetchone()
    if ran is not None:
        await conn.execute(SQL["record_last"], {"id": ran[0], "status": "error", "error": error, "now": now})


async def run_now(queue: "Engine", name: str) -> ScheduleRun:
    run = await fire(queue, await get(queue.db, name), forced=True)
    assert run is not None  # forced runs have no competitor
    return run


class Scheduler:
    """Fires due schedules for one engine process."""

    def __init__(self, queue: "Engine") -> None:
        self.queue = queue
        self.fired = 0

    async def tick(self) -> int:
        """Fire every due schedule this process wins; returns how many runs it made.

        Job schedules wait while the queue is paused; one found later than
        ``misfire_grace`` goes through :func:`catch_up`.
        """
        fired = 0
        now = self.queue.clock.now()
        due = [Schedule.from_row(row) for row in await self.queue.db.fetchall(SQL["due"], {"now": now})]
        if any(s.kind is ScheduleKind.JOB for s in due) and await actions.is_paused(self.queue.db):
            due = [s for s in due if s.kind is not ScheduleKind.JOB]
        for schedule in due:
            late = now - (schedule.next_run_at or now) > self.queue.settings.misfire_grace
            if late and schedule.kind is ScheduleKind.JOB:
                fired += len(await catch_up(self.queue, schedule) or [])
            elif await fire(self.queue, schedule) is not None:
                fired += 1
        self.fired += fired
        return fired

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.queue.settings.scheduler_interval
        backoff = interval
        while not stop.is_set():
            try:
                await self.tick()
                backoff = interval
            except self.queue.db.Error as exc:
                backoff = min(60.0, backoff * 2)
                log.warning("scheduler: %s; next try in %.0fs", exc, backoff)
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except TimeoutError:
                pass
