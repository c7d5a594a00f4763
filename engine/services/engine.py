"""The engine every service runs against: a store and what surrounds it.

An :class:`Engine` holds one open store, the clock, the settings, the handler
registry, the change bus and the log buffer. Workers, the scheduler,
maintenance and the runner take an Engine, never the public
:class:`~queuetop.engine.api.Queue` (which is an Engine plus the API), so no
service imports the layer above it.

Two things services must not import from each other are handed in instead:
``job_ended_hooks`` (run inside the transaction that ends a job: the
scheduler records a scheduled run's outcome) and ``maintenance_tasks`` (what
a maintenance schedule runs when it fires). ``schedule_missed_hooks`` run
inside the transaction that finds a schedule's missed due times, with a
:class:`~queuetop.engine.model.records.MissedRuns`: where ``schedule.missed``
is reported (an alert outbox writes its row there).

The engine's :class:`~queuetop.engine.services.alert_rules.Alerts` (the
``[[alerts]]`` rules) adds its own hooks: one more job-ended hook, and the
entries of ``schedule_missed_hooks`` and ``circuit_opened_hooks``, which the
scheduler and the http handler's breakers call inside the transactions that
find a missed run or open a circuit. ``metrics``, when set (``--metrics-port``),
is told about every settle.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from queuetop.engine.config import Config
from queuetop.engine.handlers.registry import Problem, Registry, add_search_path
from queuetop.engine.model.changes import CHUNKS, JOBS, ChangeBus, Change
from queuetop.engine.model.clock import Clock, SystemClock
from queuetop.engine.model.queues import QueueRoutes
from queuetop.engine.services.alert_rules import Alerts, CircuitOpenedHook, ScheduleMissedHook
from queuetop.engine.services.logbuffer import LogBuffer
from queuetop.engine.services.retry import RetryPolicy
from queuetop.engine.store import find, queries
from queuetop.engine.store.protocol import Backend

if TYPE_CHECKING:  # claims are imported by what settles, not by every process that opens a store
    from queuetop.engine.services.claims import JobEndedHook, NextClaim, Outcome, Settled

log = logging.getLogger("queuetop.engine")
# The workers' queries, without importing the worker.
WORKER_SQL = queries.load("workers")

# A settle that completes this many one-chunk jobs logs them as one line.
ENDED_LOG_SUMMARY = 10

#: A built-in maintenance task: runs against the engine, returns a one-line summary.
MaintenanceTask = Callable[["Engine"], Awaitable[str]]


class Engine:
    """One open store and the engine state around it (see the module docstring)."""

    def __init__(self, db: Backend, config: Config | None = None, *, clock: Clock | None = None,
                 registry: Registry | None = None, job_ended_hooks: Sequence[JobEndedHook] = (),
                 maintenance_tasks: Mapping[str, MaintenanceTask] | None = None,
                 schedule_missed_hooks: Sequence[ScheduleMissedHook] = ()) -> None:
        self.db = db
        self.config = config or Config()
        self.settings = self.config.engine
        self.clock = clock or SystemClock()
        self.handler_problems: list[Problem] = []  # configured targets this process cannot find
        if registry is None:
            # Handler modules live beside queuetop.toml (and in handler_path),
            # not only on the interpreter's path: a console script does not
            # put the working directory there.
            folders = [str(self.config.path.resolve().parent)] if self.config.path else [os.getcwd()]
            folders += self.settings.handler_path
            add_search_path(folders)
            registry = Registry(self.config.handlers)
            self.handler_problems = registry.check(folders)
        self.registry = registry
        self.retry_policy = RetryPolicy(self.settings.retry_base, self.settings.retry_cap)
        # which queue a job goes to when its submitter names none ([queues.NAME] intents)
        self.queue_routes = QueueRoutes(self.config.queues or ())
        self.changes = ChangeBus()
        self.process_id = f"{socket.gethostname()}-{os.getpid()}"
        self.alert_rules = Alerts(self.config.alerts, self.changes)
        # The alert hook is left out when no rule is configured: ending a job then costs nothing more.
        self.job_ended_hooks: tuple[JobEndedHook, ...] = (
            (*job_ended_hooks, self.alert_rules.job_ended) if self.config.alerts else tuple(job_ended_hooks))
        self.schedule_missed_hooks: list[ScheduleMissedHook] = [*schedule_missed_hooks,
                                                                self.alert_rules.schedule_missed]
        self.circuit_opened_hooks: list[CircuitOpenedHook] = [self.alert_rules.circuit_opened]
        self.metrics: Any = None  # a services.metrics.Metrics while /metrics is served
        self.maintenance_tasks: dict[str, MaintenanceTask] = dict(maintenance_tasks or {})
        # Other processes that make chunks claimable wake this one's workers
        # (PostgreSQL LISTEN/NOTIFY; SQLite workers poll instead).
        db.on_notify(lambda: self.changes.publish(Change.of(JOBS, CHUNKS, source="notify")))
        self.logs = LogBuffer(db, self.clock, interval=self.settings.log_flush_interval,
                              max_entries=self.settings.log_flush_entries,
                              max_chars=self.settings.max_log_chars)
        self._close_hooks: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Have :meth:`close` await ``hook`` first (e.g. the http handler's shared client)."""
        self._close_hooks.append(hook)

    async def close(self) -> None:
        for hook in self._close_hooks:
            try:
                await hook()
            except Exception:  # one failing hook must not keep the database open
                log.exception("close hook failed")
        await self.logs.flush()
        await self.db.close()

    async def settle(self, outcomes: Sequence[Outcome], starts: Mapping[int, float] | None = None,
                     then_claim: NextClaim | None = None, *, one_trip: bool = False) -> Settled:
        """End attempts (see :func:`queuetop.engine.services.claims.settle`) and tell subscribers.

        ``starts``: jobs a worker claimed without starting them (job id -> claim time);
        ``then_claim``: a worker's claim to make in the same transaction; ``one_trip``:
        write it with its commit where nothing can follow it."""
        seen = await self.metrics.before_settle(self.db, outcomes) if self.metrics is not None else None
        from queuetop.engine.services import claims

        settled = await claims.settle(self.db, outcomes, self.clock.now(), on_job_ended=self.job_ended_hooks,
                                      starts=starts, then_claim=then_claim, one_trip=one_trip)
        if self.metrics is not None:
            self.metrics.settled(outcomes, settled, seen, self.clock.now())
        job_ids = {job_id for _, job_id, _ in settled.applied} | set(starts or ())
        if job_ids:
            self.changes.publish(Change.of(JOBS, CHUNKS, job_ids=job_ids, source="settle"))
        self._log_ended(settled.finalized)
        for job in settled.finalized:
            if job.get("follow_up_job_id"):
                self.changes.publish(Change.of(JOBS, job_ids=[job["follow_up_job_id"]], source="submit"))
        return settled

    @staticmethod
    def _log_ended(finalized: Sequence[dict[str, Any]]) -> None:
        """A line per ended job; jobs that simply completed, many at once, share one line.

        A queue of small jobs ends thousands a second: a line each would be
        most of the engine's work and bury the few that did not complete.
        """
        quiet = [job for job in finalized if job["status"] == "completed" and job["chunks_total"] == 1]
        if len(quiet) < ENDED_LOG_SUMMARY:
            quiet = []
        quiet_ids = {job["id"] for job in quiet}
        for job in finalized:
            if job["id"] not in quiet_ids:
                log.info("job %d ended %s (%d/%d completed, %d failed, %d cancelled)", job["id"],
                         job["status"], job["chunks_completed"], job["chunks_total"], job["chunks_failed"],
                         job["chunks_cancelled"])
        if quiet:
            log.info("%d one-chunk jobs completed (ids %d to %d)", len(quiet),
                     min(job["id"] for job in quiet), max(job["id"] for job in quiet))

    @property
    def stale_display_after(self) -> float:
        """A worker whose heartbeat is this late is shown as stale (three missed beats)."""
        return min(self.settings.stale_after, 3 * self.settings.heartbeat_interval)

    async def state_counts(self) -> dict[str, dict[str, int]]:
        """Jobs and chunks by state (``{"jobs": {...}, "chunks": {...}}``), from the counters
        the schema's triggers keep: no table is counted."""
        counts: dict[str, dict[str, int]] = {"jobs": {}, "chunks": {}}
        for row in await self.db.fetchall(find.totals_query()):
            counts.setdefault(row["kind"], {})[row["state"]] = int(row["n"])
        return counts

    async def worker_counts(self) -> dict[str, int]:
        """Workers by status; online ones whose heartbeat is late count as ``stale`` instead."""
        workers = {row["status"]: row["n"] for row in await self.db.fetchall(WORKER_SQL["worker_counts"])}
        stale = await self.db.scalar(WORKER_SQL["stale_online_count"],
                                     {"cutoff": self.clock.now() - self.stale_display_after})
        workers["stale"] = stale
        workers["online"] = workers.get("online", 0) - stale
        return workers

    async def run_maintenance(self, name: str) -> str:
        """Run one built-in maintenance task by name; unknown names are refused."""
        task = self.maintenance_tasks.get(name)
        if task is None:
            raise KeyError(f"no maintenance task {name!r}")
        return await task(self)
