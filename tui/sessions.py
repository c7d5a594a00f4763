"""Work sessions and events, as the panes show them, read through the engine's API.

:class:`~queuetop.engine.api.Queue` returns typed records (classified by the
queue's own ``[events.thresholds]``); they are turned into the small views
the widgets show, with times in seconds and summaries made once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from queuetop.engine.api import Event, Queue, Session, Thread


@dataclass(frozen=True)
class SessionView:
    id: str
    status: str
    category: str | None
    threads: int
    events: int
    first_at: float | None
    last_at: float | None
    agents: tuple[str, ...] = ()
    raw: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class ThreadView:
    id: str
    from_agent: str | None
    to_agent: str | None
    events: int
    first_at: float | None
    last_at: float | None
    status: str | None = None


@dataclass(frozen=True)
class EventView:
    id: int
    ts: float
    type: str
    agent: str | None
    session_id: str | None
    category: str | None
    summary: str
    data: Any = field(default=None, compare=False)  # the whole payload, for the detail view


def session_view(record: Session) -> SessionView:
    return SessionView(
        id=record.id,
        status=record.status.value,
        category=record.category,
        threads=record.thread_count,
        events=record.event_count,
        first_at=record.first_at,
        last_at=record.last_at,
        agents=tuple(record.agents),
        raw=record,
    )


def thread_view(record: Thread) -> ThreadView:
    return ThreadView(
        id=record.id,
        from_agent=record.from_agent,
        to_agent=record.to_agent,
        events=record.event_count,
        first_at=record.first_at,
        last_at=record.last_at,
        status=record.status.value,
    )


def event_view(record: Event) -> EventView:
    data = record.data if isinstance(record.data, dict) else {"message": record.data}
    parts = []
    src, dst = data.get("fromAgent"), data.get("toAgent")
    if src or dst:
        parts.append(f"{src or '?'}→{dst or '?'}")
    for key in ("message", "text", "title", "status", "waitStatus"):
        if data.get(key):
            parts.append(str(data[key]))
            break
    return EventView(
        id=int(record.id or 0),
        ts=record.ts,
        type=record.type,
        agent=record.agent_id,
        session_id=record.session_id,
        category=record.category,
        summary=" ".join(parts),
        data=record.data,
    )


async def list_sessions(queue: Queue, *, search: str | None, limit: int, offset: int) -> list[SessionView]:
    rows = await queue.sessions(search=search, limit=limit, offset=offset)
    return [session_view(row) for row in rows]


async def count_sessions(queue: Queue, *, search: str | None) -> int:
    return await queue.count_sessions(search=search)


async def get_session(queue: Queue, session_id: str) -> tuple[SessionView, list[ThreadView]]:
    record = await queue.session(session_id)
    return session_view(record), [thread_view(t) for t in record.threads]


async def session_events(queue: Queue, session_id: str, *, limit: int) -> list[EventView]:
    return [event_view(row) for row in await queue.session_events(session_id, limit=limit)]


async def latest_event_id(queue: Queue) -> int:
    return await queue.latest_event_id()


async def events_since(queue: Queue, after_id: int, *, limit: int) -> list[EventView]:
    return [event_view(row) for row in await queue.events_since(after_id, limit=limit)]
