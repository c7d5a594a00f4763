"""The attempt history of one chunk: every attempt that did not succeed, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text

from queuetop.engine.model.records import Attempt

from ..host import host
from .. import format as fmt
from .live_table import Col, LiveTable


class AttemptsTable(LiveTable[tuple[int, Attempt]]):
    """Attempts of the chunk under the cursor in the chunks pane."""

    TITLE = "Attempts"
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "#"),
        Col("attempt", "ATT"),
        Col("outcome", "OUTCOME"),
        Col("ended", "ENDED", 8),
        Col("error", "ERROR", 28, flex=True, min=8),
    )

    def __init__(self, job_id: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job_id = job_id
        self.chunk_index: int | None = None

    def retarget(self, job_id: int) -> None:
        """Show job ``job_id``'s rows from the next apply on, from the top (its screen is reused)."""
        self.job_id = job_id
        self.back_to_top()

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[tuple[int, Attempt]], int]:
        if self.chunk_index is None:
            return [], 0
        queue = host(self).queue
        attempts = await queue.attempts(self.job_id, self.chunk_index)
        rows = list(enumerate(attempts, 1))
        self.border_title = f"Attempts · chunk {self.chunk_index}"
        return rows[offset:offset + limit], len(rows)

    def key_of(self, record: tuple[int, Attempt]) -> str:
        return str(record[0])

    def render_record(self, record: tuple[int, Attempt], now: float) -> Sequence[RenderableType]:
        n, a = record
        outcome_colour = fmt.colour_of("failed") if a.outcome in ("permanent", "timed_out") else fmt.colour_of("partial")
        return (
            str(n),
            str(a.attempt),
            Text(a.outcome, style=outcome_colour, no_wrap=True),
            fmt.timestamp(a.ended_at)[11:],
            fmt.clip(a.error, 400),
        )
