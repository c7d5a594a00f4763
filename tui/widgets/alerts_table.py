"""Alerts: kind, delivery state, tries, when raised, where it goes (webhooks redacted), summary."""

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
        return (
            str(a.id),
            a.kind.value,
            fmt.state(a.status.value),
            str(a.attempts),
            fmt.ago(now - a.created_at),
            fmt.clip(to, 30),
            fmt.clip(a.summary + repeats, 80),
            Text(fmt.clip(a.last_error, 60), style=fmt.colour_of("error")),
        )

    def opened(self, key: str, record: Alert | None) -> Message | None:
        return AlertSelected(int(key))
