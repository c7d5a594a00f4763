"""Work sessions and events, as the panes show them, read through the engine's API.

The tailer's store (``queuetop.engine.sessions`` and ``queuetop.engine.events``)
is imported the first time it is needed; a build without it shows empty panes
that say so. Records are turned into small views here so the widgets do not
depend on the store's field names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from queuetop.engine.queue import Queue


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


@cache
def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"queuetop.engine.{name}")
    except Exception:  # absent, or not importable in this build: the panes say so
        return None


def available() -> bool:
    """True when this build has the tailer's session store."""
    return _module("sessions") is not None


def tailer_available() -> bool:
    """True when the engine can follow event files (its tailer and what it needs)."""
    return all(_module(name) is not None for name in ("tail", "enrich", "sessions"))


def events_available() -> bool:
    return _module("events") is not None


def _get(record: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(record, dict):
            if name in record:
                return record[name]
        elif hasattr(record, name):
            return getattr(record, name)
    return default


def _seconds(record: Any, ms_name: str, *names: str) -> float | None:
    """A time as epoch seconds, from a ``*_ts_ms`` field or a seconds field."""
    ms = _get(record, ms_name)
    if ms is not None:
        return float(ms) / 1000.0
    value = _get(record, *names)
    return float(value) if value is not None else None


def _num(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return len(value)
    return int(value or 0)


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def session_view(record: Any) -> SessionView:
    return SessionView(
        id=str(_get(record, "id", "session_id", "work_session_id")),
        status=_enum(_get(record, "status", default="")),
        category=_get(record, "category", "collab_category"),
        threads=_num(_get(record, "thread_count", "threads", default=0)),
        events=_num(_get(record, "event_count", "events", default=0)),
        first_at=_seconds(record, "first_ts_ms", "first_ts", "first_at"),
        last_at=_seconds(record, "last_ts_ms", "last_ts", "last_at"),
        agents=tuple(_get(record, "agents", default=()) or ()),
        raw=record,
    )


def thread_view(record: Any) -> ThreadView:
    return ThreadView(
        id=str(_get(record, "id", "conversation_id", "thread_id")),
        from_agent=_get(record, "from_agent"),
        to_agent=_get(record, "to_agent"),
        events=_num(_get(record, "event_count", "events", default=0)),
        first_at=_seconds(record, "first_ts_ms", "first_ts", "first_at"),
        last_at=_seconds(record, "last_ts_ms", "last_ts", "last_at"),
        status=_enum(_get(record, "status", default="")) or None,
    )


def event_view(record: Any) -> EventView:
    data = _get(record, "data", default={}) or {}
    if not isinstance(data, dict):
        data = {"message": data}
    summary = _get(record, "summary", default=None)
    if summary is None:
        parts = []
        src, dst = data.get("fromAgent"), data.get("toAgent")
        if src or dst:
            parts.append(f"{src or '?'}→{dst or '?'}")
        for key in ("message", "text", "title", "status", "waitStatus"):
            if data.get(key):
                parts.append(str(data[key]))
                break
        summary = " ".join(parts)
    return EventView(
        id=int(_get(record, "id", "event_id")),
        ts=_seconds(record, "ts_ms", "ts") or 0.0,
        type=str(_get(record, "type", default="")),
        agent=_get(record, "agent_id", "agent"),
        session_id=_get(record, "session_id", "work_session_id"),
        category=_get(record, "category", "collab_category"),
        summary=str(summary or ""),
    )


async def list_sessions(queue: Queue, *, search: str | None, limit: int, offset: int) -> list[SessionView]:
    sessions = _module("sessions")
    assert sessions is not None
    rows = await sessions.list_sessions(queue.db, queue.clock, search=search, limit=limit, offset=offset)
    return [session_view(row) for row in rows]


async def count_sessions(queue: Queue, *, search: str | None) -> int:
    sessions = _module("sessions")
    assert sessions is not None
    return int(await sessions.count_sessions(queue.db, queue.clock, search=search))


async def get_session(queue: Queue, session_id: str) -> tuple[SessionView, list[ThreadView]]:
    sessions = _module("sessions")
    assert sessions is not None
    record = await sessions.get_session(queue.db, queue.clock, session_id)
    threads = _get(record, "threads", default=[]) or []
    return session_view(record), [thread_view(t) for t in threads]


async def session_events(queue: Queue, session_id: str, *, limit: int) -> list[EventView]:
    sessions = _module("sessions")
    assert sessions is not None
    rows = await sessions.session_events(queue.db, session_id, limit)
    return [event_view(row) for row in rows]


async def latest_event_id(queue: Queue) -> int:
    events = _module("events")
    assert events is not None
    return int(await events.latest_event_id(queue.db))


async def events_since(queue: Queue, after_id: int, *, limit: int) -> list[EventView]:
    events = _module("events")
    assert events is not None
    rows = await events.events_since(queue.db, after_id, limit)
    return [event_view(row) for row in rows]
