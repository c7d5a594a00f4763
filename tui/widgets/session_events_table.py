"""The newest events of one work session."""

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


class SessionEventsTable(LiveTable[EventView]):
    """Time, type, agent, category, summary; newest first."""

    TITLE = "Events"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="session_events.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "#", 7),
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
        return (
            str(e.id),
            fmt.timestamp(e.ts),
            fmt.clip(e.type, 22),
            fmt.clip(e.agent or "-", 14),
            fmt.clip(e.category or "-", 18),
            fmt.clip(e.summary, 400),
        )

    def opened(self, key: str, record: EventView | None) -> Message | None:
        return None if record is None else EventSelected(record)
