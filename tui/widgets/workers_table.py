"""The Workers pane: heartbeats, current chunks, and stale workers that stand out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.message import Message
from rich.text import Text
from textual.timer import Timer

from queuetop.engine.model.states import WorkerState
from queuetop.engine.model.records import WorkerInfo

from ..host import host
from ..messages import WorkerSelected
from .. import format as fmt
from .live_table import Col, LiveTable


# Chunk changes (claims, completions) re-query this pane at most this often;
# worker changes (registered, stopped, rescued) re-query it at once.
CHUNK_REFRESH_INTERVAL = 1.0


class WorkersTable(LiveTable[WorkerInfo]):
    """Workers: id, host/pid, shown state, seconds since heartbeat, current chunk, done."""

    TITLE = "Workers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="workers.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "ID"),
        Col("host", "HOST/PID"),
        Col("state", "STATE"),
        Col("beat", "BEAT", 4),
        Col("current", "CURRENT", 12, flex=True, min=6),
        Col("done", "DONE"),
        Col("failed", "FAIL"),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._loaded_at = 0.0
        self._later: Timer | None = None

    def due(self) -> bool:
        """True when a chunk change may re-query now (the last query is old enough)."""
        return time.monotonic() - self._loaded_at >= CHUNK_REFRESH_INTERVAL

    def later(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the interval has passed (one pending call at most)."""
        if self._later is None:
            wait = max(0.0, self._loaded_at + CHUNK_REFRESH_INTERVAL - time.monotonic())
            self._later = self.set_timer(wait, lambda: self._fire(callback))

    def _fire(self, callback: Callable[[], None]) -> None:
        self._later = None
        callback()

    async def load(self, *, anchor: bool = True) -> tuple[list[WorkerInfo], int]:
        self._loaded_at = time.monotonic()
        return await super().load(anchor=anchor)

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[WorkerInfo], int]:
        queue = host(self).queue
        workers = await queue.workers(limit=limit, offset=offset)
        totals = host(self).totals
        total = sum(totals.workers.values()) if totals is not None else len(workers)
        return workers, max(total, offset + len(workers))

    def key_of(self, record: WorkerInfo) -> str:
        return record.id

    def render_record(self, worker: WorkerInfo, now: float) -> Sequence[RenderableType]:
        queue = host(self).queue
        shown = worker.shown_state(now, queue.stale_display_after)
        if worker.status is WorkerState.ONLINE:  # shown stale once its heartbeat is this late
            fmt.changes_at(worker.last_heartbeat + queue.stale_display_after, now)
        stale = shown is WorkerState.STALE
        beat = "-" if worker.status is WorkerState.OFFLINE else fmt.ago(now - worker.last_heartbeat)
        row_style = fmt.colour_of("stale") if stale else ""
        return (
            worker.id,
            Text(f"{worker.host}/{worker.pid}", style=row_style, no_wrap=True),
            fmt.state(shown, bold=stale),
            Text(beat, style=f"{row_style} bold" if stale else "", no_wrap=True),
            (worker.current or "-") if not worker.abandoned
            else Text(f"{worker.abandoned} abandoned thread{'s' if worker.abandoned != 1 else ''}",
                      style=fmt.colour_of("stale"), no_wrap=True),
            str(worker.chunks_done),
            str(worker.chunks_failed) if worker.chunks_failed else fmt.dim("0"),
        )

    def opened(self, key: str, record: WorkerInfo | None) -> Message | None:
        return None if record is None else WorkerSelected(record)
