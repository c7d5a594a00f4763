"""Schedules: cron and its zone, intent, active, next and last run, last status and error.

A next run in the past reads ``due`` (the scheduler is about to fire it) or
``overdue by …`` (nothing is running it: see ``catch_up``).
"""

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
        Col("cron", "CRON", 12),
        Col("tz", "TZ", 13),
        Col("kind", "KIND", 11),
        Col("intent", "INTENT", 16),
        Col("active", "ACTIVE", 6),
        Col("next", "NEXT RUN", 19),
        Col("last", "LAST RUN", 19),
        Col("status", "LAST"),
        Col("error", "LAST ERROR", 10),
    )

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Schedule], int]:
        schedules = await host(self).queue.schedules()
        return schedules[offset:offset + limit], len(schedules)

    def key_of(self, record: Schedule) -> str:
        return record.name

    def render_record(self, s: Schedule, now: float) -> Sequence[RenderableType]:
        active = Text("yes", style=fmt.colour_of("online")) if s.active else Text("no", style=fmt.colour_of("offline"))
        if not s.active:
            next_run: RenderableType = fmt.dim("-")
        elif s.next_run_at is not None and s.next_run_at <= now:
            grace = host(self).queue.settings.misfire_grace
            next_run = Text(fmt.next_run(s.next_run_at, now, grace),
                            style=fmt.colour_of("error" if now - s.next_run_at > grace else "running"))
        else:
            next_run = fmt.timestamp(s.next_run_at)
        return (
            s.name,
            s.cron,
            fmt.clip(s.tz, 13),
            s.kind,
            fmt.clip(s.intent, 16),
            active,
            next_run,
            fmt.timestamp(s.last_run_at),
            fmt.state(s.last_status) if s.last_status else fmt.dim("-"),
            Text(fmt.clip(s.last_error, 60), style=fmt.colour_of("error")),
        )

    @property
    def selected_schedule(self) -> Schedule | None:
        return self.selected_record
