"""The newest events of one work session.

Under :data:`WIDE` columns (:func:`session_events_table_for` picks) an
event's time reads as its age and its category (the session's, shown above
it) goes, so that 80 columns keep its id, type, agent and summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.message import Message

from ..host import host
from ..messages import EventSelected
from .. import format as fmt
from ..sessions import EventView, session_events
from .live_table import Col, LiveTable

WIDE = 110  # every column, full times, from this terminal width


class SessionEventsTable(LiveTable[EventView]):
    """Time, type, agent, category, summary; newest first."""

    TITLE = "Events"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="session_events.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "#"),
        Col("time", "TIME", 19),
        Col("type", "TYPE", 22),
        Col("agent", "AGENT", 14),
        Col("category", "CATEGORY", 18),
        Col("summary", "SUMMARY", 50, flex=True, min=8),
    )

    def __init__(self, session_id: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session_id = session_id
        self.event_total = 0

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[EventView], int]:
        events = await session_events(host(self).queue, self.session_id, limit=offset + limit)
        events = sorted(events, key=lambda e: e.id, reverse=True)
        return events[offset:offset + limit], max(self.event_total, len(events))

    def key_of(self, record: EventView) -> str:
        return str(record.id)

    def render_record(self, e: EventView, now: float) -> Sequence[RenderableType]:
        cells: dict[str, RenderableType] = {
            "id": str(e.id),
            "time": fmt.timestamp(e.ts),
            "ago": f"{fmt.ago(now - e.ts)} ago",
            "type": fmt.clip(e.type, 22),
            "agent": fmt.clip(e.agent or "-", 14),
            "category": fmt.clip(e.category or "-", 18),
            "summary": fmt.clip(e.summary, 400),
        }
        return tuple(cells[col.key] for col in self.COLUMNS)

    def opened(self, key: str, record: EventView | None) -> Message | None:
        return None if record is None else EventSelected(record)


class NarrowSessionEventsTable(SessionEventsTable):
    """Under :data:`WIDE` columns: id, age, type, agent and summary."""

    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "#"),
        Col("ago", "AGE"),
        Col("type", "TYPE", 22),
        Col("agent", "AGENT", 14),
        Col("summary", "SUMMARY", 50, flex=True, min=8),
    )


def session_events_table_for(width: int) -> type[SessionEventsTable]:
    """The session events table that fits a terminal ``width`` columns wide."""
    return SessionEventsTable if width >= WIDE else NarrowSessionEventsTable
