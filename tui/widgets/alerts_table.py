"""Alerts: kind, delivery state, tries, when raised, where it goes (webhooks redacted), summary.

Under 100 columns the TO column is left out (:func:`alerts_table_for`): with
the longest kind and state it pushed the table past 80 columns, where a
horizontal scrollbar showed as a stray ``▉``. ``enter`` shows where an
alert goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from queuetop.engine.api import Alert

from ..host import host
from ..messages import AlertSelected
from .. import format as fmt
from .live_table import Col, LiveTable

# The screen shows the newest alerts; `queuetop alerts --limit N` reaches further back.
SHOWN = 500


class AlertsTable(LiveTable[Alert]):
    """The newest alerts, with their delivery state."""

    TITLE = "Alerts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="alerts.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "ID"),
        Col("kind", "KIND"),
        Col("status", "STATE"),
        Col("tries", "TRIES"),
        Col("raised", "RAISED", 8),
        Col("to", "TO", 30, flex=True, min=8),
        Col("summary", "SUMMARY", 50, flex=True, min=10),
        Col("error", "LAST ERROR", 30, flex=True, min=6),
    )

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Alert], int]:
        alerts = await host(self).queue.alerts(limit=SHOWN)
        return alerts[offset:offset + limit], len(alerts)

    def key_of(self, record: Alert) -> str:
        return str(record.id)

    def render_record(self, a: Alert, now: float) -> Sequence[RenderableType]:
        to = " + ".join(filter(None, [a.webhook, a.submit and f"submit {a.submit}"]))
        repeats = f" (+{a.repeats})" if a.repeats else ""
        cells: dict[str, RenderableType] = {
            "id": str(a.id),
            "kind": a.kind.value,
            "status": fmt.state(a.status.value),
            "tries": str(a.attempts),
            "raised": fmt.ago(now - a.created_at),
            "to": fmt.clip(to, 30),
            "summary": fmt.clip(a.summary + repeats, 80),
            "error": Text(fmt.clip(a.last_error, 60), style=fmt.colour_of("error")),
        }
        return tuple(cells[col.key] for col in self.COLUMNS)

    def opened(self, key: str, record: Alert | None) -> Message | None:
        return AlertSelected(int(key))


class NarrowAlertsTable(AlertsTable):
    """Under 100 columns: every column but TO (the alert's detail shows it)."""

    COLUMNS: ClassVar[tuple[Col, ...]] = tuple(col for col in AlertsTable.COLUMNS if col.key != "to")


NARROW = 100  # the TO column from this terminal width


def alerts_table_for(width: int) -> type[AlertsTable]:
    """The alerts table that fits a terminal ``width`` columns wide."""
    return AlertsTable if width >= NARROW else NarrowAlertsTable
