"""The `/` filter line: hidden until asked for, escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from ..paint_hold import PaintHold


class FilterInput(Input):
    """Text that narrows a pane; posts :class:`FilterInput.Closed` on escape/enter.

    A key that changes the text holds the app's paints (:attr:`hold`) until
    whoever filters on :class:`Input.Changed` releases them with the rows
    it found (or the deadline passes): the echo and the rows show in one
    frame. A key that leaves the text as it was releases them at once.
    """

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
        self.hold: PaintHold | None = None

    def on_key(self, event: events.Key) -> None:
        """Before the Input handles the key: hold the paints, and let go if the text did not change."""
        if self.hold is None:
            self.hold = PaintHold(self.app)
        before = self.value
        self.hold.hold()

        def unchanged() -> None:
            if self.value == before and self.hold is not None:
                self.hold.release()

        self.call_next(unchanged)

    def on_mount(self) -> None:
        self.cursor_blink = not self.app.is_headless

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Closed(True))

    def action_done(self) -> None:
        self.post_message(self.Closed(not self.value))
