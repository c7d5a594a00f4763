"""Holding the screen's paints while a key's effect is on its way, so that it shows in one frame.

Textual paints at most once a frame (1/60 s), and the frame after an idle
moment goes out at once. A keystroke in the filter line changes the screen
twice: the line echoes the character at once, the jobs it finds come a
query later. Painted separately, the echo takes the immediate frame and the
rows wait for a frame slot after it: up to two frames (33 ms) more than the
query took. Held until the rows are applied (or a deadline passes), the
echo and the rows go out together, painted as they are released rather
than at the next slot of the frame timer (the frame before, a moment ago,
was the previous key's).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from textual.timer import Timer

HOLD = 0.05  # seconds: the longest a held key's echo waits for the rest of its effect


class PaintHold:
    """One app's paints held between :meth:`hold` and :meth:`release` (or the deadline)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._batch: AbstractContextManager[None] | None = None
        self._deadline: Timer | None = None

    def hold(self, seconds: float = HOLD) -> None:
        """Hold paints from now (again: for ``seconds`` from now) until released."""
        if self._batch is None:
            self._batch = self.app.batch_update()
            self._batch.__enter__()
        if self._deadline is not None:
            self._deadline.stop()
        self._deadline = self.app.set_timer(seconds, self.release, name="paint-hold")

    def release(self) -> None:
        """Paint what is pending now (nothing if nothing was held)."""
        if self._deadline is not None:
            self._deadline.stop()
            self._deadline = None
        if self._batch is None:
            return
        batch, self._batch = self._batch, None
        batch.__exit__(None, None, None)
        screen = self.app.screen
        paint_now = getattr(screen, "_on_timer_update", None)  # what the frame timer runs
        if callable(paint_now) and not self.app._batch_count:
            paint_now()
        else:  # the screen looks for work when its queue goes idle: it may have, while held
            screen.check_idle()
