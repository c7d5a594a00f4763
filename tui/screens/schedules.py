"""Schedules: cron schedules with their last runs; space turns one on or off, n runs it now.

The schedules table fits the terminal's width (see
:func:`~queuetop.tui.widgets.schedules_table.schedules_table_for`): a resize
across one of its widths composes the screen again, the cursor kept on its
schedule.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import DataTable

from queuetop.engine.model.changes import SCHEDULES

from ..host import host
from ..messages import LoadFailed
from ..widgets.schedule_runs_table import ScheduleRunsTable
from ..widgets.schedules_table import SchedulesTable, schedules_table_for
from ..widgets.key_footer import KeyFooter
from ..widgets.stale_banner import StaleBanner
from .base import LiveScreenBase


class SchedulesScreen(LiveScreenBase):
    """Every schedule and the runs of the one under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="schedules.back"),
        Binding("space", "toggle_active", "On/off", id="schedules.toggle"),
        Binding("n", "run_now", "Run now", id="schedules.run"),
    ]

    def compose(self) -> ComposeResult:
        yield StaleBanner(id="stale")
        yield schedules_table_for(self.app.size.width)(id="schedules")
        yield ScheduleRunsTable(id="schedule-runs")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(SchedulesTable).focus()

    def on_resize(self, event: Resize) -> None:
        self.refit(SchedulesTable, schedules_table_for, event.size.width)

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        table = self.query_one(SchedulesTable)
        if topics & {SCHEDULES} or not table.loaded:
            await self.reload_table(table)
            self.keep_cursor(table)
            runs = self.query_one(ScheduleRunsTable)
            schedule = table.selected_schedule
            runs.schedule_name = schedule.name if schedule else None
            await self.reload_table(runs)

    @on(DataTable.RowHighlighted, "#schedules")
    async def _moved(self, event: DataTable.RowHighlighted) -> None:
        runs = self.query_one(ScheduleRunsTable)
        name = event.row_key.value
        if name == runs.schedule_name:
            return
        runs.schedule_name = name
        try:
            await self.reload_table(runs, anchor=False)
        except Exception as exc:
            self.post_message(LoadFailed(exc))

    def action_back(self) -> None:
        self.dismiss()

    def action_toggle_active(self) -> None:
        schedule = self.query_one(SchedulesTable).selected_schedule
        if schedule is None:
            return
        queue = host(self).queue
        active = not schedule.active

        async def toggle() -> object:
            result = await queue.set_schedule_active(schedule.name, active)
            return _Said(f"schedule {schedule.name}: {'on' if result.active else 'off'}")

        host(self).act("toggle schedule", [toggle])

    def action_run_now(self) -> None:
        schedule = self.query_one(SchedulesTable).selected_schedule
        if schedule is None:
            return
        queue = host(self).queue

        async def run() -> object:
            r = await queue.run_schedule_now(schedule.name)
            job = f": job {r.job_id}" if r.job_id is not None else ""
            return _Said(f"schedule {schedule.name} ran now ({r.status}{job})" + (f": {r.error}" if r.error else ""))

        host(self).act("run schedule", [run])


class _Said:
    """An action outcome with a message for the notification."""

    def __init__(self, message: str) -> None:
        self.message = message
