"""The recent runs of one schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.message import Message
from rich.text import Text

from queuetop.engine.model.records import ScheduleRun

from ..host import host
from ..messages import RunSelected
from .. import format as fmt
from .live_table import Col, LiveTable


class ScheduleRunsTable(LiveTable[ScheduleRun]):
    """Runs of the schedule under the cursor, newest first."""

    TITLE = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="runs.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "RUN", 6),
        Col("for", "SCHEDULED FOR", 19),
        Col("status", "STATUS"),
        Col("took", "TOOK", 6),
        Col("job", "JOB", 6),
        Col("error", "ERROR", 60, flex=True, min=8),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.schedule_name: str | None = None

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[ScheduleRun], int]:
        if self.schedule_name is None:
            return [], 0
        runs = await host(self).queue.schedule_runs(self.schedule_name, limit=limit)
        self.border_title = f"Runs · {self.schedule_name}"
        return runs, len(runs)

    def key_of(self, record: ScheduleRun) -> str:
        return str(record.id)

    def render_record(self, r: ScheduleRun, now: float) -> Sequence[RenderableType]:
        took = fmt.took(r.finished_at - r.started_at) if r.finished_at is not None else "…"
        return (
            str(r.id),
            fmt.timestamp(r.scheduled_for),
            fmt.state(r.status),
            took,
            str(r.job_id) if r.job_id is not None else "-",
            Text(fmt.clip(r.error, 400), style=fmt.colour_of("error")),
        )

    def opened(self, key: str, record: ScheduleRun | None) -> Message | None:
        return None if record is None else RunSelected(record, self.schedule_name or "")
