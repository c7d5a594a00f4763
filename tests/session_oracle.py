"""A from-scratch rebuild of every session from the events table, to check the incremental one.

A separate, deliberately plain implementation of the fold rules in
:mod:`queuetop.engine.events.sessions` (collect, then take maxima). It is a
test oracle, so it lives with the tests, not in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from queuetop.engine.events.parse import text_value
from queuetop.engine.events.sessions import _agents
from queuetop.engine.store import queries
from queuetop.engine.store.protocol import Backend as Database

SQL = queries.load("events")


@dataclass(frozen=True)
class SessionSummary:
    """The parts of a session (and its threads) that events determine: what a rebuild compares."""

    id: str
    event_count: int
    thread_count: int
    first_ts_ms: int
    last_ts_ms: int
    agents: tuple[str, ...]
    last_event_type: str
    last_outcome: str | None
    category: str | None
    category_confidence: float | None
    threads: dict[str, tuple[Any, ...]] = field(default_factory=dict, compare=True)


async def stored_session_summaries(db: Database) -> dict[str, SessionSummary]:
    """Every session and thread as the incremental updates left them."""
    threads: dict[str, dict[str, tuple[Any, ...]]] = {}
    for t in await db.fetchall(SQL["all_threads"]):
        threads.setdefault(t["session_id"], {})[t["thread_key"]] = (
            t["event_count"], t["first_ts_ms"], t["last_ts_ms"], _agents(t["agents"]),
            t["last_event_type"], t["last_outcome"], t["from_agent"], t["to_agent"])
    return {
        row["id"]: SessionSummary(
            row["id"], row["event_count"], row["thread_count"], row["first_ts_ms"], row["last_ts_ms"],
            _agents(row["agents"]), row["last_event_type"], row["last_outcome"], row["category"],
            row["category_confidence"], threads.get(row["id"], {}))
        for row in await db.fetchall(SQL["all_sessions"])
    }


async def rebuild_sessions_from_events(db: Database, *, page: int = 20_000) -> dict[str, SessionSummary]:
    """Recompute every session and thread from the events table, from scratch; writes nothing.

    A separate, deliberately plain implementation of the rules in the module
    docstring (collect, then take maxima), so that comparing it with
    :func:`stored_session_summaries` checks the incremental path. Sessions
    whose events retention deleted will differ, by design.
    """
    per_session: dict[str, list[tuple[Any, ...]]] = {}
    after = 0
    while True:
        rows = await db.fetchall(SQL["events_for_rebuild"], {"after_id": after, "limit": page})
        if not rows:
            break
        for row in rows:
            data = orjson.loads(row["data"])
            fields = data if type(data) is dict else {}
            per_session.setdefault(row["session_id"], []).append((
                row["id"], row["ts_ms"], row["type"], row["agent_id"], row["thread_key"], row["category"],
                row["confidence"], text_value(fields.get("outcome")), text_value(fields.get("fromAgent")),
                text_value(fields.get("toAgent"))))
        after = rows[-1]["id"]
    return {sid: _summarise(sid, events) for sid, events in per_session.items()}


def _summarise(session_id: str, events: list[tuple[Any, ...]]) -> SessionSummary:
    def fold(subset: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        last = max(subset, key=lambda e: (e[1], e[0]))
        with_outcome = [e for e in subset if e[7] is not None]
        outcome = max(with_outcome, key=lambda e: (e[1], e[0]))[7] if with_outcome else None
        agents = tuple(sorted({name for e in subset for name in (e[3], e[8], e[9]) if name is not None}))
        return (len(subset), min(e[1] for e in subset), last[1], agents, last[2], outcome)

    by_thread: dict[str, list[tuple[Any, ...]]] = {}
    for event in events:
        by_thread.setdefault(event[4], []).append(event)
    threads = {}
    for key, subset in by_thread.items():
        ordered = sorted(subset)  # by id: arrival order
        from_agent = next((e[8] for e in ordered if e[8] is not None), None)
        to_agent = next((e[9] for e in ordered if e[9] is not None), None)
        threads[key] = fold(subset) + (from_agent, to_agent)
    count, first, last, agents, last_type, outcome = fold(events)
    categorised = [e for e in events if e[5] is not None]
    best = max(categorised, key=lambda e: (e[6], e[1], e[0])) if categorised else None
    return SessionSummary(session_id, count, len(threads), first, last, agents, last_type, outcome,
                          best[5] if best else None, best[6] if best else None, threads)

