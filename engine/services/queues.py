"""Named queues: claiming from held queues, their settings, pause and resume, the queues view.

A queue with a global limit, a local limit, a rate or a pause is *held*
(see ``schema.sql``, "Queues"). The ordinary claim
(:func:`queuetop.engine.services.claims.claim`) passes over held queues'
chunks; :func:`claim_held` claims them, one transaction for every held queue
a worker asks for, each under its ``queues`` row: PostgreSQL locks the rows
(``FOR UPDATE``, in name order) and then counts the queue's processing chunks
in a new statement, so it sees every claim committed before; SQLite's
``BEGIN IMMEDIATE`` already makes claims take turns. Processing chunks are
counted rather than kept in a counter, so settle, release and rescue give a
slot back by ending the chunk's processing state, with nothing more to do.

A rate is a token bucket on the row that holds one start and refills at
``count / period`` per second, so no window of ``period`` seconds sees more
than ``count`` starts. Chunks over a limit or the rate stay pending with no
attempt spent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from queuetop.engine.config import Config
from queuetop.engine.model.clock import Clock
from queuetop.engine.model.exceptions import ActionRefused, UsageError
from queuetop.engine.model.queues import DEFAULT_QUEUE, QueueInfo, QueueSpec, Rate, queue_name_problem
from queuetop.engine.services.actions import ActionResult
from queuetop.engine.services.claims import SQL as CLAIM_SQL
from queuetop.engine.services.claims import Claim, JobSpec, claims_from_rows, job_specs, plan_claim
from queuetop.engine.store import find, queries
from queuetop.engine.store.protocol import Backend as Database

SQL = queries.load("queues")
# The claim of one held queue is the ordinary claim with its queue line
# swapped. The literal `queue <> 'default'` lets both backends walk the
# partial index chunks_queue_claim; a held default queue walks chunks_claim.
CLAIM_IN_QUEUE = queries.with_line(CLAIM_SQL["claim"], "queues", "queue = :queue AND queue <> 'default'")
CLAIM_IN_DEFAULT = queries.with_line(CLAIM_SQL["claim"], "queues", "queue = 'default'")
# The queues view counts jobs that ended within this many seconds.
RECENT = 3600.0


@dataclass(frozen=True)
class HeldQueue:
    """A held queue as workers cache it: which one, and the limit each process keeps itself."""

    name: str
    local_limit: int | None


@dataclass
class HeldClaims:
    """What :func:`claim_held` claimed, and when each queue that gave nothing is worth asking again."""

    claims: list[Claim] = field(default_factory=list)
    specs: dict[int, JobSpec] = field(default_factory=dict)
    queue_of: dict[int, str] = field(default_factory=dict)  # chunk id -> queue
    # queue -> the clock time its bucket has a token again (rate-limited queues that had none)
    next_token_at: dict[str, float] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)  # queues that gave nothing for another reason
    paused: set[str] = field(default_factory=set)


async def held_queues(db: Database) -> list[HeldQueue]:
    """The held queues now, by name."""
    rows = await db.fetchall(SQL["held"])
    return [HeldQueue(row["name"], row["local_limit"]) for row in rows]


def _bucket(row: Mapping[str, Any], now: float) -> float:
    """The tokens in a rate-limited queue's bucket at ``now`` (at most one)."""
    rate = row["rate_count"] / row["rate_period"]
    if row["tokens_at"] is None:
        return 1.0
    return min(1.0, row["tokens"] + max(0.0, now - row["tokens_at"]) * rate)


async def claim_held(db: Database, worker_id: str, free: int, names: Sequence[str], held_here: Mapping[str, int],
                     now: float, intents: Sequence[str] | None = None, *, start: bool = True) -> HeldClaims:
    """Claim up to ``free`` chunks from the held queues ``names``, each within its limits, in one transaction.

    ``held_here`` is how many chunks of each queue this process holds (for
    its local limit). A paused queue gives nothing; a queue at its global
    limit gives nothing; a rate-limited queue gives one chunk when its
    bucket has a token, and says when it will have one otherwise.
    ``start`` as for :func:`claims.claim`.
    """
    done = HeldClaims()
    if free <= 0 or not names or (intents is not None and not intents):
        return done
    intent_list = None if intents is None else json.dumps(sorted(intents))
    async with db.transaction() as conn:
        await plan_claim(db, conn)
        locked = await conn.execute_fetchall(SQL["lock_queues"], {"names": json.dumps(sorted(set(names)))})
        rows = [dict(row) for row in locked]
        for row in rows:
            name = row["name"]
            want = free - len(done.claims)
            if want <= 0:
                break
            if row["paused"]:
                done.paused.add(name)
                continue
            if row["local_limit"] is not None:
                want = min(want, row["local_limit"] - held_here.get(name, 0))
            tokens = None
            if row["rate_count"] is not None and want > 0:
                tokens = _bucket(row, now)
                if tokens < 1.0:
                    done.next_token_at[name] = now + (1.0 - tokens) * row["rate_period"] / row["rate_count"]
                    continue
                want = 1
            if row["global_limit"] is not None and want > 0:
                counting = SQL["running_in_default" if name == DEFAULT_QUEUE else "running_in_queue"]
                async with conn.execute(counting, {"queue": name}) as cur:
                    running = (await cur.fetchone())[0]
                want = min(want, row["global_limit"] - running)
            if want <= 0:
                done.empty.add(name)
                continue
            claiming = CLAIM_IN_DEFAULT if name == DEFAULT_QUEUE else CLAIM_IN_QUEUE
            claimed = await conn.execute_fetchall(claiming, {"worker_id": worker_id, "now": now, "limit": want,
                                                             "queue": name, "intents": intent_list})
            got = list(claimed)
            if not got:
                done.empty.add(name)
                continue
            if tokens is not None:
                await conn.execute(SQL["take_tokens"], {"name": name, "tokens": tokens - len(got), "now": now})
            await _add(conn, done, got, name, now, start)
    done.claims.sort(key=lambda c: c.chunk_id)
    return done


async def _add(conn: Any, done: HeldClaims, rows: list[Any], queue: str, now: float,
               start: bool) -> None:
    """Claims and job specs from claim rows; ``start`` starts the jobs here (see :func:`claims.claim`)."""
    job_ids = json.dumps(sorted({row["job_id"] for row in rows}))
    jobs = None
    if "intent" not in rows[0].keys():  # SQLite's claim returns its chunks alone
        jobs = await conn.execute_fetchall(CLAIM_SQL["job_specs"], {"job_ids": job_ids})
    done.specs.update(job_specs(rows, jobs))
    if start:
        await conn.execute(CLAIM_SQL["start_jobs"], {"job_ids": job_ids, "now": now})
    for claim in claims_from_rows(rows):
        done.claims.append(claim)
        done.queue_of[claim.chunk_id] = queue


# -- settings, pause and the queues view -------------------------------------------------


async def configure(db: Database, clock: Clock, specs: Sequence[QueueSpec]) -> None:
    """Write the config's ``[queues.NAME]`` limits and rates to the database; queues it does not
    name lose theirs. Pauses are the operator's and stay as they are."""
    now = clock.now()
    async with db.transaction(wake=True) as conn:
        for spec in sorted(specs, key=lambda s: s.name):
            await conn.execute(SQL["configure"], {
                "name": spec.name, "global_limit": spec.limit, "local_limit": spec.local_limit,
                "rate_count": None if spec.rate is None else spec.rate.count,
                "rate_period": None if spec.rate is None else spec.rate.period, "now": now})
        await conn.execute(SQL["unconfigure"], {"names": json.dumps([s.name for s in specs]), "now": now})


async def check_known(db: Database, name: str, config: Config, hint: str = "") -> None:
    """Refuse a queue name nothing knows: no row, no job, not in the config, not ``default``.

    Pausing a misspelt queue would succeed and pause nothing anyone uses, so
    a name must be one ``queuetop queues`` lists, one the config names, or
    one some job was sent to; the operator pausing a queue ahead of its
    first job says so (``--new``) and skips this check.
    """
    problem = queue_name_problem(name)
    if problem:
        raise UsageError(problem)
    configured = {spec.name for spec in config.queues or ()} | {s.queue for s in config.schedules if s.queue}
    if name == DEFAULT_QUEUE or name in configured:
        return
    rows = {row["name"] for row in await db.fetchall(SQL["queue_rows"])}
    if name in rows or await db.fetchall(SQL["queue_has_jobs"], {"name": name}):
        return
    pending = {row["queue"] for row in await db.fetchall(SQL["pending_by_queue"])}
    known = ", ".join(sorted({DEFAULT_QUEUE, *configured, *rows, *pending}))
    raise UsageError(f"no queue named {name!r} (known: {known}){hint}")


async def set_paused(db: Database, clock: Clock, name: str | None, paused: bool, by: str | None = None, *,
                     config: Config | None = None, new: bool = False) -> ActionResult:
    """Pause (its chunks are claimed no more; running ones finish) or resume one queue.

    With ``config``, a name nothing knows is refused (:func:`check_known`) unless ``new`` (pause only).
    """
    if name is None:
        raise UsageError("--new names a queue to pause: give it with --queue NAME")
    problem = queue_name_problem(name)
    if problem:
        raise UsageError(problem)
    if config is not None and not new:
        await check_known(db, name, config, hint="; --new pauses it anyway" if paused else "")
    async with db.transaction(wake=not paused) as conn:
        async with conn.execute(SQL["is_queue_paused"], {"name": name}) as cur:
            row = await cur.fetchone()
        if bool(row and row[0]) == paused:
            raise ActionRefused(f"queue {name} is already {'paused' if paused else 'running'}")
        await conn.execute(SQL["set_paused"], {"name": name, "paused": int(paused), "now": clock.now(), "by": by})
    return ActionResult(None, 0, "paused" if paused else "running",
                        f"queue {name} paused: its chunks are not claimed" if paused else f"queue {name} resumed")


async def list_queues(db: Database, now: float) -> list[QueueInfo]:
    """Every queue that has a row, pending or running chunks, or jobs that ended in the last hour, by name."""
    rows = {row["name"]: dict(row) for row in await db.fetchall(SQL["queue_rows"])}
    pending = {row["queue"]: int(row["n"]) for row in await db.fetchall(SQL["pending_by_queue"])}
    totals = {row["state"]: int(row["n"]) for row in await db.fetchall(find.totals_query()) if row["kind"] == "chunks"}
    default_pending = totals.get("pending", 0) - sum(pending.values())
    if default_pending:
        pending[DEFAULT_QUEUE] = default_pending
    running = {row["queue"]: int(row["n"]) for row in await db.fetchall(SQL["running_by_queue"])}
    ended: dict[str, dict[str, int]] = {}
    for row in await db.fetchall(SQL["ended_by_queue"], {"since": now - RECENT}):
        ended.setdefault(row["queue"], {})[row["status"]] = int(row["n"])
    names = sorted({*rows, *pending, *running, *ended, DEFAULT_QUEUE})
    found = []
    for name in names:
        row = rows.get(name, {})
        rate = Rate(row["rate_count"], row["rate_period"]) if row.get("rate_count") else None
        next_start = None
        if rate is not None:
            tokens = _bucket(row, now)
            if tokens < 1.0:
                next_start = now + (1.0 - tokens) / rate.per_second
        done = ended.get(name, {})
        found.append(QueueInfo(
            name=name, pending=pending.get(name, 0), running=running.get(name, 0),
            completed=done.get("completed", 0), failed=done.get("failed", 0) + done.get("partial", 0),
            limit=row.get("global_limit"), local_limit=row.get("local_limit"), rate=rate,
            paused=bool(row.get("paused")), paused_at=row.get("paused_at"), paused_by=row.get("paused_by"),
            next_start_at=None if next_start is None or not math.isfinite(next_start) else next_start))
    return found


# How often a worker re-reads which queues are held (a pause or a limit set
# by another process is seen within this; the ordinary claim's SQL never
# claims a held queue's chunks meanwhile, whatever a worker has read).
HELD_REFRESH = 1.0
# A paused queue is asked again after this long (at once when this process
# resumes it): a resume from another process (the CLI, a TUI) takes effect
# within a second, as a whole-database resume does.
PAUSED_RETRY = HELD_REFRESH


class HeldClaimer:
    """One worker's side of held queues: which there are, which are worth asking now, what it holds of each.

    Times here are ``time.monotonic()`` (back-offs of this process), apart
    from the clock time handed to :func:`claim_held`.
    """

    def __init__(self, db: Database, poll_interval: float) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.queues: list[HeldQueue] = []
        self._read_at = -math.inf
        self._not_before: dict[str, float] = {}
        self.holding: dict[int, str] = {}  # chunk id -> its held queue, while this worker runs it

    def reread(self) -> None:
        """Read the held queues again before the next claim (this process paused, resumed or configured one)."""
        self._read_at = -math.inf
        self._not_before.clear()

    def wake(self) -> None:
        """Something may have become claimable: ask every held queue again."""
        self._not_before.clear()

    def ended(self, chunk_id: int) -> None:
        """A chunk this worker ran has ended: its queue may have a slot again."""
        queue = self.holding.pop(chunk_id, None)
        if queue is not None:
            self._not_before.pop(queue, None)

    async def refresh(self, mono: float) -> None:
        """Read which queues are held, if the list is HELD_REFRESH old (any process may hold one)."""
        if mono - self._read_at >= HELD_REFRESH:
            self.queues = await held_queues(self.db)
            self._read_at = mono

    async def claim(self, worker_id: str, free: int, now: float, mono: float,
                    intents: Sequence[str] | None, *, start: bool = True) -> HeldClaims | None:
        """Claim from the held queues worth asking (see :func:`claim_held`); None when there are none."""
        await self.refresh(mono)
        if not self.queues:
            return None
        names = [q.name for q in self.queues if self._not_before.get(q.name, -math.inf) <= mono]
        if not names:
            return None
        here: dict[str, int] = {}
        for queue in self.holding.values():
            here[queue] = here.get(queue, 0) + 1
        got = await claim_held(self.db, worker_id, free, names, here, now, intents, start=start)
        for name in got.empty:
            self._not_before[name] = mono + self.poll_interval
        for name in got.paused:
            self._not_before[name] = mono + PAUSED_RETRY
        for name, at in got.next_token_at.items():
            self._not_before[name] = mono + max(0.0, at - now)
        self.holding.update(got.queue_of)
        return got

    def next_try(self, mono: float) -> float | None:
        """Seconds until a held queue is worth asking again (None: none is waiting for a time)."""
        waiting = [at for name, at in self._not_before.items() if any(q.name == name for q in self.queues)]
        return max(0.0, min(waiting) - mono) if waiting else None
