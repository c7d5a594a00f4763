"""Work session detail: its fields, its threads and its newest events."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from queuetop.engine.model.changes import EVENTS, SESSIONS
from queuetop.engine.model.exceptions import NotFound

from ..host import host
from .. import format as fmt
from ..sessions import SessionView, get_session
from ..widgets.session_events_table import SessionEventsTable
from ..widgets.key_footer import KeyFooter
from ..widgets.stale_banner import StaleBanner
from ..widgets.threads_table import ThreadsTable
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
        yield StaleBanner(id="stale")
        yield Static("loading…", id="session-fields")
        yield ThreadsTable(id="threads")
        yield SessionEventsTable(self.session_id, id="session-events")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#session-fields", Static).border_title = f"Work session {self.session_id}"
        self.query_one(ThreadsTable).focus()

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
        now = host(self).queue.clock.now()
        grid = Table.grid(padding=(0, 2))
        for _ in range(6):
            grid.add_column()
        label = "dim"
        grid.add_row(Text("status", style=label), fmt.state(s.status, bold=True),
                      Text("category", style=label), Text(s.category or "-"),
                      Text("agents", style=label), Text(fmt.clip(", ".join(s.agents) or "-", 50)))
        grid.add_row(Text("first", style=label), Text(fmt.timestamp(s.first_at)),
                     Text("last", style=label),
                     Text(f"{fmt.timestamp(s.last_at)} ({fmt.ago(now - s.last_at) if s.last_at else '-'} ago)"),
                     Text("counts", style=label), Text(f"{s.threads} thread(s), {s.events} event(s)"))
        self.query_one("#session-fields", Static).update(grid)

    def action_back(self) -> None:
        self.dismiss()
