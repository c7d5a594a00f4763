"""Throughput: chunks ended per second, with a sparkline of the last minutes.

The rate comes from the header's totals (completed + failed chunks: work
that ran) sampled against the engine's clock: no extra query. Cancelled
chunks are left out: cancelling a job of 10,000 pending chunks would show as
a burst of throughput that no worker did. With a frozen clock nothing moves,
so snapshots stay still.
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

BUCKET = 5.0  # seconds per sparkline bar
HISTORY = 60  # bars kept: five minutes


class Throughput(Vertical):
    """A rate and a sparkline of recent rates."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rates: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        self._start: tuple[float, int] | None = None
        self.rate = 0.0
        self._shown_idle = True

    def compose(self) -> ComposeResult:
        yield Static("0.0 chunks/s", id="rate")
        yield Sparkline(list(self._rates), summary_function=max, id="spark")

    def sample(self, now: float, ended: int) -> None:
        """Feed the number of chunks run to an end at ``now``; closes a bar every BUCKET seconds."""
        if self._start is None or ended < self._start[1]:
            self._start = (now, ended)
            return
        started, base = self._start
        if now - started < BUCKET:
            return
        self.rate = (ended - base) / (now - started)
        self._rates.append(self.rate)
        self._start = (now, ended)
        if not any(self._rates) and self._shown_idle:
            return  # nothing moved and nothing to scroll away: no repaint
        self._shown_idle = not any(self._rates)
        peak = max(self._rates)
        self.query_one("#rate", Static).update(f"{self.rate:.1f} chunks/s  (peak {peak:.1f})")
        self.query_one("#spark", Sparkline).data = list(self._rates)
