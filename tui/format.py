"""Turning engine records into cells: state badges, progress bars, ages.

Colours come from :mod:`queuetop.engine.model.states` only; times and durations
from :mod:`queuetop.engine.model.display`. Nothing here reads the database.
"""

from __future__ import annotations

from enum import Enum

from rich.text import Text

from queuetop.engine.model.display import ago, duration, timestamp
from queuetop.engine.model.states import colour

__all__ = ["ago", "duration", "timestamp", "state", "progress", "clip", "number", "dim"]


def state(name: str | Enum, *, bold: bool = False, suffix: str = "") -> Text:
    """A state name in its colour (``STATE_COLOURS``)."""
    value = name.value if isinstance(name, Enum) else str(name)
    style = colour(value) + (" bold" if bold else "")
    return Text(value + suffix, style=style, no_wrap=True)


def progress(completed: int, failed: int, cancelled: int, total: int, width: int = 12) -> Text:
    """A bar of completed / failed / cancelled chunks out of ``total``, then counts.

    Completed, failed and cancelled slices use their state colours; the rest
    of the bar (not ended yet) uses the pending colour.
    """
    total = max(total, 0)
    bar = Text(no_wrap=True)
    if total:
        cells = [completed, failed, cancelled]
        widths = [round(width * n / total) for n in cells]
        # Never hide a non-zero slice, never exceed the bar.
        widths = [max(w, 1) if n else 0 for w, n in zip(widths, cells)]
        while sum(widths) > width:
            widths[widths.index(max(widths))] -= 1
        for w, name in zip(widths, ("completed", "failed", "cancelled")):
            bar.append("━" * w, style=colour(name))
        bar.append("━" * (width - sum(widths)), style=f"{colour('pending')} dim")
    else:
        bar.append("━" * width, style=f"{colour('pending')} dim")
    bar.append(f" {completed}/{total}")
    if failed:
        bar.append(f" ✗{failed}", style=colour("failed"))
    return bar


def clip(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    if not text:
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def number(n: int) -> str:
    """An integer with thousands separators."""
    return f"{n:,}"


def dim(text: str) -> Text:
    return Text(text, style="dim", no_wrap=True)


def colour_of(name: str) -> str:
    """The colour of a state name (see ``STATE_COLOURS``)."""
    return colour(name)
