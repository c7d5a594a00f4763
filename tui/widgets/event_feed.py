"""The Event feed: the newest coordination events, newest first, as they arrive.

New events are read with a keyset query (``events_since`` the last id seen);
the pane keeps only the newest rows it can show plus a margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.message import Message
from rich.text import Text

from ..host import host
from ..messages import EventSelected
from .. import format as fmt
from ..sessions import EventView, events_since, latest_event_id
from .live_table import Col, LiveTable

CATCH_UP = 2000  # events read per query while catching up


class EventFeed(LiveTable[EventView]):
    """Events: time, type, agent, session, summary."""

    TITLE = "Event feed"
    PIN_TOP = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="events.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "#"),
        Col("time", "TIME", 8),
        Col("type", "TYPE", 14, flex=True, min=6),
        Col("agent", "AGENT", 9, flex=True, min=5),
        Col("summary", "SUMMARY · SESSION", 26, flex=True, min=8),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.last_id = 0
        self.seen = 0
        self._newest: list[EventView] = []

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[EventView], int]:
        queue = host(self).queue
        if not self.last_id:
            # First look: start just below the newest events, not at the beginning.
            self.last_id = max(0, await latest_event_id(queue) - limit)
        while True:
            batch = await events_since(queue, self.last_id, limit=CATCH_UP)
            if not batch:
                break
            self.last_id = batch[-1].id
            self.seen += len(batch)
            self._newest = (list(reversed(batch[-limit:])) + self._newest)[:limit]
            if len(batch) < CATCH_UP:
                break
        return self._newest, len(self._newest)

    def _update_subtitle(self) -> None:
        self.set_subtitle(f"newest {self.row_count} · last #{self.last_id}" if self.last_id else "none yet")

    def key_of(self, record: EventView) -> str:
        return str(record.id)

    def render_record(self, e: EventView, now: float) -> Sequence[RenderableType]:
        summary = Text(fmt.clip(e.summary, 60), no_wrap=True, overflow="ellipsis")
        if e.session_id:
            summary.append(f" {e.session_id[:11]}", style="dim")
        return (
            str(e.id),
            fmt.timestamp(e.ts)[11:],
            e.type,
            e.agent or "-",
            summary,
        )

    def opened(self, key: str, record: EventView | None) -> Message | None:
        return None if record is None else EventSelected(record)
