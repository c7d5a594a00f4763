"""Built-in maintenance, each run by its schedule in exactly one process.

- ``mark-stale-workers-offline``: a worker silent longer than ``stale_after``
  is marked offline and its chunks are rescued, in one transaction.
- ``reset-stuck-tasks``: a chunk processing longer than its job's timeout is
  failed as a transient error (retried with back-off while retries remain).
- ``cleanup-old-task-logs``: logs older than ``log_retention_days``, in batches
  of ``[retention] batch_size`` lines, each its own transaction.
- ``cleanup-old-events``: stored events past the events retention.
- ``cleanup-old-jobs``: ``[retention]``: ended jobs with their chunks,
  attempts and logs, events, schedule runs and alerts older than their
  ``*_days``, in batches of ``batch_size`` rows, each batch its own short
  transaction (claims wait for one batch at most, never for the whole
  clean-up). Active jobs are never deleted; a setting left out keeps that
  history forever.

Rescues go through :func:`queuetop.engine.services.claims.settle_in` with the lease
token read in the same transaction, so a worker that comes back late can
never overwrite what the rescue decided.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from queuetop.engine.store import queries
from queuetop.engine.model.changes import CHUNKS, JOBS, WORKERS, Change
from queuetop.engine.services.claims import Claim, failure, settle_in

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

SQL = queries.load("maintenance")


def _claim(row: sqlite3.Row) -> Claim:
    return Claim(row["id"], row["job_id"], row["chunk_index"], json.loads(row["params"]), row["attempt"],
                 row["lease_token"], row["claimed_at"])


async def mark_stale_workers_offline(queue: "Engine") -> str:
    now = queue.clock.now()
    async with queue.db.transaction(wake=True) as conn:
        async with conn.execute(SQL["mark_stale_offline"],
                                {"now": now, "cutoff": now - queue.settings.stale_after}) as cur:
            stale_rows = [(row[0], row[1]) for row in await cur.fetchall()]
        if not stale_rows:
            return "no stale workers"
        stale = [worker_id for worker_id, _ in stale_rows]
        async with conn.execute(SQL["held_by_workers"], {"worker_ids": json.dumps(stale)}) as cur:
            held = await cur.fetchall()
        outcomes = [
            failure(_claim(row), row["worker_id"], f"worker {row['worker_id']} went silent; chunk rescued",
                    permanent=False, max_retries=row["max_retries"], now=now, kind="lost", retry_at=now)
            for row in held
        ]
        settled = await settle_in(conn, outcomes, now, on_job_ended=queue.job_ended_hooks)
        for worker_id, host in stale_rows:  # in the rescue's transaction: the alert is never lost
            rescued = sum(1 for row in held if row["worker_id"] == worker_id)
            await queue.alert_rules.worker_stale(conn, worker_id, host, rescued, now)
    queue.changes.publish(Change.of(WORKERS, JOBS, CHUNKS, job_ids={row["job_id"] for row in held},
                                    source="rescue"))
    return f"{len(stale)} worker(s) marked offline ({', '.join(stale)}); {len(settled.applied)} chunk(s) rescued"


async def reset_stuck_tasks(queue: "Engine") -> str:
    now = queue.clock.now()
    async with queue.db.transaction(wake=True) as conn:
        async with conn.execute(SQL["stuck_chunks"], {"now": now}) as cur:
            stuck = await cur.fetchall()
        if not stuck:
            return "no stuck chunks"
        outcomes = [
            failure(_claim(row), row["worker_id"], f"processing longer than the {row['timeout']:g}s timeout",
                    permanent=False, max_retries=row["max_retries"], now=now, kind="timed_out",
                    policy=queue.retry_policy)
            for row in stuck
        ]
        settled = await settle_in(conn, outcomes, now, on_job_ended=queue.job_ended_hooks)
    queue.changes.publish(Change.of(JOBS, CHUNKS, job_ids={row["job_id"] for row in stuck}, source="rescue"))
    return f"{len(settled.applied)} stuck chunk(s) failed as transient"


async def cleanup_old_task_logs(queue: "Engine") -> str:
    # In batches like the other clean-ups: one DELETE of a month of logs would
    # hold SQLite's write lock, and so every claim and settle, for its whole run.
    cutoff = queue.clock.now() - queue.settings.log_retention_days * 86400
    deleted = await _batches(queue, "delete_old_task_logs", {"cutoff": cutoff}, queue.config.retention.batch_size)
    return f"{deleted} log line(s) deleted"


async def cleanup_old_events(queue: "Engine") -> str:
    from queuetop.engine.events import parse as events  # the tailer's store; only needed when this runs

    retention = queue.config.retention
    days = retention.events_days if retention.events_days is not None else EVENTS_DAYS
    deleted = await events.delete_old_events(queue.db, queue.clock, days, batch=retention.batch_size)
    return f"{deleted} event(s) deleted"


#: Events are kept this many days unless ``[retention] events_days`` says otherwise.
EVENTS_DAYS = 90.0


async def _batches(queue: "Engine", name: str, params: dict[str, object], batch: int) -> int:
    """Run the delete ``name`` until it takes fewer than ``batch`` rows, one transaction each."""
    total = 0
    while True:
        async with queue.db.transaction() as conn:
            deleted = (await conn.execute(SQL[name], {**params, "batch": batch})).rowcount
        total += deleted
        if deleted < batch:
            return total


async def cleanup_old_jobs(queue: "Engine") -> str:
    """Apply ``[retention]`` (see the module docstring); returns what went."""
    retention = queue.config.retention
    batch = retention.batch_size
    now = queue.clock.now()
    said = []
    if retention.jobs_days is not None:
        cutoff = now - retention.jobs_days * 86400
        counts = dict.fromkeys(("job", "chunk", "attempt", "log line"), 0)
        while True:
            rows = await queue.db.fetchall(SQL["old_ended_jobs"], {"cutoff": cutoff, "batch": batch})
            if not rows:
                break
            ids = {"job_ids": json.dumps([row[0] for row in rows]), "cutoff": cutoff}
            counts["log line"] += await _batches(queue, "delete_job_logs", ids, batch)
            counts["attempt"] += await _batches(queue, "delete_job_attempts", ids, batch)
            counts["chunk"] += await _batches(queue, "delete_job_chunks", ids, batch)
            async with queue.db.transaction() as conn:
                deleted = (await conn.execute(SQL["delete_jobs"], ids)).rowcount
            counts["job"] += deleted
            if deleted == 0:
                break  # what is left was retried meanwhile: next time
        said.append(", ".join(f"{n} {what}(s)" for what, n in counts.items()))
        if counts["job"]:
            queue.changes.publish(Change.of(JOBS, CHUNKS, source="retention"))
    if retention.events_days is not None:
        from queuetop.engine.events import parse as events

        deleted = await events.delete_old_events(queue.db, queue.clock, retention.events_days, batch=batch)
        said.append(f"{deleted} event(s)")
    if retention.schedule_runs_days is not None:
        cutoff = now - retention.schedule_runs_days * 86400
        said.append(f"{await _batches(queue, 'delete_old_schedule_runs', {'cutoff': cutoff}, batch)} schedule run(s)")
    if retention.alerts_days is not None:
        cutoff = now - retention.alerts_days * 86400
        said.append(f"{await _batches(queue, 'delete_old_alerts', {'cutoff': cutoff}, batch)} alert(s)")
    return ("deleted " + "; ".join(said)) if said else "no [retention] settings: nothing deleted"


TASKS: dict[str, Callable[["Engine"], Awaitable[str]]] = {
    "mark-stale-workers-offline": mark_stale_workers_offline,
    "reset-stuck-tasks": reset_stuck_tasks,
    "cleanup-old-task-logs": cleanup_old_task_logs,
    "cleanup-old-events": cleanup_old_events,
    "cleanup-old-jobs": cleanup_old_jobs,
}


async def run_task(queue: "Engine", name: str) -> str:
    """Run one built-in task by name; unknown names are refused."""
    task = TASKS.get(name)
    if task is None:
        raise KeyError(f"no maintenance task {name!r}")
    return await task(queue)
