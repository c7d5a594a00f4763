"""A job's chunks: index, range or params, state, attempt, worker, duration, last error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.binding import Binding, BindingType
from textual.message import Message
from rich.text import Text

from queuetop.engine.model.records import Chunk

from ..host import host
from ..messages import ChunkSelected
from .. import format as fmt
from .live_table import Col, LiveTable


def chunk_label(params: dict[str, object]) -> str:
    """A date range as ``start..end``; other params as compact JSON."""
    if set(params) >= {"start", "end"}:
        rest = {k: v for k, v in params.items() if k not in ("start", "end")}
        label = f"{params['start']}..{params['end']}"
        return label + (" " + json.dumps(rest, separators=(",", ":")) if rest else "")
    return json.dumps(params, separators=(",", ":")) if params else "-"


class ChunksTable(LiveTable[Chunk]):
    """One window of a job's chunks, in chunk order."""

    TITLE = "Chunks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="chunks.open"),
    ]
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "#"),
        Col("params", "RANGE / PARAMS", 22, flex=True, min=10),
        Col("state", "STATE"),
        Col("attempt", "ATT"),
        Col("worker", "WORKER", 14, flex=True, min=6),
        Col("duration", "TOOK", 6),
        Col("error", "LAST ERROR", 22, flex=True, min=8),
    )

    def __init__(self, job_id: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job_id = job_id
        self.chunks_total = 0

    def retarget(self, job_id: int) -> None:
        """Show job ``job_id``'s rows from the next apply on, from the top (its screen is reused)."""
        self.job_id = job_id
        self.back_to_top()

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Chunk], int]:
        queue = host(self).queue
        chunks = await queue.chunks(self.job_id, limit=limit, offset=offset)
        return chunks, max(self.chunks_total, offset + len(chunks))

    def key_of(self, record: Chunk) -> str:
        return str(record.chunk_index)

    def render_record(self, c: Chunk, now: float) -> Sequence[RenderableType]:
        if c.claimed_at is not None and c.finished_at is not None:
            took = fmt.took(c.finished_at - c.claimed_at)  # fixed: not drawn again at every tick
        elif c.claimed_at is not None and c.status.value == "processing":
            took = fmt.duration(now - c.claimed_at) + "…"
        else:
            took = "-"
        error = Text(fmt.clip(c.last_error, 400), style=fmt.colour_of("failed") if c.status.value == "failed" else "dim")
        return (
            str(c.chunk_index),
            fmt.clip(chunk_label(c.params), 400),
            fmt.state(c.status),
            str(c.attempt),
            c.worker_id or "-",
            took,
            error,
        )

    @property
    def selected_index(self) -> int | None:
        key = self.selected_key
        return int(key) if key is not None else None

    def opened(self, key: str, record: Chunk | None) -> Message | None:
        return None if record is None else ChunkSelected(self.job_id, record.chunk_index)
