"""Alerts: what was raised and whether it was delivered; esc goes back."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize

from queuetop.engine.model.changes import ALERTS

from ..widgets.alerts_table import AlertsTable, alerts_table_for
from ..widgets.key_footer import KeyFooter
from ..widgets.stale_banner import StaleBanner
from .base import LiveScreenBase


class AlertsScreen(LiveScreenBase):
    """The newest alerts and their delivery state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="alerts.back"),
    ]

    def compose(self) -> ComposeResult:
        yield StaleBanner(id="stale")
        yield alerts_table_for(self.app.size.width)(id="alerts")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(AlertsTable).focus()

    def on_resize(self, event: Resize) -> None:
        self.refit(AlertsTable, alerts_table_for, event.size.width)

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        table = self.query_one(AlertsTable)
        if topics & {ALERTS} or not table.loaded:
            await self.reload_table(table)
            self.keep_cursor(table)

    def action_back(self) -> None:
        self.dismiss()
