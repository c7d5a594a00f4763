"""Alerts: what was raised and whether it was delivered; esc goes back."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from queuetop.engine.model.changes import ALERTS

from ..widgets.alerts_table import AlertsTable
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
        yield AlertsTable(id="alerts")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(AlertsTable).focus()

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        table = self.query_one(AlertsTable)
        if topics & {ALERTS} or not table.loaded:
            await self.reload_table(table)

    def action_back(self) -> None:
        self.dismiss()
