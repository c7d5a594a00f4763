"""The banner that says the data on screen is stale, and why."""

from __future__ import annotations

from textual.widgets import Static

from .. import format as fmt


class StaleBanner(Static):
    """Hidden while reads work; shown with the reason while they fail."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.display = False

    def show_stale(self, reason: str, since: float) -> None:
        self.update(f"⚠ Data is stale since {fmt.timestamp(since)} UTC: {reason}. "
                    "Showing the last data read; checking again with back-off.")
        self.display = True

    def show_fresh(self) -> None:
        self.display = False
