"""Operator actions: retry, cancel, finalize, pause, resume, and their refusals known beforehand.

Each is one transaction. Each refuses, with a reason an operator can act on,
when it does not apply (finalize on a finished job, retry with nothing
failed), rather than silently doing nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from queuetop.engine.store import queries
from queuetop.engine.services.claims import JobEndedHook, finalize_ended, job_ended
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.model.exceptions import ActionRefused, NotFound
from queuetop.engine.model.states import JobState

SQL = queries.load("actions")

# Chunk states a retry takes back to pending.
RETRYABLE = frozenset({"failed", "cancelled"})


@dataclass(frozen=True)
class ActionResult:
    """What an action did, in words and numbers."""

    job_id: int | None
    chunks: int
    status: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def _job(conn: Any, job_id: int) -> sqlite3.Row:
    async with conn.execute(SQL["lock_job"], {"job_id": job_id}) as cur:
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return row


async def _check_chunk(conn: Any, job_id: int, chunk_index: int | None) -> str | None:
    if chunk_index is None:
        return None
    async with conn.execute(SQL["chunk_status"], {"job_id": job_id, "chunk_index": chunk_index}) as cur:
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"job {job_id} has no chunk {chunk_index}")
    return row["status"]


def _retry_refusal(job_id: int, chunk_index: int | None, chunk_status: str | None,
                   counts: dict[str, int]) -> str | None:
    """Why a retry does not apply (``None``: it does), from what it would take back."""
    if chunk_status is not None and chunk_status not in RETRYABLE:
        return f"job {job_id} chunk {chunk_index} is {chunk_status}, not failed or cancelled: nothing to retry"
    if not sum(counts.values()):
        return f"job {job_id} has no failed or cancelled chunks to retry"
    return None


async def retry(db: Database, clock: Clock, job_id: int, chunk_index: int | None = None) -> ActionResult:
    """Failed and cancelled chunks of a job (or one chunk) back to pending, attempts reset.

    The job's counters lose what went back; a finished job is running (or
    pending) again.
    """
    params = {"job_id": job_id, "chunk_index": chunk_index}
    async with db.transaction(wake=True) as conn:
        await _job(conn, job_id)
        status = await _check_chunk(conn, job_id, chunk_index)
        async with conn.execute(SQL["retry_counts"], params) as cur:
            counts = {row["status"]: row["n"] for row in await cur.fetchall()}
        refusal = _retry_refusal(job_id, chunk_index, status, counts)
        if refusal is not None:
            raise ActionRefused(refusal)
        async with conn.execute(SQL["retry_chunks"], {**params, "now": clock.now()}) as cur:
            retried = len(await cur.fetchall())
        try:
            await conn.execute(SQL["reopen_job"], {"job_id": job_id, "failed": counts.get("failed", 0),
                                                   "cancelled": counts.get("cancelled", 0)})
        except db.IntegrityError:
            raise ActionRefused(
                f"job {job_id} cannot reopen: another unfinished job holds its dedupe key") from None
        job = await _job(conn, job_id)
    if chunk_index is not None:
        what = f"chunk {chunk_index}"
    else:
        what = " and ".join(f"{n} {name} chunk(s)" for name, n in sorted(counts.items()) if n)
    return ActionResult(job_id, retried, job["status"], f"job {job_id}: {what} back to pending")


async def refusal(db: Database, action: str, job_id: int, chunk_index: int | None = None) -> str | None:
    """Why ``action`` (retry, cancel, finalize) on a job or chunk would be refused now; ``None`` if it applies.

    Reads only: an operator is told before being asked to confirm. The
    action itself checks again in its own transaction (the queue may move
    in between).
    """
    job = await db.fetchone(SQL["job_status"], {"job_id": job_id})
    if job is None:
        return f"no job {job_id}"
    chunk_status = None
    if chunk_index is not None:
        row = await db.fetchone(SQL["chunk_status"], {"job_id": job_id, "chunk_index": chunk_index})
        if row is None:
            return f"job {job_id} has no chunk {chunk_index}"
        chunk_status = row["status"]
    if action == "retry":
        rows = await db.fetchall(SQL["retry_counts"], {"job_id": job_id, "chunk_index": chunk_index})
        return _retry_refusal(job_id, chunk_index, chunk_status, {row["status"]: row["n"] for row in rows})
    if action in ("cancel", "finalize"):
        if JobState(job["status"]).finished:
            return f"job {job_id} already ended {job['status']}: nothing to {action}"
        if chunk_status is not None and chunk_status not in ("pending", "processing"):
            return f"job {job_id} chunk {chunk_index} already ended {chunk_status}"
        return None
    raise ValueError(f"unknown action {action!r}")


async def cancel(db: Database, clock: Clock, job_id: int, chunk_index: int | None = None, *,
                 on_job_ended: Sequence[JobEndedHook] = ()) -> ActionResult:
    """Cancel a job (or one chunk): pending and processing chunks end cancelled.

    Cancelling a whole job ends it as ``cancelled``; cancelling one chunk
    leaves the job running, and finalizes it if that was its last chunk.
    """
    now = clock.now()
    async with db.transaction() as conn:
        job = await _job(conn, job_id)
        if JobState(job["status"]).finished:
            raise ActionRefused(f"job {job_id} already ended {job['status']}: nothing to cancel")
        status = await _check_chunk(conn, job_id, chunk_index)
        if status is not None and status not in ("pending", "processing"):
            raise ActionRefused(f"job {job_id} chunk {chunk_index} already ended {status}")
        async with conn.execute(SQL["cancel_chunks"], {"job_id": job_id, "chunk_index": chunk_index,
                                                       "now": now}) as cur:
            cancelled = len(await cur.fetchall())
        if chunk_index is None:
            async with conn.execute(SQL["end_job"], {"job_id": job_id, "cancelled": cancelled,
                                                     "status": JobState.CANCELLED.value, "now": now}) as cur:
                row = await cur.fetchone()
            # As when its last chunk is cancelled: the schedule run and the
            # on-finalize intent hear how the job ended.
            await job_ended(conn, dict(row), now, on_job_ended=on_job_ended)
            final = JobState.CANCELLED.value
        else:
            await conn.execute(SQL["count_cancelled"], {"job_id": job_id, "cancelled": cancelled})
            ended = await finalize_ended(conn, [job_id], now, on_job_ended=on_job_ended)
            final = ended[0]["status"] if ended else job["status"]
    what = f"chunk {chunk_index} cancelled" if chunk_index is not None else f"cancelled ({cancelled} chunk(s) stopped)"
    return ActionResult(job_id, cancelled, final, f"job {job_id}: {what}")


async def finalize(db: Database, clock: Clock, job_id: int, *,
                   on_job_ended: Sequence[JobEndedHook] = ()) -> ActionResult:
    """End a job now: unfinished chunks are cancelled, the job gets its final status.

    The status follows the chunks that did end: ``completed`` if all of them
    completed, ``partial`` if some did, ``failed`` if none did but some failed,
    ``cancelled`` if nothing had ended at all. The chunks this finalize
    cancels do not count against the job: that is what sets finalize apart
    from cancel.
    """
    now = clock.now()
    async with db.transaction() as conn:
        job = await _job(conn, job_id)
        if JobState(job["status"]).finished:
            raise ActionRefused(f"job {job_id} already ended {job['status']}: nothing to finalize")
        async with conn.execute(SQL["cancel_chunks"], {"job_id": job_id, "chunk_index": None, "now": now}) as cur:
            cancelled = len(await cur.fetchall())
        await conn.execute(SQL["count_cancelled"], {"job_id": job_id, "cancelled": cancelled})
        ended = await finalize_ended(conn, [job_id], now, cut_short=cancelled, on_job_ended=on_job_ended)
        final = ended[0]["status"]
    return ActionResult(job_id, cancelled, final,
                        f"job {job_id}: finalized {final} ({cancelled} unfinished chunk(s) cancelled)")


async def set_paused(db: Database, clock: Clock, paused: bool, by: str | None = None) -> ActionResult:
    """Pause (no new claims) or resume the queue. Running chunks finish either way."""
    async with db.transaction(wake=not paused) as conn:
        async with conn.execute(SQL["queue_state"]) as cur:
            was = bool((await cur.fetchone())["paused"])
        if was == paused:
            raise ActionRefused(f"the queue is already {'paused' if paused else 'running'}")
        await conn.execute(SQL["set_paused"], {"paused": int(paused), "now": clock.now(), "by": by})
    return ActionResult(None, 0, "paused" if paused else "running",
                        "queue paused: no new claims" if paused else "queue resumed")


async def is_paused(db: Database) -> bool:
    return bool(await db.scalar(SQL["queue_state"]))
