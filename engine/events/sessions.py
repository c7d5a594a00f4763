"""Work sessions: events grouped by ``workSessionId``, with a thread per conversation.

A session holds its agents, event count, first and last event time, last
event type and outcome, thread count and a category. A thread is one
conversation (``conversationId``), or an agent pair when there is none (see
:func:`queuetop.engine.events.parse.thread_key`). Events without a
``workSessionId`` belong to no session.

Sessions are kept up to date incrementally: each batch of new events is
folded into one delta per touched session and thread (:class:`SessionDeltas`)
and written as one upsert each, in the batch's transaction. Nothing is ever
rebuilt (the tests keep a from-scratch rebuild to check the incremental
result against: ``tests/session_oracle.py``).

The rules the fold follows, the same whether events arrive in one batch or
many: "last" means the event with the greatest ``(ts, id)``; the last outcome
is that of the last event that has one; the session's category is the one of
the event with the greatest ``(confidence, ts, id)``; a thread's from and to
agents are the first non-empty ones, in arrival order.

Status is not stored: it is a function of the time since the last event
(:class:`SessionThresholds`) and would go stale in the table. Reads compute
it from the clock, and a status filter becomes a range on ``last_ts_ms``,
which the ``sessions_last`` index serves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from queuetop.engine.store import queries
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.events.parse import Event, session_key
from queuetop.engine.events.steps import Execute, ExecuteMany, Step
from queuetop.engine.model.exceptions import NotFound, UsageError
from queuetop.engine.model.states import SessionState
from queuetop.engine.events.thresholds import SessionThresholds, parse_status

SQL = queries.load("events")


# -- records -------------------------------------------------------------------------


def _agents(text: str | None) -> tuple[str, ...]:
    return tuple(orjson.loads(text)) if text else ()


@dataclass(frozen=True)
class Thread:
    """One conversation (or agent pair) of a session."""

    session_id: str
    id: str  # the thread key: 'conv:<conversationId>', 'pair:<a>|<b>', 'agent:<a>' or 'none'
    status: SessionState
    from_agent: str | None
    to_agent: str | None
    agents: tuple[str, ...]
    event_count: int
    first_ts_ms: int
    last_ts_ms: int
    last_event_type: str
    last_outcome: str | None

    @property
    def conversation(self) -> str | None:
        """The conversation id, for a conversation thread."""
        return self.id[5:] if self.id.startswith("conv:") else None

    @property
    def first_at(self) -> float:
        return self.first_ts_ms / 1000.0

    @property
    def last_at(self) -> float:
        return self.last_ts_ms / 1000.0

    @classmethod
    def from_row(cls, row: sqlite3.Row, status: SessionState) -> "Thread":
        return cls(row["session_id"], row["thread_key"], status, row["from_agent"], row["to_agent"],
                   _agents(row["agents"]), row["event_count"], row["first_ts_ms"], row["last_ts_ms"],
                   row["last_event_type"], row["last_outcome"])

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["status"] = self.status.value
        out["agents"] = list(self.agents)
        out["conversation_id"] = self.conversation
        return out


@dataclass(frozen=True)
class Session:
    """A work session's summary; ``threads`` is filled by :func:`get_session` only."""

    id: str
    status: SessionState
    first_ts_ms: int
    last_ts_ms: int
    event_count: int
    thread_count: int
    agents: tuple[str, ...]
    last_event_type: str
    last_outcome: str | None
    category: str | None           # what to show: the override if any, else from the events
    category_source: str | None    # 'override', 'events' or None
    auto_category: str | None      # from the events' enrichment
    category_confidence: float | None
    override_by: str | None
    override_at: float | None
    created_at: float
    updated_at: float
    threads: tuple[Thread, ...] = ()

    @property
    def first_at(self) -> float:
        return self.first_ts_ms / 1000.0

    @property
    def last_at(self) -> float:
        return self.last_ts_ms / 1000.0

    @property
    def duration_ms(self) -> int:
        return self.last_ts_ms - self.first_ts_ms

    @classmethod
    def from_row(cls, row: sqlite3.Row, status: SessionState, threads: tuple[Thread, ...] = ()) -> "Session":
        override = row["category_override"]
        auto = row["category"]
        return cls(
            id=row["id"], status=status, first_ts_ms=row["first_ts_ms"], last_ts_ms=row["last_ts_ms"],
            event_count=row["event_count"], thread_count=row["thread_count"], agents=_agents(row["agents"]),
            last_event_type=row["last_event_type"], last_outcome=row["last_outcome"],
            category=override or auto,
            category_source="override" if override else ("events" if auto else None),
            auto_category=auto, category_confidence=row["category_confidence"],
            override_by=row["override_by"], override_at=row["override_at"],
            created_at=row["created_at"], updated_at=row["updated_at"], threads=threads,
        )

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["status"] = self.status.value
        out["agents"] = list(self.agents)
        out["threads"] = [t.as_dict() for t in self.threads]
        return out


# -- incremental updates ---------------------------------------------------------------

# Positions in a thread's delta list (a list, not an object: this runs once per event).
_COUNT, _FIRST, _LAST, _TYPE, _LAST_AT, _OUTCOME, _OUTCOME_TS, _OUTCOME_AT, _AGENTS, _FROM, _TO = range(11)


class SessionDeltas:
    """The change one batch of new events makes to sessions and threads.

    :meth:`add` each new event in id order, then run :meth:`statements`
    inside the batch's transaction: one upsert per touched session and thread.
    Per event only the thread's delta (and the session's category) moves; a
    session's delta is put together from its threads' when the statements
    are made, with the arrival position standing in for the event id on ties.
    """

    def __init__(self) -> None:
        self.sessions: dict[str, list[Any]] = {}  # session id -> [category, confidence, ts]
        self.threads: dict[tuple[str, str], list[Any]] = {}
        self._position = 0

    def add(self, row: Mapping[str, Any]) -> None:
        """Fold in one new event (a row from :func:`queuetop.engine.events.parse.parse_lines`)."""
        self.add_rows((row,))

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Fold in new events, in id order (the loop is here, with its names local, for speed)."""
        sessions, threads = self.sessions, self.threads
        position = self._position
        for row in rows:
            session_id = row["session_id"]
            if session_id is None:
                continue
            position += 1
            ts = row["ts_ms"]
            outcome = row["outcome"]
            category = row["category"]
            if category is not None:
                s = sessions.get(session_id)
                if s is None:
                    sessions[session_id] = [category, row["confidence"], ts]
                elif s[0] is None or (row["confidence"], ts) >= (s[1], s[2]):
                    s[0], s[1], s[2] = category, row["confidence"], ts
            elif session_id not in sessions:
                sessions[session_id] = [None, None, None]
            key = (session_id, row["thread_key"])
            t = threads.get(key)
            from_agent, to_agent = row["from_agent"], row["to_agent"]
            if t is None:
                threads[key] = [1, ts, ts, row["type"], position, outcome, ts if outcome is not None else None,
                                position, {(row["agent_id"], from_agent, to_agent)}, from_agent, to_agent]
                continue
            # Indexes spelt out (see _COUNT ... _TO): module-level names cost a
            # lookup each, and this is the hottest loop of a bulk ingest.
            t[0] += 1
            if ts < t[1]:
                t[1] = ts
            if ts >= t[2]:
                t[2], t[3], t[4] = ts, row["type"], position
            if outcome is not None and (t[6] is None or ts >= t[6]):
                t[5], t[6], t[7] = outcome, ts, position
            t[8].add((row["agent_id"], from_agent, to_agent))
            if t[9] is None:
                t[9] = from_agent
            if t[10] is None:
                t[10] = to_agent
        self._position = position

    @property
    def session_ids(self) -> tuple[str, ...]:
        """The sessions this batch touched, sorted."""
        return tuple(sorted(self.sessions))

    def statements(self, now: float) -> list[Step]:
        """The writes, as typed steps: one upsert per session and thread, then thread counts.

        Plain data, so that whoever holds the transaction (the tailer on
        aiosqlite, a bulk-ingest worker on sqlite3) runs them.
        """
        if not self.sessions:
            return []
        dumps = orjson.dumps
        threads = []
        per_session: dict[str, list[Any]] = {}
        for (sid, key), t in self.threads.items():
            agents = sorted({name for names in t[_AGENTS] for name in names if name is not None})
            threads.append({
                "session_id": sid, "thread_key": key, "event_count": t[_COUNT], "first_ts_ms": t[_FIRST],
                "last_ts_ms": t[_LAST], "last_event_type": t[_TYPE], "last_outcome": t[_OUTCOME],
                "last_outcome_ts_ms": t[_OUTCOME_TS], "agents": dumps(agents).decode(),
                "from_agent": t[_FROM], "to_agent": t[_TO]})
            s = per_session.get(sid)
            if s is None:
                per_session[sid] = [t[_COUNT], t[_FIRST], t[_LAST], t[_TYPE], t[_LAST_AT], t[_OUTCOME],
                                    t[_OUTCOME_TS], t[_OUTCOME_AT], set(agents)]
                continue
            s[_COUNT] += t[_COUNT]
            s[_FIRST] = min(s[_FIRST], t[_FIRST])
            if (t[_LAST], t[_LAST_AT]) > (s[_LAST], s[_LAST_AT]):
                s[_LAST], s[_TYPE], s[_LAST_AT] = t[_LAST], t[_TYPE], t[_LAST_AT]
            if t[_OUTCOME_TS] is not None and (s[_OUTCOME_TS] is None
                                               or (t[_OUTCOME_TS], t[_OUTCOME_AT]) > (s[_OUTCOME_TS], s[_OUTCOME_AT])):
                s[_OUTCOME], s[_OUTCOME_TS], s[_OUTCOME_AT] = t[_OUTCOME], t[_OUTCOME_TS], t[_OUTCOME_AT]
            s[_AGENTS].update(agents)
        sessions = []
        for sid, s in per_session.items():
            category, confidence, category_ts = self.sessions[sid]
            sessions.append({
                "id": sid, "event_count": s[_COUNT], "first_ts_ms": s[_FIRST], "last_ts_ms": s[_LAST],
                "last_event_type": s[_TYPE], "last_outcome": s[_OUTCOME], "last_outcome_ts_ms": s[_OUTCOME_TS],
                "agents": dumps(sorted(s[8])).decode(), "category": category, "category_confidence": confidence,
                "category_ts_ms": category_ts, "now": now})
        return [
            ExecuteMany(SQL["upsert_session"], sessions),
            ExecuteMany(SQL["upsert_thread"], threads),
            Execute(SQL["update_thread_counts"], {"session_ids": dumps(list(self.sessions)).decode()}),
        ]


# -- reads -------------------------------------------------------------------------


def _thresholds(thresholds: SessionThresholds | None) -> SessionThresholds:
    return thresholds if thresholds is not None else SessionThresholds()


def _filters(clock: Clock, status: SessionState | str | None, search: str | None, category: str | None,
             thresholds: SessionThresholds) -> dict[str, Any]:
    after, until = thresholds.bounds(status, clock.now())
    return {"after_ms": after, "until_ms": until, "search": search or None, "category": category or None}


async def list_sessions(db: Database, clock: Clock, status: SessionState | str | None = None,
                        search: str | None = None, limit: int = 50, offset: int = 0, *,
                        category: str | None = None,
                        thresholds: SessionThresholds | None = None) -> list[Session]:
    """A page of sessions, most recent last event first.

    ``status`` filters by ACTIVE/QUIET/ARCHIVED at the clock's time;
    ``search`` matches the session id, its category or an agent's name.
    """
    limits = _thresholds(thresholds)
    now = clock.now()
    params = _filters(clock, status, search, category, limits) | {"limit": limit, "offset": offset}
    return [Session.from_row(row, limits.status(row["last_ts_ms"], now))
            for row in await db.fetchall(SQL["list_sessions"], params)]


async def count_sessions(db: Database, clock: Clock, status: SessionState | str | None = None,
                         search: str | None = None, *, category: str | None = None,
                         thresholds: SessionThresholds | None = None) -> int:
    """How many sessions :func:`list_sessions` would page through.

    Without a filter, from the counter kept with the rows (the sessions pane
    asks at every refresh: a count of the table took ~10 ms at 200,000).
    """
    if status is None and not search and not category:
        return int(await db.scalar(SQL["session_total"]) or 0)
    params = _filters(clock, status, search, category, _thresholds(thresholds))
    return int(await db.scalar(SQL["count_sessions"], params) or 0)


async def counts_by_status(db: Database, clock: Clock, *,
                           thresholds: SessionThresholds | None = None) -> dict[SessionState, int]:
    """Sessions per status at the clock's time, in one query."""
    active, quiet = _thresholds(thresholds).cutoffs(clock.now())
    row = await db.fetchone(SQL["session_counts_by_status"], {"active_ms": active, "quiet_ms": quiet})
    assert row is not None
    return {SessionState.ACTIVE: row["active"] or 0, SessionState.QUIET: row["quiet"] or 0,
            SessionState.ARCHIVED: row["archived"] or 0}


async def get_session(db: Database, clock: Clock, session_id: str, *,
                      thresholds: SessionThresholds | None = None) -> Session:
    """One session with its threads (most recent first); :class:`NotFound` if there is none."""
    limits = _thresholds(thresholds)
    row = await db.fetchone(SQL["get_session"], {"id": session_id})
    if row is None:
        raise NotFound(f"no work session {session_id!r}")
    now = clock.now()
    threads = tuple(Thread.from_row(t, limits.status(t["last_ts_ms"], now))
                    for t in await db.fetchall(SQL["session_threads"], {"session_id": session_id}))
    return Session.from_row(row, limits.status(row["last_ts_ms"], now), threads)


async def session_events(db: Database, session_id: str, limit: int = 200,
                         before_id: int | None = None) -> list[Event]:
    """A session's events, newest first; ``before_id`` pages back from there."""
    if limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    rows = await db.fetchall(SQL["session_events"], {"session_id": session_id, "session_key": session_key(session_id),
                                                     "before_id": before_id, "limit": limit})
    return [Event.from_row(row) for row in rows]


async def override_category(db: Database, clock: Clock, session_id: str, category: str | None,
                            who: str) -> Session:
    """Set (or with ``None`` clear) an operator's category for a session, with who and when.

    The override wins over the category the events gave; it is kept as the
    events keep arriving.
    """
    if category is not None:
        category = category.strip() or None
    if not who or not who.strip():
        raise UsageError("an override needs the operator's name")
    async with db.transaction() as conn:
        cursor = await conn.execute(SQL["override_category"], {
            "id": session_id, "category": category, "who": who.strip(), "now": clock.now()})
        if cursor.rowcount == 0:
            raise NotFound(f"no work session {session_id!r}")
    return await get_session(db, clock, session_id)
