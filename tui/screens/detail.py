"""What every detail view shares: a title, sections of whole text (wrapped, scrollable), ``y`` to copy.

A detail screen shows one record whole, nothing cut: params, results and
payloads as indented JSON, errors in full. Subclasses say how to load their
sections; the same text that is shown is what ``y`` copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from queuetop.engine.model.exceptions import NotFound

from ..host import host
from ..widgets.key_footer import KeyFooter
from ..widgets.stale_banner import StaleBanner
from .base import LiveScreenBase


@dataclass(frozen=True)
class Section:
    """One titled part of a detail view: its text, and the style of that text."""

    title: str
    text: str
    style: str = ""


def pretty(value: Any) -> str:
    """A JSON value indented for reading (``-`` for nothing)."""
    if value is None:
        return "-"
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def fields(*pairs: tuple[str, object]) -> str:
    """``name  value`` lines, names padded to line up."""
    width = max((len(name) for name, _ in pairs), default=0)
    return "\n".join(f"{name.ljust(width)}  {'-' if value is None else value}" for name, value in pairs)


class DetailScreen(LiveScreenBase):
    """One record, whole; live while its topics change."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("y", "copy", "Copy", id="detail.copy"),
        # Moving around, as in every table: a line, then the top and the end.
        Binding("j", "scroll_lines(1)", "Scroll down", show=False, id="detail.down"),
        Binding("k", "scroll_lines(-1)", "Scroll up", show=False, id="detail.up"),
        Binding("g", "scroll_to_edge('top')", "Top", show=False, id="detail.top"),
        Binding("G", "scroll_to_edge('end')", "End", show=False, id="detail.end"),
    ]
    TOPICS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[Section] = []
        self.title_text = ""

    def compose(self) -> ComposeResult:
        yield StaleBanner(id="stale")
        with VerticalScroll(id="detail"):
            yield Static("loading…", id="detail-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#detail", VerticalScroll).focus()

    async def load(self) -> tuple[str, list[Section]]:
        """The title and sections to show (raise ``NotFound`` when the record is gone)."""
        raise NotImplementedError

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        if self.sections and not topics & self.TOPICS:
            return
        try:
            title, sections = await self.load()
        except NotFound as exc:
            title, sections = self.title_text or "gone", [Section("gone", str(exc), "bold")]
        if (title, sections) == (self.title_text, self.sections):
            return
        self.title_text, self.sections = title, sections
        box = self.query_one("#detail", VerticalScroll)
        box.border_title = title
        self.query_one("#detail-body", Static).update(self.render_sections())

    def render_sections(self) -> RenderableType:
        parts: list[RenderableType] = []
        for section in self.sections:
            parts.append(Text(section.title, style="bold underline"))
            parts.append(Text(section.text + "\n", style=section.style))
        return Group(*parts)

    @property
    def plain(self) -> str:
        """What ``y`` copies: the title and every section, as shown."""
        body = "\n\n".join(f"{s.title}\n{s.text}" for s in self.sections)
        return f"{self.title_text}\n\n{body}\n"

    def tick(self) -> None:
        """Nothing here ages on screen."""

    def action_copy(self) -> None:
        text = self.plain
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {self.title_text} ({text.count(chr(10))} lines) to the clipboard", timeout=3)

    def action_back(self) -> None:
        self.dismiss()

    def action_scroll_lines(self, lines: int) -> None:
        self.query_one("#detail", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_scroll_to_edge(self, edge: str) -> None:
        box = self.query_one("#detail", VerticalScroll)
        if edge == "top":
            box.scroll_home(animate=False)
        else:
            box.scroll_end(animate=False)

    @property
    def queue(self) -> Any:
        return host(self).queue
