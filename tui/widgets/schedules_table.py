"""Schedules: cron, intent, active, next and last run, last status and error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text

from queuetop.engine.model.records import Schedule

from ..host import host
from .. import format as fmt
from .live_table import Col, LiveTable


class SchedulesTable(LiveTable[Schedule]):
    """Every schedule (they are few: no paging needed, but the window logic is shared)."""

    TITLE = "Schedules"
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "NAME", 26),
        Col("cron", "CRON", 13),
        Col("kind", "KIND", 11),
        Col("intent", "INTENT", 22),
        Col("active", "ACTIVE", 6),
        Col("next", "NEXT RUN", 19),
        Col("last", "LAST RUN", 19),
        Col("status", "LAST"),
        Col("error", "LAST ERROR", 18),
    )

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Schedule], int]:
        schedules = await host(self).queue.schedules()
        return schedules[offset:offset + limit], len(schedules)

    def key_of(self, record: Schedule) -> str:
        return record.name

    def render_record(self, s: Schedule, now: float) -> Sequence[RenderableType]:
        active = Text("yes", style=fmt.colour_of("online")) if s.active else Text("no", style=fmt.colour_of("offline"))
        return (
            s.name,
            s.cron,
            s.kind,
            fmt.clip(s.intent, 22),
            active,
            fmt.timestamp(s.next_run_at) if s.active else fmt.dim("-"),
            fmt.timestamp(s.last_run_at),
            fmt.state(s.last_status) if s.last_status else fmt.dim("-"),
            Text(fmt.clip(s.last_error, 60), style=fmt.colour_of("error")),
        )

    @property
    def selected_schedule(self) -> Schedule | None:
        return self.selected_record
