"""The `/` filter line: hidden until asked for, escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """Text that narrows a pane; posts :class:`FilterInput.Closed` on escape/enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", id="filter.clear"),
        Binding("enter", "done", "Keep filter", id="filter.done"),
    ]

    class Closed(Message):
        """The operator left the filter line (``cleared`` when escape emptied it)."""

        def __init__(self, cleared: bool) -> None:
            super().__init__()
            self.cleared = cleared

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter: intent text or job id (enter keeps it, esc clears)", id=id)
        self.display = False

    def on_mount(self) -> None:
        self.cursor_blink = not self.app.is_headless

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Closed(True))

    def action_done(self) -> None:
        self.post_message(self.Closed(not self.value))
