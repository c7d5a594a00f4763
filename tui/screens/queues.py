"""Queues: every queue with its counts, limits, rate and pause; p pauses or resumes the one under the cursor."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from queuetop.engine.model.changes import CHUNKS, JOBS, QUEUE

from ..host import host
from ..messages import QueueChosen
from ..widgets.key_footer import KeyFooter
from ..widgets.queues_table import QueuesTable
from ..widgets.stale_banner import StaleBanner
from .base import LiveScreenBase

NOTE = ("PEND/RUN: chunks · DONE/FAIL: jobs ended in the last hour · LIMIT: all engines together · "
        "LOCAL: per engine · NEXT: when the rate allows the next start")


class QueuesScreen(LiveScreenBase):
    """Every queue; p pauses or resumes the one under the cursor (asking first), enter shows its jobs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="queues.back"),
        Binding("p", "toggle_queue", "Pause/resume queue", id="queues.pause"),
    ]

    def compose(self) -> ComposeResult:
        yield StaleBanner(id="stale")
        yield QueuesTable(id="queues")
        yield Static(NOTE, id="queues-note")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(QueuesTable).focus()

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        table = self.query_one(QueuesTable)
        if topics & {QUEUE, JOBS, CHUNKS} or not table.loaded:
            await self.reload_table(table)

    def action_back(self) -> None:
        self.dismiss()

    def on_queue_chosen(self, message: QueueChosen) -> None:
        """Enter on a queue: back to the dashboard, which the app shows that queue's jobs (the message goes on up)."""
        self.dismiss()

    def action_toggle_queue(self) -> None:
        chosen = self.query_one(QueuesTable).selected_queue
        if chosen is None:
            return
        queue, name = host(self).queue, chosen.name
        if chosen.paused:
            host(self).act("resume queue", [lambda: queue.resume(queue=name)],
                           confirm=f"Resume queue {name}? Its pending chunks start again.")
        else:
            host(self).act("pause queue", [lambda: queue.pause(by="tui", queue=name)],
                           confirm=f"Pause queue {name}? No more of its chunks start; running ones finish. "
                                   "Other queues go on.")
