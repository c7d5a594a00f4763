"""The Work sessions pane: coordination sessions grouped by the event tailer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.message import Message

from ..host import host
from .. import format as fmt
from ..messages import SessionSelected
from ..sessions import SessionView, count_sessions, list_sessions
from .live_table import Col, LiveTable


class SessionsTable(LiveTable[SessionView]):
    """Sessions: status, id, category, threads, events, last activity."""

    TITLE = "Work sessions"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="sessions.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("status", "STATUS"),
        Col("id", "SESSION"),
        Col("category", "CATEGORY", 17, flex=True, min=6),
        Col("threads", "THR"),
        Col("events", "EVENTS"),
        Col("last", "LAST", 5),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.search: str | None = None

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[SessionView], int]:
        queue = host(self).queue
        rows = await list_sessions(queue, search=self.search, limit=limit, offset=offset)
        return rows, await count_sessions(queue, search=self.search)

    def key_of(self, record: SessionView) -> str:
        return record.id

    def render_record(self, s: SessionView, now: float) -> Sequence[RenderableType]:
        return (
            fmt.state(s.status),
            s.id,
            s.category or "-",
            str(s.threads),
            str(s.events),
            fmt.ago(now - s.last_at) if s.last_at is not None else "-",
        )

    def opened(self, key: str, record: SessionView | None) -> Message | None:
        return SessionSelected(key)


