"""Jobs and chunks: splitting work into chunks, submitting (the records are in model.records).

One request of work makes exactly one job, however many chunks it has, in
one transaction that returns at once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from queuetop.engine.handlers.registry import is_intent_key
from queuetop.engine.store import queries
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.records import Attempt, Chunk, Job, Submission

__all__ = ["Attempt", "Chunk", "Job", "Submission", "date_chunks", "insert_job", "parse_range", "submit"]

SQL = queries.load("jobs")


def parse_range(text: str) -> tuple[dt.date, dt.date]:
    """``2024-01-01..2025-12-31`` as two dates (both ends inclusive)."""
    start, sep, end = text.partition("..")
    if not sep:
        raise UsageError(f"malformed range {text!r}: expected START..END, e.g. 2024-01-01..2024-12-31")
    try:
        first, last = dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip())
    except ValueError:
        raise UsageError(f"malformed range {text!r}: dates must be YYYY-MM-DD") from None
    if last < first:
        raise UsageError(f"malformed range {text!r}: the end is before the start")
    return first, last


# A job this large is almost always a typo in a range or a chunk size.
MAX_CHUNKS = 1_000_000


def date_chunks(first: dt.date, last: dt.date, days: int, *, max_chunks: int = MAX_CHUNKS) -> list[dict[str, str]]:
    """Split ``first..last`` (inclusive) into consecutive ranges of ``days`` days.

    Refuses more than ``max_chunks`` chunks before building any of them.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise UsageError(f"chunk days must be an integer ≥ 1, got {days!r}")
    span = (last - first).days + 1
    count = -(-span // days)
    if count > max_chunks:
        raise UsageError(f"{first}..{last} in {days}-day chunks makes {count:,} chunks, over the limit of "
                         f"{max_chunks:,}; raise it with --max-chunks N if you mean it")
    chunks = []
    start = first
    while start <= last:
        # Compare in days, not dates: start + days can pass 9999-12-31.
        end = last if (last - start).days < days else start + dt.timedelta(days=days - 1)
        chunks.append({"start": start.isoformat(), "end": end.isoformat()})
        if end == last:
            break
        start = end + dt.timedelta(days=1)
    return chunks


# Bounds that keep every stored number finite and inside a 64-bit integer.
MAX_RETRIES = 1000
MAX_TIMEOUT = 366 * 86400.0  # a year: longer is a mistake, and nan/inf are never stored
MAX_PRIORITY = 1_000_000_000


def check_value(name: str, value: object, *, integer: bool = False, low: float, high: float,
                strict_low: bool = False) -> None:
    """Refuse a value that is not a finite number (an integer where asked) in [low, high]."""
    number: float | None = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        number = float(value) if abs(value) < 2 ** 62 else math.inf  # beyond every bound anyway
    elif isinstance(value, float) and not integer:
        number = value
    ok = (number is not None and math.isfinite(number)
          and (number > low if strict_low else number >= low) and number <= high)
    if not ok:
        kind = "an integer" if integer else "a number"
        lower = f"> {low:g}" if strict_low else f"≥ {low:g}"
        raise UsageError(f"{name} must be {kind} {lower} and ≤ {high:g}, got {value!r}")


def check_submission(sub: Submission) -> None:
    """Refuse a submission that could never run, before touching the database."""
    if not sub.intent or not isinstance(sub.intent, str):
        raise UsageError("an intent key is required")
    for what, key in (("intent", sub.intent), ("on-finalize intent", sub.on_finalize)):
        if key is not None and (not isinstance(key, str) or not is_intent_key(key)):
            raise UsageError(f"{what} {key!r} is not a valid intent key (letters, digits, '_', '.', '-')")
    if not sub.chunks:
        raise UsageError("a job needs at least one chunk")
    for index, chunk in enumerate(sub.chunks):
        if not isinstance(chunk, Mapping):
            raise UsageError(f"chunk {index} must be a JSON object, got {type(chunk).__name__}")
    if sub.params is not None and not isinstance(sub.params, Mapping):
        raise UsageError("job params must be a JSON object")
    check_value("max retries", sub.max_retries, integer=True, low=0, high=MAX_RETRIES)
    check_value("timeout", sub.timeout, low=0, high=MAX_TIMEOUT, strict_low=True)
    check_value("priority", sub.priority, integer=True, low=-MAX_PRIORITY, high=MAX_PRIORITY)
    if sub.dedupe_key is not None and (not isinstance(sub.dedupe_key, str) or not sub.dedupe_key):
        raise UsageError("a dedupe key must be a non-empty string")


async def insert_job(conn: Any, sub: Submission, now: float) -> tuple[int, bool]:
    """Insert ``sub`` inside an open transaction: (job id, created?).

    With a dedupe key that names an unfinished job, that job's id comes back
    and nothing is inserted. The caller holds the write lock (BEGIN
    IMMEDIATE), so two submits of one key cannot both miss each other.
    """
    if sub.dedupe_key is not None:
        async with conn.execute(SQL["find_unfinished_by_dedupe_key"], {"dedupe_key": sub.dedupe_key}) as cur:
            row = await cur.fetchone()
        if row is not None:
            return row[0], False
    async with conn.execute(
        SQL["insert_job"],
        {
            "intent": sub.intent,
            "params": json.dumps(dict(sub.params or {})),
            "priority": sub.priority,
            "max_retries": sub.max_retries,
            "timeout": sub.timeout,
            "dedupe_key": sub.dedupe_key,
            "on_finalize": sub.on_finalize,
            "parent_job_id": sub.parent_job_id,
            "schedule_id": sub.schedule_id,
            "chunks_total": len(sub.chunks),
            "now": now,
        },
    ) as cur:
        row = await cur.fetchone()
    if row is None:  # a concurrent submit of the same dedupe key won
        async with conn.execute(SQL["find_unfinished_by_dedupe_key"], {"dedupe_key": sub.dedupe_key}) as cur:
            return (await cur.fetchone())[0], False
    job_id = row[0]
    await conn.execute(
        SQL["insert_chunks"],
        {"job_id": job_id, "chunks": json.dumps([dict(c) for c in sub.chunks]),
         "priority": sub.priority, "now": now},
    )
    return job_id, True


async def submit(db: Database, clock: Clock, sub: Submission) -> tuple[int, bool]:
    """Make one job and all its chunks in one transaction: (job id, created?)."""
    check_submission(sub)
    async with db.transaction(wake=True) as conn:
        return await insert_job(conn, sub, clock.now())


async def submit_batch(db: Database, clock: Clock, subs: Sequence[Submission]) -> list[tuple[int, bool]]:
    """Make many jobs in one transaction: (job id, created?) for each, in order.

    Each is checked first (see :func:`check_submission`). A dedupe key that
    an earlier job of the same batch took returns that job, as one stored
    before does: the transaction sees its own inserts.
    """
    for sub in subs:
        check_submission(sub)
    now = clock.now()
    async with db.transaction(wake=True) as conn:
        return [await insert_job(conn, sub, now) for sub in subs]
