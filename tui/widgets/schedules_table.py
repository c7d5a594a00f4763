"""Schedules: cron and its zone, intent, active, next and last run, last status and error.

A next run in the past reads ``due`` (the scheduler is about to fire it) or
``overdue by …`` (nothing is running it: see ``catch_up``).

Every column cannot fit 80 columns, so the table comes in three widths
(:func:`schedules_table_for` picks one for the terminal's): all columns with
full times from 160 columns; below that, times relative to now (``in 4m``,
``due``, ``overdue by 2m``; ``✓ 12m ago``, the last run's status and age in
one column) beside the cron and intent, and under 110 columns only the
name, whether it is on, the next and last run and the last error. Names, times and states are never
cut; the intent and the error end with ``…`` when cut.
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

WIDE = 160    # every column, full times, from this terminal width
MEDIUM = 110  # relative times with cron and intent from this width; below it the essentials


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
    #: Next and last run relative to now (``in 4m``, ``✓ 12m ago``) rather than as full times.
    RELATIVE: ClassVar[bool] = False

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Schedule], int]:
        schedules = await host(self).queue.schedules()
        return schedules[offset:offset + limit], len(schedules)

    def key_of(self, record: Schedule) -> str:
        return record.name

    def render_record(self, s: Schedule, now: float) -> Sequence[RenderableType]:
        cells: dict[str, RenderableType] = {}
        wanted = {col.key for col in self.COLUMNS}
        cells["id"] = s.name
        cells["cron"] = s.cron
        cells["tz"] = fmt.clip(s.tz, 13)
        cells["kind"] = s.kind
        cells["intent"] = fmt.clip(s.intent, 16) if not self.RELATIVE else s.intent
        if "active" in wanted:
            cells["active"] = (Text("yes", style=fmt.colour_of("online")) if s.active
                               else Text("no", style=fmt.colour_of("offline")))
        cells["next"] = self._next_run(s, now)
        if "last" in wanted:
            cells["last"] = self._last_run(s, now)
        cells["status"] = fmt.state(s.last_status) if s.last_status else fmt.dim("-")
        cells["error"] = Text(fmt.clip(s.last_error, 60 if not self.RELATIVE else 400), style=fmt.colour_of("error"))
        return tuple(cells[col.key] for col in self.COLUMNS)

    def _next_run(self, s: Schedule, now: float) -> RenderableType:
        if not s.active:
            return fmt.dim("-")
        if s.next_run_at is None:
            return "-"
        grace = host(self).queue.settings.misfire_grace
        if s.next_run_at <= now:
            return Text(fmt.next_run(s.next_run_at, now, grace),
                        style=fmt.colour_of("error" if now - s.next_run_at > grace else "running"))
        return f"in {fmt.until(s.next_run_at - now)}" if self.RELATIVE else fmt.timestamp(s.next_run_at)

    def _last_run(self, s: Schedule, now: float) -> RenderableType:
        if not self.RELATIVE:
            return fmt.timestamp(s.last_run_at)
        if s.last_run_at is None:
            return fmt.dim("-")
        age = f"{fmt.ago(now - s.last_run_at)} ago"
        if not s.last_status:
            return age
        return Text(f"{fmt.state_glyph(s.last_status)} {age}", style=fmt.colour_of(s.last_status), no_wrap=True)

    @property
    def selected_schedule(self) -> Schedule | None:
        return self.selected_record


class MediumSchedulesTable(SchedulesTable):
    """Under 160 columns: relative times, the last run's status beside its age, no zone or kind."""

    RELATIVE = True
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "NAME"),
        Col("cron", "CRON"),
        Col("intent", "INTENT", 16, flex=True, min=10),
        Col("active", "ON"),
        Col("next", "NEXT RUN"),
        Col("last", "LAST RUN"),
        Col("error", "LAST ERROR", 20, flex=True, min=10),
    )


class NarrowSchedulesTable(SchedulesTable):
    """Under 110 columns: the name, on or off, the next and last run, the last error."""

    RELATIVE = True
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "NAME"),
        Col("active", "ON"),
        Col("next", "NEXT RUN"),
        Col("last", "LAST RUN"),
        Col("error", "LAST ERROR", 20, flex=True, min=10),
    )


def schedules_table_for(width: int) -> type[SchedulesTable]:
    """The schedules table that fits a terminal ``width`` columns wide."""
    if width >= WIDE:
        return SchedulesTable
    return MediumSchedulesTable if width >= MEDIUM else NarrowSchedulesTable
