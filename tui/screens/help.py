"""Help: every key of the screen below, built from the same bindings as its footer."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

NOTES = (
    "space toggles the row under the cursor and leaves the cursor where it is: it tags a job on the "
    "dashboard (r/c/f then act on every tagged job) and turns a schedule on or off on the schedules screen.\n"
    "enter opens the record under the cursor whole (a chunk's attempts, an event's payload, a worker's "
    "errors, a run's error); y copies it.\n"
    "Destructive actions (cancel, finalize, retry of several jobs) ask first; one that would be refused "
    "says why at once instead. ctrl+p opens the command palette. A second ctrl+c exits at once. "
    "With --read-only every action is refused and says so."
)


# Bindings that Textual adds but that do nothing useful in row-cursor tables.
NOISE = frozenset({"cursor_left", "cursor_right", "page_left", "page_right", "scroll_top", "scroll_bottom",
                   "copy_text", "scroll_home", "scroll_end"})


class HelpScreen(ModalScreen[None]):
    """The keys that apply on the screen it was opened from."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", key_display="esc", id="help.close"),
        Binding("j", "scroll(1)", "Scroll down", show=False, id="help.down"),
        Binding("k", "scroll(-1)", "Scroll up", show=False, id="help.up"),
    ]

    def __init__(self, under: Screen[Any]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = f"Keys · {type(self.under).__name__.removesuffix('Screen')}"
            yield Static(self._table(), id="keys")
            yield Static(Text(NOTES, style="dim"), id="notes")

    def on_mount(self) -> None:
        self.call_after_refresh(self._hint)

    def on_resize(self) -> None:
        self.call_after_refresh(self._hint)

    def _hint(self) -> None:
        """Say how to reach what the box cannot show (a small terminal), and how to leave."""
        box = self.query_one("#help", VerticalScroll)
        box.border_subtitle = "j/k ↑/↓ scroll · esc close" if box.max_scroll_y > 0 else "esc close"

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help", VerticalScroll).scroll_relative(y=lines, animate=False)

    def _table(self) -> Table:
        """The active bindings of the screen below (what its footer shows), in three sections."""
        sections: dict[str, list[tuple[str, str]]] = {"This screen": [], "Everywhere": [], "Moving around": []}
        seen: set[tuple[str, str]] = set()
        for key, active in self.under.active_bindings.items():
            binding = active.binding
            if binding.system or not binding.description or binding.action.rsplit(".", 1)[-1] in NOISE:
                continue
            if (key, binding.action) in seen:
                continue
            seen.add((key, binding.action))
            shown = self.app.get_key_display(binding.with_key(key) if "," in binding.key else binding)
            if binding.key_display and "," not in binding.key:
                shown = binding.key_display
            if active.node is self.app:
                section = "Everywhere"
            elif binding.show:
                section = "This screen"
            else:
                section = "Moving around"
            sections[section].append((shown, binding.description + ("" if active.enabled else " (not here)")))
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", min_width=10)
        table.add_column()
        for title, rows in sections.items():
            if not rows:
                continue
            table.add_row("", Text(title, style="bold underline"))
            for shown, description in rows:
                table.add_row(shown, description)
            table.add_row("", "")
        return table

    def action_close(self) -> None:
        self.dismiss(None)
