"""The threads (conversations) of one work session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType

from .. import format as fmt
from ..sessions import ThreadView
from .live_table import Col, LiveTable


class ThreadsTable(LiveTable[ThreadView]):
    """Conversation, agents, events, first and last times."""

    TITLE = "Threads"
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "CONVERSATION", 28),
        Col("agents", "FROM → TO", 30, flex=True, min=8),
        Col("events", "EVENTS", 6),
        Col("first", "FIRST", 19),
        Col("last", "LAST", 19),
        Col("ago", "AGO", 5),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.threads: list[ThreadView] = []

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[ThreadView], int]:
        return self.threads[offset:offset + limit], len(self.threads)

    def key_of(self, record: ThreadView) -> str:
        return record.id

    def render_record(self, t: ThreadView, now: float) -> Sequence[RenderableType]:
        return (
            t.id,
            f"{t.from_agent or '?'} → {t.to_agent or '?'}",
            str(t.events),
            fmt.timestamp(t.first_at),
            fmt.timestamp(t.last_at),
            fmt.ago(now - t.last_at) if t.last_at is not None else "-",
        )
