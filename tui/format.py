"""Turning engine records into cells: state badges, progress bars, ages, clipped text.

How each state looks (colour and glyph) is defined once, in
:mod:`queuetop.engine.model.display`; times and durations come from there
too. Widths are measured in terminal cells (:mod:`rich.cells`), so wide
characters (Hangul, CJK, emoji) count as two. Nothing here reads the
database.
"""

from __future__ import annotations

from enum import Enum

from rich.cells import cell_len
from rich.text import Text

from queuetop.engine.model.display import (STATE_LOOKS, ago, duration, job_outcome, next_run, state_colour, state_glyph,
                                           timestamp)

__all__ = ["ago", "duration", "next_run", "timestamp", "state", "progress", "clip", "number", "dim", "colour_of",
           "job_outcome", "state_glyph", "ELLIPSIS"]

ELLIPSIS = "…"

# Kept under its old name for the widgets: one colour per state name.
STATE_COLOURS: dict[str, str] = {name: colour for name, (colour, _) in STATE_LOOKS.items()}


def _name(state: str | Enum) -> str:
    return state.value if isinstance(state, Enum) else str(state)


def colour(state: str | Enum) -> str:
    """The colour for a state name (or enum member); white for unknown names."""
    return state_colour(_name(state))


def state(name: str | Enum, *, bold: bool = False, suffix: str = "") -> Text:
    """A state's glyph and name in its colour: readable without colour too."""
    value = _name(name)
    style = colour(value) + (" bold" if bold else "")
    return Text(f"{state_glyph(value)} {value}{suffix}", style=style, no_wrap=True)


def progress(completed: int, failed: int, cancelled: int, total: int, width: int = 12) -> Text:
    """A bar of completed / failed / cancelled chunks out of ``total``, then the counts.

    Completed, failed and cancelled slices use their state colours; the rest
    of the bar (not ended yet) uses the pending colour. The counts are never
    cut: ``1000/1000`` stays whole (the column sizes to it).
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
        bar.append(f" {state_glyph('failed')}{failed}", style=colour("failed"))
    if cancelled:
        bar.append(f" {state_glyph('cancelled')}{cancelled}", style=colour("cancelled"))
    return bar


def clip(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` terminal cells with ``…`` when it does not fit."""
    if not text:
        return ""
    line = " ".join(str(text).split())
    if cell_len(line) <= width:
        return line
    room, used, out = width - 1, 0, []
    for char in line:
        size = cell_len(char)
        if used + size > room:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + ELLIPSIS if width > 0 else ""


def clip_text(text: Text, width: int) -> Text:
    """A rich Text cut to ``width`` cells, ending with ``…`` when it was cut (styles kept)."""
    if text.cell_len <= width:
        return text
    out = text.copy()
    out.truncate(max(width, 0), overflow="ellipsis")
    return out


def number(n: int) -> str:
    """An integer with thousands separators."""
    return f"{n:,}"


def dim(text: str) -> Text:
    return Text(text, style="dim", no_wrap=True)


def colour_of(name: str) -> str:
    """The colour of a state name (see :data:`queuetop.engine.model.display.STATE_LOOKS`)."""
    return colour(name)
