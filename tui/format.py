"""Turning engine records into cells: state badges, progress bars, ages.

Every state's colour is defined here, once (the engine names states, the
TUI decides how they look); times and durations come from
:mod:`queuetop.engine.model.display`. Nothing here reads the database.
"""

from __future__ import annotations

from enum import Enum

from rich.text import Text

from queuetop.engine.model.display import ago, duration, timestamp

__all__ = ["ago", "duration", "timestamp", "state", "progress", "clip", "number", "dim"]


# One colour per state name, for every screen.
STATE_COLOURS: dict[str, str] = {
    "pending": "grey62",
    "delivering": "dodger_blue1",
    "delivered": "green3",
    "running": "dodger_blue1",
    "processing": "dodger_blue1",
    "completed": "green3",
    "partial": "dark_orange",
    "failed": "red1",
    "cancelled": "grey50",
    "online": "green3",
    "stopping": "yellow",
    "offline": "grey50",
    "stale": "red1",
    "ACTIVE": "green3",
    "QUIET": "yellow",
    "ARCHIVED": "grey50",
    "open": "red1",
    "half_open": "yellow",
    "closed": "green3",
    "ok": "green3",
    "error": "red1",
}


def colour(state: str | Enum) -> str:
    """The colour for a state name (or enum member); white for unknown names."""
    name = state.value if isinstance(state, Enum) else state
    return STATE_COLOURS.get(name, "white")


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
