"""Built-in maintenance, each run by its schedule in exactly one process.

- ``mark-stale-workers-offline``: a worker silent longer than ``stale_after``
  is marked offline and its chunks are rescued, in one transaction.
- ``reset-stuck-tasks``: a chunk processing longer than its job's timeout is
  failed as a transient error (retried with back-off while retries remain).
- ``cleanup-old-task-logs``: logs older than ``log_retention_days``.
- ``cleanup-old-events``: stored events past the events retention.

Rescues go through :func:`queuetop.engine.services.claims.settle_in` with the lease
token read in the same transaction, so a worker that comes back late can
never overwrite what the rescue decided.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from queuetop.engine.services import logbuffer
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
    cutoff = queue.clock.now() - queue.settings.log_retention_days * 86400
    async with queue.db.transaction() as conn:
        cur = await conn.execute(logbuffer.SQL["delete_older_than"], {"cutoff": cutoff})
        deleted = cur.rowcount
    return f"{deleted} log line(s) deleted"


async def cleanup_old_events(queue: "Engine") -> str:
    from queuetop.engine.events import parse as events  # the tailer's store; only needed when this runs

    days = float(queue.config.events.get("retention_days", 90))
    deleted = await events.delete_old_events(queue.db, queue.clock, days)
    return f"{deleted} event(s) deleted"


TASKS: dict[str, Callable[["Engine"], Awaitable[str]]] = {
    "mark-stale-workers-offline": mark_stale_workers_offline,
    "reset-stuck-tasks": reset_stuck_tasks,
    "cleanup-old-task-logs": cleanup_old_task_logs,
    "cleanup-old-events": cleanup_old_events,
}


async def run_task(queue: "Engine", name: str) -> str:
    """Run one built-in task by name; unknown names are refused."""
    task = TASKS.get(name)
    if task is None:
        raise KeyError(f"no maintenance task {name!r}")
    return await task(queue)
