"""Queues: each queue's state, pending and running chunks, jobs ended in the last hour, limits and rate.

PEND and RUN count chunks; DONE and FAIL count jobs that ended in the last
hour (FAIL: failed or partial). LIMIT is the global limit (every engine on
the database together), LOCAL the limit per process.

``NEXT`` is when a rate-limited queue may start its next chunk (``now``, or
``in 0.25s`` while its bucket refills); ``-`` for a queue without a rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.message import Message

from queuetop.engine.model.display import next_start
from queuetop.engine.model.queues import QueueInfo

from .. import format as fmt
from ..host import host
from ..messages import QueueChosen
from .live_table import Col, LiveTable


class QueuesTable(LiveTable[QueueInfo]):
    """Every queue (they are few: one window holds them all)."""

    TITLE = "Queues"
    # Short headers: every column fits 80 terminal columns with names of a dozen characters.
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "QUEUE"),
        Col("state", "STATE"),
        Col("pending", "PEND"),
        Col("running", "RUN"),
        Col("done", "DONE"),
        Col("failed", "FAIL"),
        Col("limit", "LIMIT"),
        Col("local", "LOCAL"),
        Col("rate", "RATE"),
        Col("next", "NEXT", 9, flex=True, min=5),
    )

    @staticmethod
    def _next_start(at: float | None, now: float) -> str:
        if at is not None and at > now:
            fmt.CLOCK_CELLS.note(0.0)  # ``in 0.25s`` counts down in hundredths: every tick until ``now``
        return next_start(at, now)

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[QueueInfo], int]:
        found = await host(self).queue.queues()
        return found[offset:offset + limit], len(found)

    def key_of(self, record: QueueInfo) -> str:
        return record.name

    def render_record(self, q: QueueInfo, now: float) -> Sequence[RenderableType]:
        def count(n: int, state: str) -> RenderableType:
            return Text(fmt.number(n), style=fmt.colour_of(state)) if n else fmt.dim("0")

        def setting(value: object) -> RenderableType:
            return fmt.dim("-") if value is None else str(value)

        return (
            q.name,
            fmt.state("paused" if q.paused else "running"),
            count(q.pending, "pending"),
            count(q.running, "running"),
            count(q.completed, "completed"),
            count(q.failed, "failed"),
            setting(q.limit),
            setting(q.local_limit),
            setting(q.rate),
            fmt.dim("-") if q.rate is None else self._next_start(q.next_start_at, now),
        )

    def opened(self, key: str, record: QueueInfo | None) -> Message | None:
        return QueueChosen(key)

    @property
    def selected_queue(self) -> QueueInfo | None:
        return self.selected_record
