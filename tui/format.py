"""Turning engine records into cells: state badges, progress bars, ages, clipped text.

How each state looks (colour and glyph) is defined once, in
:mod:`queuetop.engine.model.display`; times and durations come from there
too. Widths are measured in terminal cells (:mod:`rich.cells`), so wide
characters (Hangul, CJK, emoji) count as two. Nothing here reads the
database.

Cells drawn from the clock (ages, countdowns, "due"/"overdue by") say when
their text next changes: each one notes it in the innermost
:meth:`ClockCells.watch` around its rendering, so a screen repaints a table
for the clock only when something it shows would read differently.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from rich.cells import cell_len
from rich.text import Text

from queuetop.engine.model import display
from queuetop.engine.model.display import STATE_LOOKS, job_outcome, state_colour, state_glyph, timestamp

__all__ = ["ago", "until", "duration", "took", "changes_at", "next_run", "timestamp", "state", "progress", "clip", "number", "dim",
           "colour_of", "job_outcome", "state_glyph", "ELLIPSIS", "ClockCells", "CLOCK_CELLS"]

ELLIPSIS = display.ELLIPSIS

# -- cells drawn from the clock -------------------------------------------------------

_UNITS = (86400.0, 3600.0, 60.0, 1.0)  # the steps display.ago shows: days, hours, minutes, seconds


def _unit(seconds: float) -> float:
    return next((size for size in _UNITS if seconds >= size), 1.0)


def _age_step(seconds: float) -> float:
    """Seconds until ``display.ago(seconds)`` reads differently as ``seconds`` grows with the clock."""
    if seconds < 0:
        return 1.0 - seconds  # shown as 0s until a second has passed
    size = _unit(seconds)
    return (math.floor(seconds / size) + 1) * size - seconds


def _countdown_step(seconds: float) -> float:
    """Seconds until ``display.ago(seconds)`` reads differently as ``seconds`` shrinks with the clock."""
    if seconds <= 0:
        return math.inf
    size = _unit(seconds)
    return seconds - math.floor(seconds / size) * size or size


class ClockCells:
    """When the cells rendered from the clock next read differently.

    ``with CLOCK_CELLS.watch() as seen:`` around a rendering collects, in
    ``seen.within``, the fewest seconds (of the clock the cells were rendered
    against) until one of its clock-drawn cells changes: ``inf`` when none
    would. Outside a watch nothing is collected. Watches nest; each cell
    notes into the innermost one.
    """

    def __init__(self) -> None:
        self.within = math.inf
        self._watching: list[ClockCells] = []

    def note(self, seconds: float) -> None:
        """A cell rendered now reads differently after ``seconds``."""
        if self._watching:
            top = self._watching[-1]
            if seconds < top.within:
                top.within = max(0.0, seconds)

    @contextmanager
    def watch(self) -> Iterator[ClockCells]:
        seen = ClockCells()
        self._watching.append(seen)
        try:
            yield seen
        finally:
            self._watching.pop()
            if self._watching:  # an outer watch saw these cells too
                self.note(seen.within)


CLOCK_CELLS = ClockCells()


def ago(seconds: float | None) -> str:
    """An age that grows with the clock (``now - then``): ``4s``, ``12m``, ``3h``, ``2d``."""
    if seconds is not None:
        CLOCK_CELLS.note(_age_step(seconds))
    return display.ago(seconds)


def until(seconds: float | None) -> str:
    """A countdown that shrinks with the clock (``then - now``), in ``ago``'s units; ``0s`` once it passed."""
    if seconds is not None:
        CLOCK_CELLS.note(_countdown_step(seconds))
    return display.ago(seconds)


def duration(seconds: float | None) -> str:
    """A duration with sub-second precision where it matters (a running one changes every tick below 10 s)."""
    if seconds is not None:
        CLOCK_CELLS.note(0.0 if seconds < 10 else _age_step(seconds))
    return display.duration(seconds)


def took(seconds: float | None) -> str:
    """How long something that ended took: as :func:`duration`, but fixed (nothing to repaint for)."""
    return display.duration(seconds)


def next_run(ts: float | None, now: float, grace: float = 60.0) -> str:
    """A schedule's next run (see :func:`display.next_run`): its time, ``due``, then ``overdue by 3h``."""
    if ts is not None:
        if ts > now:
            CLOCK_CELLS.note(ts - now)
        elif now - ts <= grace:
            CLOCK_CELLS.note(ts + grace - now)
        else:
            CLOCK_CELLS.note(_age_step(now - ts))
    return display.next_run(ts, now, grace)


def changes_at(ts: float | None, now: float) -> None:
    """A cell rendered now changes when the clock reaches ``ts`` (a heartbeat going stale, say)."""
    if ts is not None and ts >= now:
        CLOCK_CELLS.note(ts - now)

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
    return display.clip(text, width, cell_len)


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
