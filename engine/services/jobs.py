"""Jobs and chunks: splitting work into chunks, submitting (the records are in model.records).

One request of work makes exactly one job, however many chunks it has, in
one transaction that returns at once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from queuetop.engine.handlers.registry import is_intent_key
from queuetop.engine.store import queries
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.queues import DEFAULT_QUEUE, queue_name_problem
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


# Intent keys and queue names already found well-formed: a bulk submit names a few, many times over.
_GOOD_KEYS: set[str] = set()
_GOOD_QUEUES: set[str] = set()


def submission(intent: str, *, route: Callable[[str], str], default_retries: int, default_timeout: float,
               chunks: Sequence[Mapping[str, Any]] | None = None, date_range: str | None = None,
               chunk_days: int | None = None, queue: str | None = None, params: Mapping[str, Any] | None = None,
               dedupe_key: str | None = None, max_retries: int | None = None, priority: int = 0,
               timeout: float | None = None, on_finalize: str | None = None,
               max_chunks: int = MAX_CHUNKS) -> Submission:
    """A job to write, from :meth:`Queue.submit`'s keywords: its chunks made (a date range's days, or one
    empty chunk), the queue ``route`` gives its intent and the engine's defaults filled in. Checked by
    :func:`check_submission`, not here."""
    if date_range is not None and chunks is not None:
        raise UsageError("give either a date range or a list of chunks, not both")
    if date_range is not None:
        if not isinstance(date_range, str):
            raise UsageError(f"a date range is a string like 2024-01-01..2024-12-31, got {date_range!r}")
        chunks = date_chunks(*parse_range(date_range), 1 if chunk_days is None else chunk_days,
                             max_chunks=max_chunks)
    elif chunk_days is not None:
        raise UsageError("chunk_days (--chunk-days) needs a date_range (--range)")
    if chunks is not None and (isinstance(chunks, (str, bytes)) or not isinstance(chunks, Sequence)):
        raise UsageError(f"chunks must be a list of objects, got {type(chunks).__name__}")
    if chunks is not None and len(chunks) > max_chunks:
        raise UsageError(f"{len(chunks):,} chunks is over the limit of {max_chunks:,}; "
                         "raise it with max_chunks (--max-chunks N) if you mean it")
    return Submission(
        intent=intent, chunks=chunks if chunks is not None else ({},), params=params,
        priority=priority, dedupe_key=dedupe_key, on_finalize=on_finalize,
        queue=route(intent) if queue is None else queue,
        max_retries=default_retries if max_retries is None else max_retries,
        timeout=default_timeout if timeout is None else timeout,
    )


def check_submission(sub: Submission) -> None:
    """Refuse a submission that could never run, before touching the database."""
    if not sub.intent or not isinstance(sub.intent, str):
        raise UsageError("an intent key is required")
    for what, key in (("intent", sub.intent), ("on-finalize intent", sub.on_finalize)):
        if key is None or (type(key) is str and key in _GOOD_KEYS):
            continue
        if not isinstance(key, str) or not is_intent_key(key):
            raise UsageError(f"{what} {key!r} is not a valid intent key (letters, digits, '_', '.', '-')")
        if len(_GOOD_KEYS) < 10_000:
            _GOOD_KEYS.add(key)
    if not sub.chunks:
        raise UsageError("a job needs at least one chunk")
    for index, chunk in enumerate(sub.chunks):
        # `type(...) is dict` first: the ABC check is slow, and most chunks are plain dicts
        if type(chunk) is not dict and not isinstance(chunk, Mapping):
            raise UsageError(f"chunk {index} must be a JSON object, got {type(chunk).__name__}")
    if sub.params is not None and type(sub.params) is not dict and not isinstance(sub.params, Mapping):
        raise UsageError("job params must be a JSON object")
    # plain ints and floats in range pass without a call each (a bulk submit checks thousands); bool is
    # not int to `type(...) is`, and NaN and the infinities fail a comparison: check_value refuses them
    retries, timeout, priority = sub.max_retries, sub.timeout, sub.priority
    if not (type(retries) is int and 0 <= retries <= MAX_RETRIES):
        check_value("max retries", retries, integer=True, low=0, high=MAX_RETRIES)
    if not ((type(timeout) is float or type(timeout) is int) and 0 < timeout <= MAX_TIMEOUT):
        check_value("timeout", timeout, low=0, high=MAX_TIMEOUT, strict_low=True)
    if not (type(priority) is int and -MAX_PRIORITY <= priority <= MAX_PRIORITY):
        check_value("priority", priority, integer=True, low=-MAX_PRIORITY, high=MAX_PRIORITY)
    if sub.dedupe_key is not None and (not isinstance(sub.dedupe_key, str) or not sub.dedupe_key):
        raise UsageError("a dedupe key must be a non-empty string")
    if sub.queue != DEFAULT_QUEUE and (type(sub.queue) is not str or sub.queue not in _GOOD_QUEUES):
        if queue_name_problem(sub.queue):
            raise UsageError(str(queue_name_problem(sub.queue)))
        if type(sub.queue) is str and len(_GOOD_QUEUES) < 10_000:
            _GOOD_QUEUES.add(sub.queue)


# One encoder for every job: json.dumps builds a new one per call when given options.
_JSON = json.JSONEncoder(allow_nan=False)
# Chunk params as SQLite's json() would store them: no spaces.
_CHUNK_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
# The params and chunk list of a job submitted with neither, already encoded.
_NO_PARAMS, _ONE_EMPTY_CHUNK = "{}", ("{}",)
_EMPTY_CHUNK_COPY = "0\t{}"  # that one chunk's index and params in COPY's text


def encode(sub: Submission) -> dict[str, Any]:
    """``sub`` as one row of :func:`insert_jobs`, its params and chunks as JSON text.

    Done before any transaction opens, so params JSON cannot hold (an
    object, NaN) are refused with nothing written.
    """
    try:
        params = _JSON.encode(dict(sub.params)) if sub.params else _NO_PARAMS
        only = sub.chunks[0] if len(sub.chunks) == 1 else None
        # each chunk's params as its own JSON text: they go in as one flat list
        chunks = (_ONE_EMPTY_CHUNK if only is not None and not only
                  else tuple(_CHUNK_JSON.encode(dict(c)) for c in sub.chunks))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"params must be JSON: {exc}") from None
    return {
        "intent": sub.intent,
        "params": params,
        "priority": sub.priority,
        "max_retries": sub.max_retries,
        "timeout": sub.timeout,
        "dedupe_key": sub.dedupe_key,
        "on_finalize": sub.on_finalize,
        "parent_job_id": sub.parent_job_id,
        "schedule_id": sub.schedule_id,
        "chunks_total": len(sub.chunks),
        "queue": sub.queue,
        "chunks": chunks,
    }


# What an item may hold and still take quick_row: Queue.submit's keywords but the date range's and max_chunks.
QUICK_KEYS = frozenset({"intent", "chunks", "params", "dedupe_key", "max_retries", "priority", "timeout",
                        "on_finalize", "queue"})
# quick_row's COPY text of a job's settings (priority, retries, timeout, on-finalize intent, chunk count,
# queue): the parts after its params, after each chunk's params and of one empty chunk
_SHARED_COPY: dict[tuple[Any, ...], tuple[str, str, tuple[str]]] = {}


def quick_row(item: dict[str, Any], route: Callable[[str], str], max_retries: int,
              timeout: float) -> dict[str, Any] | None:
    """The row that :func:`check_submission` and :func:`encode` make of a bulk submit's ``item`` (a plain
    dict) when they accept it, or None: then the item takes that full path, which says what is wrong.

    Most items of a bulk submit are plain: a dict of plain values (exactly str, int, float, dict, list),
    naming an intent and a queue already found well-formed. Such an item is checked and encoded here in
    one step, without building a Submission for it (that cost more than its share of the whole insert);
    anything else, or anything in doubt, is None, so that every error is made, and worded, in one place.
    ``route`` gives the queue of an item that names none; ``max_retries`` and ``timeout`` are the
    defaults. The row also holds its COPY text (see :func:`copied_jobs`), built here where every field
    is known to need no escaping but the params.
    """
    if not QUICK_KEYS.issuperset(item):
        return None
    get = item.get
    intent, on_finalize, key = get("intent"), get("on_finalize"), get("dedupe_key")
    if type(intent) is not str or intent not in _GOOD_KEYS:
        return None
    if on_finalize is not None and (type(on_finalize) is not str or on_finalize not in _GOOD_KEYS):
        return None
    if key is not None and (type(key) is not str or not key):
        return None
    priority, retries, seconds, queue = get("priority", 0), get("max_retries"), get("timeout"), get("queue")
    retries = max_retries if retries is None else retries
    seconds = timeout if seconds is None else seconds
    queue = route(intent) if queue is None else queue
    if not (type(priority) is int and -MAX_PRIORITY <= priority <= MAX_PRIORITY
            and type(retries) is int and 0 <= retries <= MAX_RETRIES
            and (type(seconds) is float or type(seconds) is int) and 0 < seconds <= MAX_TIMEOUT
            and type(queue) is str and (queue == DEFAULT_QUEUE or queue in _GOOD_QUEUES)):
        return None
    params, chunks = get("params"), get("chunks")
    try:
        if params is None or type(params) is dict:
            params = _JSON.encode(params) if params else _NO_PARAMS
        else:
            return None
        if chunks is None:
            chunks = _ONE_EMPTY_CHUNK
        elif type(chunks) is list and 0 < len(chunks) <= MAX_CHUNKS and all(type(c) is dict for c in chunks):
            chunks = (_ONE_EMPTY_CHUNK if len(chunks) == 1 and not chunks[0]
                      else tuple(_CHUNK_JSON.encode(c) for c in chunks))
        else:
            return None
    except (TypeError, ValueError):
        return None  # the full path says why
    # the COPY text of what a bulk submit's items mostly share: made once for each such combination
    shared = (priority, retries, seconds, on_finalize, len(chunks), queue)
    made = _SHARED_COPY.get(shared)
    if made is None:  # (a timeout of 1 and one of 1.0 share one: both are written 1.0)
        tail = _chunk_settings_copy(priority, queue)
        made = (_job_settings_copy(priority, retries, seconds, on_finalize, None, None, len(chunks), queue),
                tail, (_EMPTY_CHUNK_COPY + tail,))
        if len(_SHARED_COPY) < 10_000:
            _SHARED_COPY[shared] = made
    return {
        "intent": intent, "params": params, "priority": priority, "max_retries": retries, "timeout": seconds,
        "dedupe_key": key, "on_finalize": on_finalize, "parent_job_id": None, "schedule_id": None,
        "chunks_total": len(chunks), "queue": queue, "chunks": chunks,
        "copy": f"{intent}\t{_copy_text(params)}{made[0]}",
        "chunk_copy": made[2] if chunks is _ONE_EMPTY_CHUNK
        else tuple(f"{index}\t{_copy_text(text)}{made[1]}" for index, text in enumerate(chunks)),
    }


# The order of a job's fields in insert_jobs' JSON rows (arrays, not objects:
# no key repeated for every job).
JOB_FIELDS = ("id", "intent", "params", "priority", "max_retries", "timeout", "dedupe_key",
              "on_finalize", "parent_job_id", "schedule_id", "chunks_total", "queue")


def _copy_text(value: str) -> str:
    """``value`` as a field of COPY's text format: a backslash, tab or line break escaped (JSON text
    holds no raw tab or line break, and the other fields are checked names: most need nothing)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_null(value: Any) -> str:
    return "\\N" if value is None else _copy_text(value) if isinstance(value, str) else str(value)


def _job_settings_copy(priority: int, retries: int, timeout: float, on_finalize: str | None,
                       parent_job_id: int | None, schedule_id: int | None, chunks_total: int, queue: str) -> str:
    """copy_jobs' text of a job's fields after its params, in the statement's column order: each
    preceded by a tab, the last followed by one. Numbers are written as plain ints and floats: a
    checked value may be a subclass (an IntEnum) that would print otherwise."""
    return (f"\t{int(priority)}\t{int(retries)}\t{float(timeout)!r}\t{_copy_null(on_finalize)}\t"
            f"{_copy_null(parent_job_id)}\t{_copy_null(schedule_id)}\t{int(chunks_total)}\t{_copy_text(queue)}\t")


def _chunk_settings_copy(priority: int, queue: str) -> str:
    """copy_chunks' text of a chunk's fields after its params (its job's priority and queue), as above."""
    return f"\t{int(priority)}\t{_copy_text(queue)}\t"


def job_copy(row: dict[str, Any]) -> str:
    """A job's fields in copy_jobs' text, from its intent to its queue, each followed by a tab (what
    :func:`quick_row` stores as a row's ``copy``)."""
    return f"{_copy_text(row['intent'])}\t{_copy_text(row['params'])}" + _job_settings_copy(
        row["priority"], row["max_retries"], row["timeout"], row["on_finalize"], row["parent_job_id"],
        row["schedule_id"], row["chunks_total"], row["queue"])


def chunk_copy(row: dict[str, Any]) -> tuple[str, ...]:
    """Each chunk's fields in copy_chunks' text but its job and time, each followed by a tab (what
    :func:`quick_row` stores as a row's ``chunk_copy``)."""
    tail = _chunk_settings_copy(row["priority"], row["queue"])
    return tuple(f"{index}\t{_copy_text(text)}{tail}" for index, text in enumerate(row["chunks"]))


def copied_jobs(rows: Sequence[dict[str, Any]], now: float) -> str:
    """copy_jobs' text: each job's id, fields (its ``copy``, or :func:`job_copy`), time and a random nonce
    (16 bytes as hex, as insert_jobs makes it), in one string (a binary COPY row by row cost the client more)."""
    # one random string cut into nonces in C: a slice per job cost a tenth of a bulk submit's client time
    nonces = os.urandom(16 * len(rows)).hex(" ", 16).split(" ") if rows else []
    at = repr(float(now))
    return "".join(f"{row['id']}\t{row.get('copy') or job_copy(row)}{at}\t{nonce}\n"
                   for row, nonce in zip(rows, nonces))


def copied_chunks(rows: Sequence[dict[str, Any]], now: float) -> str:
    """copy_chunks' text: every chunk of ``rows`` (jobs just made), as copied_jobs."""
    at = repr(float(now))
    return "".join(f"{row['id']}\t{part}{at}\n" for row in rows for part in row.get("chunk_copy") or chunk_copy(row))


async def insert_job(conn: Any, sub: Submission, now: float) -> tuple[int, bool]:
    """Insert ``sub`` inside an open transaction: (job id, created?) (see :func:`insert_jobs`)."""
    return (await insert_jobs(conn, [encode(sub)], now))[0]


async def insert_jobs(conn: Any, rows: Sequence[dict[str, Any]], now: float, *,
                      reserved: bool = False) -> list[tuple[int, bool]]:
    """Insert many encoded jobs (see :func:`encode`) and all their chunks: (job id, created?) for each, in order.

    A constant number of statements however many jobs: look up the dedupe
    keys already taken, reserve ids, insert the jobs, insert every chunk.
    A dedupe key that names an unfinished job, stored before or earlier in
    ``rows``, returns that job's id and inserts nothing. On SQLite the
    caller holds the write lock (BEGIN IMMEDIATE), so two submits of one key
    cannot both miss each other; on PostgreSQL the unique index decides and
    the loser reads the winner's id. ``reserved``: the caller has reserved
    every row's id already (rows without dedupe keys only).
    """
    keys = sorted({row["dedupe_key"] for row in rows if row["dedupe_key"] is not None})
    copy = getattr(conn, "copy_rows", None)
    if not keys and copy is not None and rows:
        # no dedupe key: nothing can conflict, every job is made and streamed (the sorting out below cost a
        # tenth of a bulk submit's client time)
        if not reserved:
            await _reserve(conn, rows)
        await copy(SQL["copy_jobs"], copied_jobs(rows, now))
        await copy(SQL["copy_chunks"], copied_chunks(rows, now))
        return [(row["id"], True) for row in rows]
    results: list[tuple[int, bool] | None] = [None] * len(rows)
    taken: dict[str, int] = {}
    if keys:
        found = await conn.execute_fetchall(SQL["unfinished_by_dedupe_keys"], {"keys": json.dumps(keys)})
        taken = {key: job_id for job_id, key in found}
    fresh: list[int] = []  # positions in rows of the jobs to insert
    first_of: dict[str, int] = {}  # dedupe key -> position of the row that will insert it
    for position, row in enumerate(rows):
        key = row["dedupe_key"]
        if key is not None and key in taken:
            results[position] = (taken[key], False)
        elif key is not None and key in first_of:
            continue  # an earlier row of this call takes the key: filled in below
        else:
            if key is not None:
                first_of[key] = position
            fresh.append(position)
    if fresh:
        if not reserved:
            await _reserve(conn, [rows[position] for position in fresh])
        # PostgreSQL in a bulk transaction streams what cannot conflict (jobs
        # without a dedupe key, every chunk) with COPY; the rest is inserted.
        keyed = fresh if copy is None else [p for p in fresh if rows[p]["dedupe_key"] is not None]
        inserted: set[int] = set()
        if copy is not None and len(keyed) < len(fresh):
            plain = [rows[p] for p in fresh if rows[p]["dedupe_key"] is None]
            inserted.update(row["id"] for row in plain)
            await copy(SQL["copy_jobs"], copied_jobs(plain, now))
        if keyed:
            batch = [[rows[p][key] for key in JOB_FIELDS] for p in keyed]
            written = await conn.execute_fetchall(SQL["insert_jobs"], {"jobs": json.dumps(batch), "now": now})
            inserted.update(row[0] for row in written)
        lost = [rows[p]["dedupe_key"] for p in keyed if rows[p]["id"] not in inserted]
        if lost:  # PostgreSQL only: a concurrent submit took these keys first
            found = await conn.execute_fetchall(SQL["unfinished_by_dedupe_keys"], {"keys": json.dumps(sorted(lost))})
            taken.update({key: job_id for job_id, key in found})
        made = []
        for position in fresh:
            row = rows[position]
            if row["id"] in inserted:
                results[position] = (row["id"], True)
                made.append(row)
            else:
                results[position] = (taken[row["dedupe_key"]], False)
        if made and copy is not None:
            await copy(SQL["copy_chunks"], copied_chunks(made, now))
        elif made:
            chunks: list[list[Any]] = []
            for row in made:
                if row["queue"] == DEFAULT_QUEUE:  # the column's default: not repeated per chunk
                    chunks.extend([row["id"], index, text, row["priority"]]
                                  for index, text in enumerate(row["chunks"]))
                else:
                    chunks.extend([row["id"], index, text, row["priority"], row["queue"]]
                                  for index, text in enumerate(row["chunks"]))
            await conn.execute(SQL["insert_chunks"], {"chunks": json.dumps(chunks), "now": now})
    for position, row in enumerate(rows):
        if results[position] is None:  # a repeat of a key an earlier row took
            winner = results[first_of[row["dedupe_key"]]]
            assert winner is not None
            results[position] = (winner[0], False)
    return [result for result in results if result is not None]


async def _reserve(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Give each of ``rows`` a new job id, in order."""
    ids = await conn.execute_fetchall(SQL["reserve_job_ids"], {"n": len(rows)})
    for row, found in zip(rows, ids):
        row["id"] = found[0]


async def submit(db: Database, clock: Clock, sub: Submission) -> tuple[int, bool]:
    """Make one job and all its chunks in one transaction: (job id, created?)."""
    check_submission(sub)
    async with db.transaction(wake=True) as conn:
        return await insert_job(conn, sub, clock.now())


async def submit_batch(db: Database, clock: Clock, subs: Sequence[Submission]) -> list[tuple[int, bool]]:
    """Make many jobs in one transaction: (job id, created?) for each, in order.

    Each is checked and encoded first (see :func:`check_submission`); a
    dedupe key that an earlier job of the same batch took returns that job,
    as one stored before does.
    """
    rows = []
    for sub in subs:
        check_submission(sub)
        rows.append(encode(sub))
    return await insert_batch(db, clock, rows)


async def insert_batch(db: Database, clock: Clock, rows: Sequence[dict[str, Any]], *,
                       reserved: bool = False, after: Awaitable[Any] | None = None) -> list[tuple[int, bool]]:
    """Insert already-encoded jobs (see :func:`encode`) in one transaction that wakes workers.

    ``after``: awaited before the commit, so that this batch commits after
    it; if it fails, this batch rolls back. ``reserved`` as for :func:`insert_jobs`.
    """
    async with db.transaction(wake=True, bulk=True) as conn:
        made = await insert_jobs(conn, rows, clock.now(), reserved=reserved)
        if after is not None:
            await after
        return made
