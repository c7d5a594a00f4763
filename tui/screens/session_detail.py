"""Work session detail: its fields, its threads and its newest events.

Under 110 columns the fields take two to a line and the tables their narrow
forms (:func:`~queuetop.tui.widgets.threads_table.threads_table_for`); a resize
across that width composes the screen again.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import Static

from queuetop.engine.model.changes import EVENTS, SESSIONS
from queuetop.engine.model.exceptions import NotFound

from ..host import host
from .. import format as fmt
from ..sessions import SessionView, get_session
from ..widgets.session_events_table import SessionEventsTable, session_events_table_for
from ..widgets.key_footer import KeyFooter
from ..widgets.stale_banner import StaleBanner
from ..widgets.threads_table import WIDE, ThreadsTable, threads_table_for
from .base import LiveScreenBase


class SessionDetailScreen(LiveScreenBase):
    """One work session, live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="session.back"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: SessionView | None = None

    def compose(self) -> ComposeResult:
        width = self.app.size.width
        yield StaleBanner(id="stale")
        fields = Static("loading…", id="session-fields")
        fields.border_title = f"Work session {self.session_id}"
        if self.session is not None:
            fields.update(self._fields(self.session, width))
        yield fields
        yield threads_table_for(width)(id="threads")
        yield session_events_table_for(width)(self.session_id, id="session-events")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(ThreadsTable).focus()

    def on_resize(self, event: Resize) -> None:
        self.refit(ThreadsTable, threads_table_for, event.size.width)

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        if self.session is not None and not topics & {SESSIONS, EVENTS}:
            return
        try:
            session, threads = await get_session(host(self).queue, self.session_id)
        except NotFound:
            self.query_one("#session-fields", Static).update(f"work session {self.session_id} no longer exists")
            return
        self.session = session
        self._show(session)
        table = self.query_one(ThreadsTable)
        table.threads = threads
        await self.reload_table(table)
        events = self.query_one(SessionEventsTable)
        events.event_total = session.events
        await self.reload_table(events)

    def _show(self, s: SessionView) -> None:
        self.query_one("#session-fields", Static).update(self._fields(s, self.app.size.width))

    def _fields(self, s: SessionView, width: int) -> Table:
        """The session's fields, three to a line, or two under :data:`WIDE` columns (no line wraps)."""
        now = host(self).queue.clock.now()
        wide = width >= WIDE
        last = fmt.timestamp(s.last_at)
        if wide:
            last += f" ({fmt.ago(now - s.last_at) if s.last_at else '-'} ago)"
        field = {
            "status": fmt.state(s.status, bold=True),
            "category": Text(s.category or "-"),
            "agents": Text(fmt.clip(", ".join(s.agents) or "-", 50 if wide else 24)),
            "first": Text(fmt.timestamp(s.first_at)),
            "last": Text(last),
            "counts": Text(f"{s.threads} thread(s), {s.events} event(s)"),
        }
        lines = ((("status", "category", "agents"), ("first", "last", "counts")) if wide
                 else (("status", "category"), ("agents", "counts"), ("first", "last")))
        grid = Table.grid(padding=(0, 2 if wide else 1))
        for _ in range(len(lines[0]) * 2):
            grid.add_column(no_wrap=True, overflow="ellipsis")
        for line in lines:
            grid.add_row(*(cell for label in line for cell in (Text(label, style="dim"), field[label])))
        return grid

    def action_back(self) -> None:
        self.dismiss()
