"""Claiming chunks and ending their attempts, fenced by lease tokens.

A claim is one ``BEGIN IMMEDIATE`` transaction. Every end of an attempt
(success, failure, rescue, release) goes through :func:`settle`, which applies
only where the chunk is still held under the same lease token, moves the
job's counters in the same transaction, and finalizes the job when its last
chunk ends.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from queuetop.engine.store import queries
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.store.protocol import Connection
from queuetop.engine.model.records import Submission
from queuetop.engine.services.jobs import encode, insert_jobs
from queuetop.engine.services.retry import RetryPolicy
from queuetop.engine.model.states import ChunkState, JobState, OutcomeKind
from queuetop.engine.model import fastjson as json
from queuetop.engine.model.text import ERROR_LIMIT, RESULT_LIMIT, clean, result_json

SQL = queries.load("claims")
UNFINISHED = frozenset({JobState.PENDING.value, JobState.RUNNING.value})

# Kept on the chunk as its result: enough to see what came back, never a dump.

#: Called inside the transaction that ended a job that did not complete
#: (failed, partial or cancelled), with the job's row as it ended. The
#: scheduler records a scheduled run's failure this way, and the alert rules
#: raise their alerts: each hands its hook in (through the engine) instead of
#: this module importing it, which would make claims and the scheduler import
#: each other. A job that completes needs nothing of them, so that its end
#: can be committed with the statement that makes it (see settle's one_trip).
JobEndedHook = Callable[[Connection, dict[str, Any], float], Awaitable[None]]

#: Statements that depend on each other's rows, run by :func:`run_steps`: a
#: generator that yields ``(sql, params, fetch)``, is sent each statement's
#: rows (``fetch``) or None, and returns its result.
Steps = Generator[tuple[str, Any, bool], Any, Any]


async def run_steps(conn: Any, steps: Steps, *, commit: bool | Callable[[Any], bool] = False) -> Any:
    """Run ``steps`` in ``conn``'s transaction; their result.

    A SQLite connection runs them all on its thread in one trip (its
    ``run_steps``), and with ``commit`` (or where ``commit(result)`` is true)
    commits there after the last one (nothing may run in the transaction
    after them); elsewhere each is awaited in turn and the transaction
    commits as it would.
    """
    on_thread = getattr(conn, "run_steps", None)
    if on_thread is not None:
        return await on_thread(steps, commit=commit)
    try:
        sql, params, fetch = next(steps)
        while True:
            if fetch:
                rows = await conn.execute_fetchall(sql, params)
            else:
                await conn.execute(sql, params)
                rows = None
            sql, params, fetch = steps.send(rows)
    except StopIteration as stop:
        return stop.value


@dataclass(frozen=True)
class Claim:
    """A chunk held by a worker under a lease token."""

    chunk_id: int
    job_id: int
    chunk_index: int
    params: dict[str, Any]
    attempt: int
    lease_token: str
    claimed_at: float


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to know about a claimed chunk's job."""

    id: int
    intent: str
    params: dict[str, Any]
    max_retries: int
    timeout: float


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended, ready for :func:`settle`."""

    chunk_id: int
    lease_token: str
    status: ChunkState
    attempt: int
    worker_id: str | None = None
    started_at: float | None = None
    # 'transient', 'permanent', 'timed_out', 'lost' or 'cancelled'; None on success
    kind: OutcomeKind | None = None
    error: str | None = None
    run_after: float | None = None
    finished_at: float | None = None
    result: str | None = None
    refund: bool = False  # give the attempt back (released at shutdown)


@dataclass(frozen=True)
class NextClaim:
    """A claim to make in a settle's transaction, after the settle (see :func:`settle`)."""

    worker_id: str
    limit: int
    intents: Sequence[str] | None  # as :func:`claim` takes them


@dataclass
class Settled:
    """What a :func:`settle` call changed, and what it claimed when asked to."""

    applied: list[tuple[int, int, str]] = field(default_factory=list)  # chunk, job, status
    finalized: list[dict[str, Any]] = field(default_factory=list)
    fenced_out: int = 0
    claimed: list[Claim] = field(default_factory=list)  # sorted by chunk id
    specs: dict[int, JobSpec] = field(default_factory=dict)  # the jobs of ``claimed``
    # asked for one round trip, written in two: a job it ended needed what follows (see settle)
    refused_one_trip: bool = False


def success(claim: Claim, worker_id: str, result: Any, now: float, *, limit: int = RESULT_LIMIT) -> Outcome:
    """The outcome of an attempt whose handler returned ``result``.

    Raises :class:`~queuetop.engine.model.text.Unstorable` for a result JSON
    cannot represent (see :func:`~queuetop.engine.model.text.result_json`).
    """
    text = None if result is None else result_json(result, limit)
    return Outcome(claim.chunk_id, claim.lease_token, ChunkState.COMPLETED, claim.attempt,
                   worker_id, claim.claimed_at, finished_at=now, result=text)


def failure(
    claim: Claim,
    worker_id: str | None,
    error: str,
    *,
    permanent: bool,
    max_retries: int,
    now: float,
    policy: RetryPolicy = RetryPolicy(),
    kind: OutcomeKind | str | None = None,
    retry_at: float | None = None,
    rng: random.Random | None = None,
    error_limit: int | None = None,
) -> Outcome:
    """The outcome of a failed attempt: back to pending with back-off, or failed.

    ``retry_at`` overrides the back-off (a rescue retries at once; a server's
    Retry-After names its own time).
    """
    kind = OutcomeKind(kind) if kind else (OutcomeKind.PERMANENT if permanent else OutcomeKind.TRANSIENT)
    error = clean(error, ERROR_LIMIT if error_limit is None else error_limit)
    if permanent or RetryPolicy.exhausted(claim.attempt, max_retries):
        return Outcome(claim.chunk_id, claim.lease_token, ChunkState.FAILED, claim.attempt,
                       worker_id, claim.claimed_at, kind, error, finished_at=now)
    when = retry_at if retry_at is not None else now + policy.delay(claim.attempt, rng)
    return Outcome(claim.chunk_id, claim.lease_token, ChunkState.PENDING, claim.attempt,
                   worker_id, claim.claimed_at, kind, error, run_after=when)


def release(claim: Claim, now: float) -> Outcome:
    """Give a chunk back without spending its attempt (graceful shutdown)."""
    return Outcome(claim.chunk_id, claim.lease_token, ChunkState.PENDING, claim.attempt,
                   run_after=now, refund=True)


def _claim_settings(durable: bool) -> list[str]:
    """PostgreSQL's settings for a claim's transaction (see :func:`plan_claim`)."""
    return [SQL["claim_plan"]] if durable else [SQL["claim_plan"], SQL["claim_durability"]]


async def plan_claim(db: Database, conn: Connection, *, durable: bool = False) -> None:
    """Before a claim statement in ``conn``'s transaction: on PostgreSQL, make it walk the claim
    index in order whatever the statistics say (see ``claim_plan`` in postgres/sql/claims.sql),
    and, unless ``durable`` (the transaction also ends attempts), commit without waiting for the
    disk (``claim_durability``). Both settings go with the claim statement, in its round trip.
    SQLite's statements reach no server's planner or commit: it has neither setting."""
    if db.statements_are_trips:
        for setting in _claim_settings(durable):
            await conn.execute(setting)


def defers_job_starts(db: Database) -> bool:
    """Whether a worker on ``db`` leaves its claims' jobs pending for its next settle to start.

    Every write of a job's row costs an index entry per index of the jobs
    (and on PostgreSQL a new row version), so a claim writes only chunks: the
    settle that follows starts the jobs (see ``count_job_chunks``), in one
    write with their end where their chunks have ended by then. A one-chunk
    job that ends before the settle goes from pending to its end in one write.
    """
    return True


async def claim(db: Database, worker_id: str, limit: int, now: float,
                intents: Sequence[str] | None = None, *,
                start: bool = True) -> tuple[list[Claim], dict[int, JobSpec]]:
    """Claim up to ``limit`` due chunks of ``intents`` for ``worker_id`` in one transaction.

    Returns the claims and the specs of their jobs. Nothing is claimed while
    the queue is paused. Chunks of other intents are left pending, their
    attempts untouched, for a process that can run them; ``None`` claims
    every intent (tools and tests that settle by hand). ``start=False``
    (see :func:`defers_job_starts`) leaves the jobs pending: the caller hands
    them to :func:`settle` as ``starts``; on PostgreSQL such a claim is then
    one round trip (``Backend.write_once``).
    """
    if intents is not None and not intents:
        return [], {}
    intent_list = _intent_list(intents)
    if db.statements_are_trips and not start:
        # One statement, whose rows carry its jobs' specs, with nothing to decide before
        # the COMMIT: alone, on a connection that holds the claim's settings (see write_once).
        params = {"worker_id": worker_id, "now": now, "limit": limit, "intents": intent_list}
        rows = await db.write_once([(SQL["claim"], params)], settings=_claim_settings(False))
        return claims_from_rows(rows), job_specs(rows, None)
    async with db.transaction() as conn:
        await plan_claim(db, conn)
        # on SQLite, one trip to the connection's thread: begin, claim, start, commit
        rows, specs = await run_steps(conn, _claim_steps(worker_id, limit, now, intent_list, start), commit=True)
    return claims_from_rows(rows), specs


def claims_from_rows(rows: Sequence[Any]) -> list[Claim]:
    """The claim statement's rows as claims, in chunk id order."""
    # by position, as job_specs reads them: id, job_id, chunk_index, params, attempt,
    # lease_token, claimed_at, and on PostgreSQL the job's columns after them
    claims = [Claim(chunk_id, job_id, index, json.loads(params), attempt, lease_token, claimed_at)
              for chunk_id, job_id, index, params, attempt, lease_token, claimed_at, *_ in rows]
    claims.sort(key=lambda c: c.chunk_id)
    return claims


def job_specs(rows: Sequence[Any], jobs: Sequence[Any] | None) -> dict[int, JobSpec]:
    """The specs of claimed chunks' jobs: from ``jobs`` (rows of ``job_specs``), or else from the
    claim ``rows`` themselves (PostgreSQL's claim returns each chunk with its job's columns)."""
    # Columns by position (the statements list them in this order): a lookup by name, per
    # column of every claimed row, was a tenth of a PostgreSQL worker's event loop.
    if jobs is not None:
        return {job_id: JobSpec(job_id, intent, json.loads(params), max_retries, timeout)
                for job_id, intent, params, max_retries, timeout in jobs}
    specs: dict[int, JobSpec] = {}
    for _, job_id, _, _, _, _, _, intent, params, max_retries, timeout in rows:
        if job_id not in specs:
            specs[job_id] = JobSpec(job_id, intent, json.loads(params), max_retries, timeout)
    return specs


def _claim_steps(worker_id: str, limit: int, now: float, intent_list: str | None, start: bool) -> Steps:
    """The statements of :func:`claim`, as :data:`Steps`; returns the claimed rows and their jobs' specs."""
    rows = yield SQL["claim"], {"worker_id": worker_id, "now": now, "limit": limit, "intents": intent_list}, True
    jobs = None
    if rows and "intent" not in rows[0].keys():  # SQLite's claim returns its chunks alone
        jobs = yield SQL["job_specs"], {"job_ids": json.dumps(sorted({row["job_id"] for row in rows}))}, True
    specs = job_specs(rows, jobs)
    if specs and start:
        yield SQL["start_jobs"], {"job_ids": json.dumps(sorted(specs)), "now": now}, False
    return rows, specs


async def settle(db: Database, outcomes: Sequence[Outcome], now: float, *,
                 on_job_ended: Sequence[JobEndedHook] = (), starts: Mapping[int, float] | None = None,
                 then_claim: NextClaim | None = None, one_trip: bool = False) -> Settled:
    """End attempts in one transaction (see the module docstring).

    ``starts``: job id -> claim time of jobs claimed with ``start=False``;
    each still pending is started in the same statement that moves the
    counters (and ended with it, if its chunks have all ended).

    ``then_claim``: after the settle, in the same transaction, claim as
    :func:`claim` does with ``start=False`` (into ``Settled.claimed`` and
    ``Settled.specs``). A SQLite worker whose chunks end refills its slots
    with the write that ends them: one transaction, one commit and two trips
    to the connection's thread where a settle and a claim apart took three.
    (A PostgreSQL worker claims apart, on a second connection: see
    ``Worker._settle_claims``.)

    ``one_trip`` (PostgreSQL; outcomes that all completed, no claim): send
    the settle with its COMMIT, in one round trip where a transaction that
    may still act on what the statement returns takes two. Nothing can
    follow the end of a job that completed with no on-finalize intent (see
    :data:`JobEndedHook`); a statement that would end any other job writes
    nothing, and the settle is made again in two trips, with what follows:
    ``Settled.refused_one_trip`` then says so.
    """
    wants_claim = (then_claim is not None and then_claim.limit > 0
                   and (then_claim.intents is None or len(then_claim.intents) > 0))
    if not outcomes and not starts and not wants_claim:
        return Settled()
    refused = False
    if one_trip and then_claim is None and db.statements_are_trips and all(
            o.status is ChunkState.COMPLETED and not o.refund for o in outcomes):
        try:
            rows = await db.write_once([(SQL["settle_all"], _settle_all_params(outcomes, now, starts or {}, True))])
        except db.DataError as exc:
            if _REFUSED not in str(exc):
                raise
            refused = True
        else:
            done, done.finalized = _settled_from_rows(rows, outcomes)
            return done
    async with db.transaction() as conn:
        claimed = None
        if then_claim is not None and wants_claim and not db.statements_are_trips and not any(o.refund for o in outcomes):
            # One trip to the connection's thread, the commit with it, unless a job the settle
            # ends needs what follows its end first: the claim then waits for that.
            done, ended_now, claimed = await run_steps(
                conn, _settle_then_claim_steps(outcomes, now, starts or {}, then_claim), commit=_claimed)
            done.finalized = ended_now if claimed else await jobs_ended(conn, ended_now, now,
                                                                       on_job_ended=on_job_ended)
        else:
            done = await settle_in(conn, outcomes, now, on_job_ended=on_job_ended, starts=starts)
        if then_claim is not None and wants_claim:
            if claimed is None:
                await plan_claim(db, conn, durable=True)
                claimed = await run_steps(conn, _claim_steps(then_claim.worker_id, then_claim.limit, now,
                                                             _intent_list(then_claim.intents), False), commit=True)
            rows, done.specs = claimed
            done.claimed = claims_from_rows(rows)
        done.refused_one_trip = refused
        return done


def _intent_list(intents: Sequence[str] | None) -> str | None:
    """Intents as the claim statement takes them (None: every intent)."""
    return None if intents is None else json.dumps(sorted(intents))


def _follows(job: Mapping[str, Any]) -> bool:
    """Whether something follows this ended job's end in the transaction that ends it: the
    hooks (a job that did not complete: see JobEndedHook) or an on-finalize job."""
    return job["status"] != JobState.COMPLETED.value or bool(job["on_finalize"])


def _settle_then_claim_steps(outcomes: Sequence[Outcome], now: float, starts: Mapping[int, float],
                             then_claim: NextClaim) -> Steps:
    """:func:`_settle_steps`, then the claim, unless a job the settle ended needs what follows its
    end first; returns what was settled, the jobs it ended and the claim's rows and specs (None
    when it stopped before the claim)."""
    done, ended_now = yield from _settle_steps(outcomes, now, starts)
    if any(_follows(job) for job in ended_now):
        return done, ended_now, None
    claimed = yield from _claim_steps(then_claim.worker_id, then_claim.limit, now,
                                      _intent_list(then_claim.intents), False)
    return done, ended_now, claimed


def _claimed(result: tuple[Settled, list[dict[str, Any]], Any]) -> bool:
    """Commit after :func:`_settle_then_claim_steps` only if it got as far as the claim."""
    return result[2] is not None


def _chunk_id(outcome: Outcome) -> int:
    return outcome.chunk_id


def _payload(outcomes: Sequence[Outcome], *, attempts: bool = False) -> list[dict[str, Any]]:
    """The outcomes as the settle statements read them, in chunk id order: chunks are locked
    in that order everywhere (see actions.lock_job). ``attempts`` adds what ``settle_all`` also
    records of each attempt (its failure, its worker's counters)."""
    payload = []
    for o in sorted(outcomes, key=_chunk_id):
        row = {"chunk_id": o.chunk_id, "lease_token": o.lease_token, "status": o.status.value,
               "run_after": o.run_after, "finished_at": o.finished_at, "error": o.error, "result": o.result,
               "refund": int(o.refund)}
        if attempts:
            row.update(attempt=o.attempt, worker_id=o.worker_id, kind=o.kind, started_at=o.started_at)
        payload.append(row)
    return payload


async def settle_in(conn: Any, outcomes: Sequence[Outcome], now: float, *,
                    on_job_ended: Sequence[JobEndedHook] = (), starts: Mapping[int, float] | None = None) -> Settled:
    """:func:`settle` inside a transaction the caller already holds."""
    if conn.statements_are_trips:
        done = await _settle_all(conn, outcomes, now, on_job_ended, starts or {})
    else:
        done, ended_now = await run_steps(conn, _settle_steps(outcomes, now, starts or {}))
        # The jobs count_job_chunks ended, in id order; their follow-ups (hooks,
        # on-finalize jobs) run here, in this transaction.
        done.finalized = await jobs_ended(conn, ended_now, now, on_job_ended=on_job_ended)
    refunded = {o.chunk_id for o in outcomes if o.refund}
    if refunded:  # rare (shutdown, Deferred): one more statement, never on an ordinary settle
        job_ids = sorted({job_id for chunk_id, job_id, _ in done.applied if chunk_id in refunded})
        if job_ids:
            await conn.execute(SQL["unstart_jobs"], {"job_ids": json.dumps(job_ids)})
    return done


async def _settle_all(conn: Any, outcomes: Sequence[Outcome], now: float,
                      on_job_ended: Sequence[JobEndedHook], starts: Mapping[int, float]) -> Settled:
    """PostgreSQL: the whole settle in one statement (``settle_all``, one round trip), then the
    follow-ups of the jobs it ended, as SQLite's settle does."""
    rows = await conn.execute_fetchall(SQL["settle_all"], _settle_all_params(outcomes, now, starts, False))
    done, ended_now = _settled_from_rows(rows, outcomes)
    if ended_now:
        done.finalized = await jobs_ended(conn, ended_now, now, on_job_ended=on_job_ended)
    return done


# In the error of a one-trip settle_all that ended a job needing what follows its end.
_REFUSED = "settle again with its follow-ups"


def _settle_all_params(outcomes: Sequence[Outcome], now: float, starts: Mapping[int, float],
                       one_trip: bool) -> dict[str, Any]:
    """``settle_all``'s parameters."""
    return {"outcomes": json.dumps(_payload(outcomes, attempts=True)), "now": now, "one_trip": one_trip,
            "starts": json.dumps([{"job_id": job_id, "started_at": at} for job_id, at in starts.items()])}


def _settled_from_rows(rows: Sequence[Any], outcomes: Sequence[Outcome]) -> tuple[Settled, list[dict[str, Any]]]:
    """What ``settle_all`` applied, and the rows of the jobs it ended (in id order)."""
    applied: list[tuple[int, int, str]] = []
    ended_now: list[dict[str, Any]] = []
    for row in rows:
        # unpacked by position (see settle_all's last SELECT): the Row's lookup is Python, per column
        kind, row_id, job_id, status, *rest = row
        if kind == "chunk":
            applied.append((row_id, job_id, status))
        elif status not in UNFINISHED:
            ended_now.append(dict(zip(_JOB_ROW, (row_id, status, *rest))))
    ended_now.sort(key=lambda job: job["id"])
    return Settled(applied=applied, fenced_out=len(outcomes) - len(applied)), ended_now


# Where an ended chunk's status is tallied: [completed, failed, cancelled].
_ENDED_COLUMN = {ChunkState.COMPLETED.value: 0, ChunkState.FAILED.value: 1, ChunkState.CANCELLED.value: 2}
_NONE_ENDED = (0, 0, 0)

# What count_job_chunks and settle_all return of each job they wrote.
_JOB_ROW = ("id", "status", "on_finalize", "schedule_id", "chunks_total", "chunks_completed", "chunks_failed",
            "chunks_cancelled")


def _settle_steps(outcomes: Sequence[Outcome], now: float, starts: Mapping[int, float]) -> Steps:
    """The statements of a settle, as :data:`Steps`; returns what changed and the rows of the jobs it ended.

    One statement ends the attempts (the fence applies), one records the
    failed ones, one moves the counters of their jobs, starts the ``starts``
    still pending and ends the jobs whose last chunk this was
    (``count_job_chunks``), and one counts the workers' chunks.
    """
    done = Settled()
    # job id -> [completed, failed, cancelled] of its applied outcomes (plain lists: this
    # runs for every job of every settle, on the writer's thread)
    per_job: dict[int, list[int]] = {}
    applied_ids: set[int] = set()
    if outcomes:
        payload = _payload(outcomes)
        settled = yield SQL["settle"], {"outcomes": json.dumps(payload)}, True
        applied = [(row[0], row[1], row[2]) for row in settled]
        done = Settled(applied=applied, fenced_out=len(outcomes) - len(applied))
        applied_ids = {chunk_id for chunk_id, _, _ in applied}
        failures = [
            {"chunk_id": o.chunk_id, "attempt": o.attempt, "worker_id": o.worker_id, "kind": o.kind,
             "error": o.error, "started_at": o.started_at}
            for o in outcomes
            if o.kind is not None and o.chunk_id in applied_ids
        ]
        if failures:
            yield SQL["record_attempts"], {"attempts": json.dumps(failures), "now": now}, False
        for _, job_id, status in applied:
            column = _ENDED_COLUMN.get(status)
            if column is not None:  # a retry or a release moves no counter
                tally = per_job.get(job_id)
                if tally is None:
                    tally = per_job[job_id] = [0, 0, 0]
                tally[column] += 1

    ended_now: list[dict[str, Any]] = []
    counts = []
    for job_id in sorted(per_job.keys() | starts.keys()):  # in id order: concurrent settles lock jobs alike
        completed, failed, cancelled = per_job.get(job_id) or _NONE_ENDED
        counts.append({"job_id": job_id, "completed": completed, "failed": failed, "cancelled": cancelled,
                       "started_at": starts.get(job_id)})
    if counts:
        counted = yield SQL["count_job_chunks"], {"counts": json.dumps(counts), "now": now}, True
        # the jobs this statement ended (see the query)
        ended_now = sorted((dict(row) for row in counted if row["status"] not in UNFINISHED),
                           key=lambda row: row["id"])

    per_worker: dict[str, list[int]] = {}  # worker id -> [completed, failed, cancelled]
    for o in outcomes:
        column = _ENDED_COLUMN.get(o.status.value)
        if column is not None and o.worker_id and o.chunk_id in applied_ids:
            tally = per_worker.get(o.worker_id)
            if tally is None:
                tally = per_worker[o.worker_id] = [0, 0, 0]
            tally[column] += 1
    if per_worker:
        counts = [{"worker_id": w, "done": c[0], "failed": c[1]} for w, c in sorted(per_worker.items())]
        yield SQL["count_worker_chunks"], {"counts": json.dumps(counts)}, False
    return done, ended_now


async def finalize_ended(conn: Any, job_ids: Iterable[int], now: float, *,
                         cut_short: int = 0, on_job_ended: Sequence[JobEndedHook] = ()) -> list[dict[str, Any]]:
    """Give every job in ``job_ids`` whose chunks have all ended its final status.

    ``cut_short``: chunks an operator's finalize has just cancelled, which do
    not count against the job's status (see :func:`actions.finalize`). Each
    job that ends goes through :func:`job_ended`.
    """
    ids = sorted(set(job_ids))
    if not ids:
        return []
    # One statement for every job, however many; the follow-ups of the few
    # that ended (hooks, on-finalize jobs) come after, in id order.
    finalized = await conn.execute_fetchall(SQL["finalize_if_ended"],
                                            {"job_ids": json.dumps(ids), "now": now, "cut_short": cut_short})
    rows = sorted((dict(row) for row in finalized), key=lambda row: row["id"])
    return await jobs_ended(conn, rows, now, on_job_ended=on_job_ended)


async def job_ended(conn: Any, outcome: dict[str, Any], now: float, *,
                    on_job_ended: Sequence[JobEndedHook] = ()) -> dict[str, Any]:
    """What follows the end of one job (see :func:`jobs_ended`)."""
    return (await jobs_ended(conn, [outcome], now, on_job_ended=on_job_ended))[0]


async def jobs_ended(conn: Any, outcomes: Sequence[dict[str, Any]], now: float, *,
                     on_job_ended: Sequence[JobEndedHook] = ()) -> list[dict[str, Any]]:
    """What follows the end of jobs, in the transaction that ended them, however they ended.

    Each of ``outcomes`` is a job's row as it ended (id, status, on_finalize,
    schedule_id and its counters). Each ``on_job_ended`` hook runs for each
    that did not complete (see :data:`JobEndedHook`); every on-finalize intent gets a
    follow-up job whose params carry the outcome, all inserted together
    (each follow-up's id is added to its row as ``follow_up_job_id``).
    """
    for outcome in outcomes:
        if outcome["status"] != JobState.COMPLETED.value:  # see JobEndedHook
            for hook in on_job_ended:
                await hook(conn, outcome, now)
    asking = [outcome for outcome in outcomes if outcome["on_finalize"]]
    if asking:
        rows = []
        for outcome in asking:
            params = {key: outcome[key] for key in
                      ("status", "chunks_total", "chunks_completed", "chunks_failed", "chunks_cancelled")}
            params["job_id"] = outcome["id"]
            rows.append(encode(Submission(intent=outcome["on_finalize"], params=params, parent_job_id=outcome["id"])))
        made = await insert_jobs(conn, rows, now)
        for outcome, (follow_up, _) in zip(asking, made):
            outcome["follow_up_job_id"] = follow_up
    return list(outcomes)


async def next_due(db: Database) -> float | None:
    """When the earliest pending chunk falls due, or None when nothing is pending."""
    return await db.scalar(SQL["next_due"])


async def held_by(db: Database, worker_id: str) -> list[Claim]:
    """The chunks the database says ``worker_id`` holds (processing under its id), without params.

    A worker compares them with what it runs: an in-flight claim missing here
    lost its lease (cancelled, rescued); a chunk here that it does not run is
    an orphan it must give back.
    """
    rows = await db.fetchall(SQL["held_by_worker"], {"worker_id": worker_id})
    return [Claim(row["id"], row["job_id"], row["chunk_index"], {}, row["attempt"], row["lease_token"],
                  row["claimed_at"]) for row in rows]
