"""The threads (conversations) of one work session.

Under :data:`WIDE` columns (:func:`threads_table_for` picks) the first and
last times give way to the last one's age, so that 80 columns show the whole
conversation id, its agents and its count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType

from .. import format as fmt
from ..sessions import ThreadView
from .live_table import Col, LiveTable

WIDE = 110  # every column from this terminal width


class ThreadsTable(LiveTable[ThreadView]):
    """Conversation, agents, events, first and last times."""

    TITLE = "Threads"
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "CONVERSATION"),
        Col("agents", "FROM → TO", 30, flex=True, min=8),
        Col("events", "EVENTS"),
        Col("first", "FIRST", 19),
        Col("last", "LAST", 19),
        Col("ago", "AGO"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.threads: list[ThreadView] = []

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[ThreadView], int]:
        return self.threads[offset:offset + limit], len(self.threads)

    def key_of(self, record: ThreadView) -> str:
        return record.id

    def render_record(self, t: ThreadView, now: float) -> Sequence[RenderableType]:
        cells: dict[str, RenderableType] = {
            "id": t.id,
            "agents": f"{t.from_agent or '?'} → {t.to_agent or '?'}",
            "events": str(t.events),
            "first": fmt.timestamp(t.first_at),
            "last": fmt.timestamp(t.last_at),
            "ago": fmt.ago(now - t.last_at) if t.last_at is not None else "-",
        }
        return tuple(cells[col.key] for col in self.COLUMNS)


class NarrowThreadsTable(ThreadsTable):
    """Under :data:`WIDE` columns: conversation, agents, events and the last one's age."""

    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "CONVERSATION"),
        Col("agents", "FROM → TO", 30, flex=True, min=8),
        Col("events", "EVENTS"),
        Col("ago", "AGO"),
    )


def threads_table_for(width: int) -> type[ThreadsTable]:
    """The threads table that fits a terminal ``width`` columns wide."""
    return ThreadsTable if width >= WIDE else NarrowThreadsTable
