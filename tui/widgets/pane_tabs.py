"""The dashboard's tab bar: which panes there are, their keys, and which one shows.

Shown only when the terminal is too small for every pane at once (see
``DashboardScreen``); the panes it names are one key away.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class PaneTabs(Static):
    """``1 Jobs  2 Work sessions  3 Workers  4 Event feed``, the shown ones highlighted."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._shown: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def show(self, titles: Sequence[str], shown: Sequence[str]) -> None:
        """Name every pane with its number key; ``shown`` are on screen now."""
        key = (tuple(titles), tuple(shown))
        if key == self._shown:
            return
        self._shown = key
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, title in enumerate(titles, 1):
            on = title in shown
            text.append(f" {n} ", style="bold reverse" if on else "bold")
            text.append(f" {title} ", style="bold" if on else "dim")
            text.append(" ")
        self.update(text)
