"""The engine's API: everything the CLI, the TUI and embedding code call.

A :class:`Queue` owns one database, a clock, the handler registry, the log
buffer and the change bus. Reads return typed records; actions return an
:class:`~queuetop.engine.services.ActionResult` or raise a
:class:`~queuetop.engine.model.exceptions.QueuetopError` that says why not.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from queuetop.engine.config import Config, display_db, resolve_db
from queuetop.engine.config import load as load_config
from queuetop.engine.events.thresholds import SessionThresholds
from queuetop.engine.handlers.registry import Registry
from queuetop.engine.model.changes import CHUNKS, JOBS, LOGS, QUEUE, SCHEDULES, SESSIONS, Change
from queuetop.engine.model.clock import Clock
from queuetop.engine.model.exceptions import ConfigError, NotFound, QueuetopError, UsageError
from queuetop.engine.model.query import DEFAULT_SORT, JobQuery, JobSort, parse, parse_sort
from queuetop.engine.model.results import FoundJobs, LogLine, QueueInfo, SubmitResult, Totals
from queuetop.engine.model.records import (Alert, AlertDelivery, Attempt, Chunk, Job, Schedule, ScheduleRun,
                                           Submission, WorkerInfo)
from queuetop.engine.model.states import AlertKind, AlertState, SessionState
from queuetop.engine.services import bulk, jobs
from queuetop.engine.services.engine import WORKER_SQL, Engine
from queuetop.engine.store import find, is_postgres_url, open_store
from queuetop.engine.store.protocol import Backend

# A CLI call pays for what it imports on every run, so what only some calls
# need (the event store and sessions, schedules and croniter, operator
# actions, workers and the runner, the http handler, circuits, maintenance)
# is imported inside the methods that use it, and the names this module
# re-exports from there load on first use (see __getattr__ at the end).
if TYPE_CHECKING:
    from queuetop.engine.events.demo import write_demo_events
    from queuetop.engine.events.parse import Event, FileStats
    from queuetop.engine.events.sessions import Session, Thread
    from queuetop.engine.handlers.circuits import Circuit
    from queuetop.engine.services.actions import ActionResult
    from queuetop.engine.services.runner import Runner, install_signal_handlers
    from queuetop.engine.services.handler_threads import HANDLER_THREAD_PREFIX

JOB_SQL = jobs.SQL
log = logging.getLogger("queuetop.engine")

# submit_many writes this many jobs per transaction: one commit (one fsync)
# per batch instead of per job, and short enough not to stall claims.
SUBMIT_BATCH = 2000
# The header's "recent" alerts: raised within this many seconds.
RECENT_ALERTS = 3600.0
# What a submit_many item may say: the intent and Queue.submit's keywords.
SUBMIT_KEYS = frozenset({"intent", "chunks", "date_range", "chunk_days", "params", "dedupe_key", "max_retries",
                         "priority", "timeout", "on_finalize", "max_chunks", "queue"})


async def _record_job_outcome(conn: Any, job: dict[str, Any], now: float) -> None:
    """The scheduler's job-ended hook (see :func:`queuetop.engine.services.scheduler.record_job_outcome`),
    imported the first time a job ends: a call that ends none never loads the scheduler."""
    global _job_outcome_hook
    if job.get("schedule_id") is None:  # no schedule made it: no run to record (most ended jobs)
        return
    if _job_outcome_hook is None:  # an import statement per ended job cost 3 % of a small job's drain
        from queuetop.engine.services.scheduler import record_job_outcome

        _job_outcome_hook = record_job_outcome
    await _job_outcome_hook(conn, job, now)


_job_outcome_hook: Any = None


class Queue(Engine):
    """One queuetop database and the engine state around it: the public API.

    Everything the CLI, the TUI and embedding code do goes through here. The
    engine state itself (store, clock, settings, registry, change bus, log
    buffer) is the :class:`~queuetop.engine.services.engine.Engine` this
    extends; services take that, never a Queue.
    """

    def __init__(self, db: Backend, config: Config | None = None, *, clock: Clock | None = None,
                 registry: Registry | None = None) -> None:
        super().__init__(db, config, clock=clock, registry=registry, job_ended_hooks=(_record_job_outcome,))
        # One reading of [events.thresholds] for everything that classifies
        # sessions through this queue: the CLI, the TUI and embedding code
        # agree on which sessions are ACTIVE.
        self.thresholds = SessionThresholds.from_config(self.config.events.get("thresholds"))

    @classmethod
    async def open(cls, path: str | os.PathLike[str], config: Config | None = None, *,
                   clock: Clock | None = None, registry: Registry | None = None,
                   create: bool = True, writes: bool = False) -> "Queue":
        """Open the database at ``path`` (a file, or a postgresql:// URL).

        ``create=False`` (read-only commands) refuses a SQLite file that does
        not exist yet, instead of creating it and its folders; ``writes=True``
        refuses a SQLite file this process may not write (:class:`DatabaseError`).
        """
        db = await open_store(path, create=create, writes=writes)
        try:
            return cls(db, config, clock=clock, registry=registry)
        except BaseException:
            # A bad handler target must not leave the connections (and their
            # non-daemon threads) open: the process would never exit.
            await db.close()
            raise

    async def __aenter__(self) -> "Queue":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run_maintenance(self, name: str) -> str:
        """Run one built-in maintenance task by name; the tasks are imported when the first one runs."""
        if not self.maintenance_tasks:
            from queuetop.engine.services.maintenance import TASKS

            self.maintenance_tasks.update(TASKS)
        return await super().run_maintenance(name)

    # -- producing --------------------------------------------------------------

    async def submit(
        self,
        intent: str,
        *,
        chunks: Sequence[Mapping[str, Any]] | None = None,
        date_range: str | None = None,
        chunk_days: int | None = None,
        params: Mapping[str, Any] | None = None,
        dedupe_key: str | None = None,
        max_retries: int | None = None,
        priority: int = 0,
        timeout: float | None = None,
        on_finalize: str | None = None,
        max_chunks: int = jobs.MAX_CHUNKS,
        queue: str | None = None,
    ) -> SubmitResult:
        """Make one job and all its chunks, in one transaction.

        Chunks come from ``date_range`` ("2024-01-01..2025-12-31") split every
        ``chunk_days`` days, or from ``chunks`` (a list of params objects), or
        the job has one chunk with empty params. More than ``max_chunks``
        chunks is refused as a likely mistake. ``queue`` None: routed by ``[queues]`` intents, else ``default``.
        """
        sub = self._submission(intent, chunks=chunks, date_range=date_range, chunk_days=chunk_days, params=params,
                               dedupe_key=dedupe_key, max_retries=max_retries, priority=priority, timeout=timeout,
                               on_finalize=on_finalize, max_chunks=max_chunks, queue=queue)
        job_id, created = await jobs.submit(self.db, self.clock, sub)
        if created:
            self.changes.publish(Change.of(JOBS, CHUNKS, job_ids=[job_id], source="submit"))
        return SubmitResult(job_id, created)

    async def submit_many(self, items: Iterable[Mapping[str, Any]], *, batch_size: int = SUBMIT_BATCH,
                          on_batch: Callable[[list[SubmitResult]], None] | None = None) -> list[SubmitResult]:
        """Make many jobs: each item is ``{"intent": ..., **any keyword of submit}``.

        Every item is checked before anything commits; a bad one raises :class:`UsageError` naming its position
        (``item 7: ...``) and nothing is stored (see :mod:`~queuetop.engine.services.bulk`). Jobs are then written
        ``batch_size`` to a transaction, in order; a dedupe key matches an unfinished job from earlier in the call
        as it matches one already stored. Workers are woken once per batch. Returns one :class:`SubmitResult` per
        item, in order; ``on_batch`` gets each batch's once it commits (an interrupted caller knows what was written).
        """
        route, retries, timeout = self.queue_routes.route, self.settings.max_retries, self.settings.chunk_timeout

        def row_of(number: int, item: Any) -> dict[str, Any]:
            if type(item) is dict and (row := jobs.quick_row(item, route, retries, timeout)) is not None:
                return row  # a plain item, checked and encoded at once (None: the full path says why)
            if type(item) is not dict and not isinstance(item, Mapping):  # the ABC check is slow
                raise UsageError(f"item {number}: expected an object with an intent, got {type(item).__name__}")
            if unknown := (() if SUBMIT_KEYS.issuperset(item) else set(item) - SUBMIT_KEYS):
                raise UsageError(f"item {number}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                                 f"known: {', '.join(sorted(SUBMIT_KEYS))}")
            if "intent" not in item:
                raise UsageError(f"item {number}: an intent is required")
            try:
                sub = self._submission(**item)
                jobs.check_submission(sub)
                return jobs.encode(sub)
            except (UsageError, TypeError) as exc:
                raise UsageError(f"item {number}: {exc}") from None
        results: list[SubmitResult] = []

        def committed(made: list[tuple[int, bool]]) -> None:
            batch = [SubmitResult(job_id, created) for job_id, created in made]
            results.extend(batch)
            if on_batch is not None:
                on_batch(batch)

        await bulk.submit_rows(self.db, self.clock, items, row_of, batch_size, committed)
        created_ids = [r.job_id for r in results if r.created]
        if created_ids:
            self.changes.publish(Change.of(JOBS, CHUNKS, job_ids=created_ids, source="submit"))
        return results

    def _submission(self, intent: str, **options: Any) -> Submission:
        """What :meth:`submit` and :meth:`submit_many` write: chunks made, defaults filled in."""
        return jobs.submission(intent, route=self.queue_routes.route, default_retries=self.settings.max_retries,
                               default_timeout=self.settings.chunk_timeout, **options)

    # -- reading ------------------------------------------------------------------

    async def jobs(self, *, status: str | None = None, search: str | None = None,
                   limit: int = 50, offset: int = 0) -> list[Job]:
        """A page of jobs, newest first, each with its log count."""
        rows = await self.db.fetchall(JOB_SQL["list_jobs"], {"status": status, "search": search or None,
                                                             "limit": limit, "offset": offset})
        return [Job.from_row(row) for row in rows]

    async def count_jobs(self, *, status: str | None = None, search: str | None = None) -> int:
        return await self.db.scalar(JOB_SQL["count_jobs"], {"status": status, "search": search or None})

    async def find_jobs(self, query: JobQuery | str = "", *, sort: JobSort | str = DEFAULT_SORT,
                        limit: int = 50, offset: int = 0, count: bool = True) -> FoundJobs:
        """A page of the jobs ``query`` matches (see :mod:`queuetop.engine.model.query`), sorted.

        ``query`` and ``sort`` may be text (``"state:failed err:timeout"``, ``"updated:desc"``); text
        that does not parse raises :class:`~queuetop.engine.model.query.QueryError`. The match count
        comes from the state counters when the query names nothing but states, else from one count
        query that stops at 10,000 (``exact`` is then False, as when a lone common word was looked up
        through its index's newest 10,000 matches, or a short word among recent jobs only: see
        :mod:`queuetop.engine.store.find`). ``count=False`` leaves out a count that takes a query of
        its own (``counted`` False, ``matched`` the rows to the page's end): see :meth:`count_found`.
        """
        query = parse(query) if isinstance(query, str) else query
        sort = parse_sort(sort) if isinstance(sort, str) else sort
        if not (0 < limit <= 10_000) or offset < 0:
            raise UsageError("limit is 1 to 10000 and offset at least 0")
        by_state = (await self.state_counts()).get("jobs", {})
        rows, matched, exact, counted = await find.search(self.db, query, sort, by_state, now=self.clock.now(),
                                                          limit=limit, offset=offset, count=count)
        return FoundJobs([Job.from_row(r) for r in rows], matched, sum(by_state.values()), query, sort, exact, counted)

    async def count_found(self, found: FoundJobs) -> FoundJobs:
        """``found`` with the match count :meth:`find_jobs` left out (``count=False``) made now."""
        return found if found.counted else await find.count(self.db, found, await self.state_counts(),
                                                            now=self.clock.now())

    async def job(self, job_id: int) -> Job:
        row = await self.db.fetchone(JOB_SQL["get_job"], {"job_id": job_id})
        if row is None:
            raise NotFound(f"no job {job_id}")
        return Job.from_row(row)

    async def chunks(self, job_id: int, *, limit: int = 1000, offset: int = 0) -> list[Chunk]:
        """A page of a job's chunks, in chunk order."""
        await self.job(job_id)
        rows = await self.db.fetchall(JOB_SQL["list_chunks"], {"job_id": job_id, "limit": limit, "offset": offset})
        return [Chunk.from_row(row) for row in rows]

    async def chunk(self, job_id: int, chunk_index: int) -> Chunk:
        row = await self.db.fetchone(JOB_SQL["get_chunk"], {"job_id": job_id, "chunk_index": chunk_index})
        if row is None:
            raise NotFound(f"job {job_id} has no chunk {chunk_index}")
        return Chunk.from_row(row)

    async def attempts(self, job_id: int, chunk_index: int | None = None) -> list[Attempt]:
        """Every failed attempt of a job's chunks (or of one chunk), oldest first."""
        if chunk_index is None:
            rows = await self.db.fetchall(JOB_SQL["attempts_of_job"], {"job_id": job_id})
        else:
            chunk = await self.chunk(job_id, chunk_index)
            rows = await self.db.fetchall(JOB_SQL["attempts_of_chunk"], {"chunk_id": chunk.id})
        # In the order they were made. The index reads them by attempt number, and an
        # operator's retry starts a chunk's attempts at 1 again, so its new runs would
        # sort among the old ones; rows already in order cost a linear pass here.
        rows = sorted(rows, key=lambda row: (row["chunk_index"], row["id"]))
        return [Attempt.from_row(row) for row in rows]

    async def attempt_counts(self, job_ids: Sequence[int]) -> dict[int, int]:
        """Failed attempts per job for ``job_ids``, in one query (jobs without any are left out)."""
        if not job_ids:
            return {}
        rows = await self.db.fetchall(JOB_SQL["attempt_counts"], {"job_ids": json.dumps(sorted(set(job_ids)))})
        return {row["job_id"]: row["n"] for row in rows}

    async def job_logs(self, job_id: int, *, limit: int = 200, after_id: int = 0) -> list[LogLine]:
        """The newest ``limit`` log lines of a job (after ``after_id``), oldest first."""
        rows = await self.db.fetchall(JOB_SQL["job_logs"], {"job_id": job_id, "limit": limit, "after_id": after_id})
        return [LogLine(**dict(row)) for row in reversed(rows)]

    async def workers(self, *, include_offline: bool = True, limit: int = 200, offset: int = 0) -> list[WorkerInfo]:
        rows = await self.db.fetchall(WORKER_SQL["list_workers"], {"include_offline": include_offline,
                                                                   "limit": limit, "offset": offset})
        return [WorkerInfo.from_row(row) for row in rows]

    async def totals(self) -> Totals:
        """Counts for the dashboard header, from the counters kept with the rows: no table is counted."""
        from queuetop.engine.services import actions
        from queuetop.engine.services import alert_rules as alerts

        counts = await self.state_counts()
        job_counts = {state: n for state, n in counts["jobs"].items() if n}
        chunk = counts["chunks"]
        workers = await self.worker_counts()
        engines, here, oldest = await self.engines_online()
        return Totals(
            jobs=job_counts, chunks_total=sum(chunk.values()), chunks_processing=chunk.get("processing", 0),
            chunks_pending=chunk.get("pending", 0), chunks_completed=chunk.get("completed", 0),
            chunks_failed=chunk.get("failed", 0), chunks_cancelled=chunk.get("cancelled", 0), workers=workers,
            paused=await actions.is_paused(self.db), engines=engines, engines_here=here,
            fresh_until=None if oldest is None else oldest + self.stale_display_after, **dict(zip(
                ("alerts_undelivered", "alerts_recent"), await alerts.counts(self.db, self.clock.now() - RECENT_ALERTS))),
        )

    async def engines_online(self) -> tuple[int, int, float | None]:
        """Engine processes whose workers heartbeat (fresh within three beats), how many are this one,
        and the oldest fresh heartbeat (None when none is fresh)."""
        row = await self.db.fetchone(WORKER_SQL["engines_online"], {
            "cutoff": self.clock.now() - self.stale_display_after,
            "host": socket.gethostname(), "pid": os.getpid()})
        return int(row["engines"]), int(row["here"]), None if row["oldest"] is None else float(row["oldest"])

    async def held_chunks(self, worker_id: str) -> list[Chunk]:
        """The chunks ``worker_id`` holds now (processing), oldest claim first."""
        rows = await self.db.fetchall(WORKER_SQL["held_chunks"], {"worker_id": worker_id})
        return [Chunk.from_row(row) for row in rows]

    async def worker_errors(self, worker_id: str, *, limit: int = 20) -> list[tuple[int, Attempt]]:
        """The newest failed attempts ``worker_id`` ran, newest first, each with its job id."""
        rows = await self.db.fetchall(WORKER_SQL["worker_errors"], {"worker_id": worker_id, "limit": limit})
        return [(row["job_id"], Attempt.from_row(row)) for row in rows]

    async def alerts(self, *, status: AlertState | str | None = None, limit: int = 50) -> list[Alert]:
        """Alerts, newest first, with every delivery attempt; webhook URLs come redacted."""
        from queuetop.engine.services import alert_rules as alerts

        if status is not None:
            try:
                status = AlertState(status)
            except ValueError:
                raise UsageError(f"unknown alert status {status!r} "
                                 f"(known: {', '.join(s.value for s in AlertState)})") from None
        return await alerts.list_alerts(self.db, status=None if status is None else status.value, limit=limit)

    async def alert(self, alert_id: int) -> Alert:
        """One alert with every delivery attempt (webhook redacted); :class:`NotFound` if there is none."""
        from queuetop.engine.services import alert_rules as alerts

        found = await alerts.get_alert(self.db, alert_id)
        if found is None:
            raise NotFound(f"no alert {alert_id}")
        return found

    async def unrunnable_intents(self) -> dict[str, int]:
        """Intents with unfinished work that no online worker can run: intent -> jobs waiting.

        A chunk of such an intent stays pending, its attempts untouched,
        until a process with its handler comes online.
        """
        rows = await self.db.fetchall(WORKER_SQL["unrunnable_intents"],
                                      {"cutoff": self.clock.now() - self.stale_display_after})
        return {row["intent"]: row["jobs"] for row in rows}

    async def workers_elsewhere(self) -> int:
        """Online workers with fresh heartbeats in other processes (e.g. a headless engine)."""
        return await self.db.scalar(WORKER_SQL["online_elsewhere"], {
            "cutoff": self.clock.now() - self.stale_display_after,
            "host": socket.gethostname(), "pid": os.getpid()})

    async def circuits(self) -> list[Circuit]:
        """HTTP circuit breakers by host, open ones first (hosts that never failed have none)."""
        from queuetop.engine.handlers.circuits import list_circuits
        return await list_circuits(self.db)

    async def is_paused(self) -> bool:
        from queuetop.engine.services import actions
        return await actions.is_paused(self.db)

    async def data_version(self) -> int:
        """Changes whenever another connection commits: poll it to notice other processes."""
        return await self.db.data_version()

    # -- operator actions -----------------------------------------------------------

    async def refusal(self, action: str, job_id: int, chunk_index: int | None = None) -> str | None:
        """Why ``action`` (``retry``, ``cancel``, ``finalize``) would be refused now, or ``None``: ask before confirming."""
        from queuetop.engine.services import actions
        return await actions.refusal(self.db, action, job_id, chunk_index)

    async def retry(self, job_id: int, chunk_index: int | None = None) -> ActionResult:
        """Failed and cancelled chunks of a job (or one chunk) back to pending, attempts reset."""
        from queuetop.engine.services import actions
        return self._publish(await actions.retry(self.db, self.clock, job_id, chunk_index), "retry")

    async def cancel(self, job_id: int, chunk_index: int | None = None) -> ActionResult:
        from queuetop.engine.services import actions
        return self._publish(await actions.cancel(self.db, self.clock, job_id, chunk_index,
                                                 on_job_ended=self.job_ended_hooks), "cancel")

    async def finalize(self, job_id: int) -> ActionResult:
        from queuetop.engine.services import actions
        return self._publish(await actions.finalize(self.db, self.clock, job_id,
                                                   on_job_ended=self.job_ended_hooks), "finalize")

    async def pause(self, by: str | None = None, *, queue: str | None = None, new: bool = False) -> ActionResult:
        """No new claims in the database, or in ``queue`` alone (an unknown one only with ``new``)."""
        from queuetop.engine.services import actions, queues
        if queue is not None or new:
            return self._publish(await queues.set_paused(self.db, self.clock, queue, True, by, config=self.config,
                                                         new=new), "queues")
        return self._publish(await actions.set_paused(self.db, self.clock, True, by), "pause")

    async def resume(self, *, queue: str | None = None) -> ActionResult:
        """Claims again, in the whole database or (``queue``, a known one) in that queue."""
        from queuetop.engine.services import actions, queues
        if queue is not None:
            return self._publish(await queues.set_paused(self.db, self.clock, queue, False, config=self.config), "queues")
        return self._publish(await actions.set_paused(self.db, self.clock, False), "resume")

    async def queues(self) -> list[QueueInfo]:
        """Every queue: pending and running chunks, jobs ended in the last hour, limits, rate, pause, next start."""
        from queuetop.engine.services import queues
        return await queues.list_queues(self.db, self.clock.now())

    def _publish(self, result: ActionResult, source: str) -> ActionResult:
        job_ids = [] if result.job_id is None else [result.job_id]
        self.changes.publish(Change.of(JOBS, CHUNKS, QUEUE, job_ids=job_ids, source=source))
        return result

    # -- schedules ------------------------------------------------------------------

    async def schedules(self) -> list[Schedule]:
        from queuetop.engine.services import scheduler as periodic
        return await periodic.list_schedules(self.db)

    async def schedule(self, name: str) -> Schedule:
        """One schedule by name (:class:`NotFound` when there is none)."""
        from queuetop.engine.services import scheduler as periodic
        return await periodic.get(self.db, name)

    async def schedule_runs(self, name: str, limit: int = 20) -> list[ScheduleRun]:
        from queuetop.engine.services import scheduler as periodic
        return await periodic.list_runs(self.db, name, limit)

    async def add_schedule(self, name: str, cron: str, intent: str, params: Mapping[str, Any] | None = None,
                           *, active: bool = True, replace: bool = True, tz: str = "UTC",
                           catch_up: str = "none", max_catch_up: int = 10, queue: str | None = None) -> Schedule:
        """Add a user schedule that submits a job each time it fires.

        ``cron`` is read in the IANA zone ``tz``; ``catch_up`` (``none``,
        ``once``, ``all``) says what happens to due times that passed while
        nothing ran them. With ``replace=False`` an existing schedule of that
        name is an error instead of being overwritten; ``queue`` None is routed when it fires.
        """
        from queuetop.engine.services import scheduler as periodic

        periodic.check_schedule(name, cron, intent, tz, catch_up, max_catch_up)
        if not replace and any(s.name == name for s in await periodic.list_schedules(self.db)):
            raise UsageError(f"schedule {name!r} already exists; use --replace to overwrite it")
        schedule = await periodic.upsert(self.db, self.clock, periodic.ScheduleSpec(
            name=name, cron=cron, intent=intent, params=dict(params or {}), active=active, tz=tz,
            catch_up=catch_up, max_catch_up=max_catch_up, queue=queue))
        self.changes.publish(Change.of(SCHEDULES, source="schedule"))
        return schedule

    async def schedule_next(self, name: str, count: int = 5, after: float | None = None) -> list[float]:
        """The next ``count`` times (epoch seconds) schedule ``name`` fires after ``after`` (default: now)."""
        from queuetop.engine.services import scheduler as periodic

        if not 1 <= count <= 1000:
            raise UsageError(f"count must be between 1 and 1000, got {count}")
        schedule = await periodic.get(self.db, name)
        return periodic.next_runs(schedule.cron, self.clock.now() if after is None else after, count, schedule.tz)

    async def set_schedule_active(self, name: str, active: bool) -> Schedule:
        from queuetop.engine.services import scheduler as periodic

        schedule = await periodic.set_active(self.db, self.clock, name, active)
        self.changes.publish(Change.of(SCHEDULES, source="schedule"))
        return schedule

    async def remove_schedule(self, name: str) -> None:
        from queuetop.engine.services import scheduler as periodic

        await periodic.remove(self.db, name)
        self.changes.publish(Change.of(SCHEDULES, source="schedule"))

    async def run_schedule_now(self, name: str) -> ScheduleRun:
        """Fire a schedule once now, whatever its cron says."""
        from queuetop.engine.services import scheduler as periodic

        run = await periodic.run_now(self, name)
        self.changes.publish(Change.of(SCHEDULES, JOBS, LOGS, source="schedule"))
        return run

    # -- events and work sessions -----------------------------------------------------

    async def sessions(self, *, status: SessionState | str | None = None, search: str | None = None,
                       category: str | None = None, limit: int = 50, offset: int = 0) -> list[Session]:
        """A page of work sessions, most recent last event first, classified by this queue's thresholds."""
        from queuetop.engine.events import sessions
        return await sessions.list_sessions(self.db, self.clock, status, search, limit, offset,
                                            category=category, thresholds=self.thresholds)

    async def count_sessions(self, *, status: SessionState | str | None = None, search: str | None = None,
                             category: str | None = None) -> int:
        """How many sessions :meth:`sessions` pages through."""
        from queuetop.engine.events import sessions
        return await sessions.count_sessions(self.db, self.clock, status, search, category=category,
                                             thresholds=self.thresholds)

    async def session_counts(self) -> dict[SessionState, int]:
        """Sessions per status now, in one query."""
        from queuetop.engine.events import sessions
        return await sessions.counts_by_status(self.db, self.clock, thresholds=self.thresholds)

    async def session(self, session_id: str) -> Session:
        """One session with its threads; :class:`NotFound` if there is none."""
        from queuetop.engine.events import sessions
        return await sessions.get_session(self.db, self.clock, session_id, thresholds=self.thresholds)

    async def session_events(self, session_id: str, *, limit: int = 200, before_id: int | None = None) -> list[Event]:
        """A session's events, newest first."""
        from queuetop.engine.events import sessions
        return await sessions.session_events(self.db, session_id, limit, before_id)

    async def set_session_category(self, session_id: str, category: str | None, *, who: str) -> Session:
        """Set (``None``: clear) an operator's category for a session."""
        from queuetop.engine.events import sessions

        session = await sessions.override_category(self.db, self.clock, session_id, category, who)
        self.changes.publish(Change.of(SESSIONS, source="category"))
        return session

    async def events_since(self, after_id: int, *, limit: int = 500, session_id: str | None = None) -> list[Event]:
        """Stored events with an id above ``after_id``, oldest first."""
        from queuetop.engine.events import parse as events
        return await events.events_since(self.db, after_id, limit, session_id)

    async def latest_event_id(self) -> int:
        """The newest stored event's id (0 for none): where a live follow starts."""
        from queuetop.engine.events import parse as events
        return await events.latest_event_id(self.db)

    async def count_events(self) -> int:
        from queuetop.engine.events import parse as events
        return await events.count_events(self.db)

    async def event_files(self) -> list[FileStats]:
        """Every event file the tailer has seen, with its read state and bad lines."""
        from queuetop.engine.events import parse as events
        return await events.file_stats(self.db)


# What the CLI, the TUI and embedding code use, importable from this one module.
__all__ = [
    "HANDLER_THREAD_PREFIX", "Alert", "AlertDelivery", "AlertKind", "AlertState", "Attempt", "Chunk", "Config", "ConfigError", "Event", "FileStats", "Job", "LogLine",
    "NotFound", "Queue", "QueueInfo", "QueuetopError", "Runner", "Schedule", "ScheduleRun", "Session", "SessionState", "SessionThresholds", "Submission",
    "SubmitResult", "Thread", "UsageError", "Totals", "WorkerInfo", "display_db", "install_signal_handlers", "is_postgres_url", "load_config", "resolve_db", "write_demo_events",
]

# Names re-exported from modules that only some callers need, by the module
# that defines each: they are imported on first use.
_LAZY = {
    "Event": "queuetop.engine.events.parse",
    "FileStats": "queuetop.engine.events.parse",
    "Session": "queuetop.engine.events.sessions",
    "Thread": "queuetop.engine.events.sessions",
    "write_demo_events": "queuetop.engine.events.demo",
    "Circuit": "queuetop.engine.handlers.circuits",
    "ActionResult": "queuetop.engine.services.actions",
    "Runner": "queuetop.engine.services.runner",
    "install_signal_handlers": "queuetop.engine.services.runner",
    "HANDLER_THREAD_PREFIX": "queuetop.engine.services.handler_threads",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
