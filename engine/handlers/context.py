"""What a handler receives: its chunk, its job, a logger, a cancel check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class LogSink(Protocol):
    """Where a handler's log lines go: the engine's log buffer (thread-safe, never blocks)."""

    def add(self, job_id: int | None, chunk_id: int | None, worker_id: str | None, level: str,
            message: str) -> None: ...


class ChunkLogger:
    """Writes a handler's log lines to the log buffer, tagged with its chunk."""

    def __init__(self, buffer: LogSink, job_id: int, chunk_id: int, worker_id: str) -> None:
        self._buffer = buffer
        self._where = (job_id, chunk_id, worker_id)

    def log(self, level: str, message: str) -> None:
        self._buffer.add(*self._where, level, message)

    def debug(self, message: str) -> None:
        self.log("debug", message)

    def info(self, message: str) -> None:
        self.log("info", message)

    def warning(self, message: str) -> None:
        self.log("warning", message)

    def error(self, message: str) -> None:
        self.log("error", message)


@dataclass
class ChunkContext:
    """The one argument every handler gets.

    ``params`` are the job's params with the chunk's own (e.g. its date range)
    over them: a key in both reads the chunk's. ``job_params`` and
    ``chunk_params`` are each side alone. A long handler should check :meth:`cancelled` between steps:
    an operator's cancel sets it (async handlers are also cancelled outright).
    """

    intent: str
    job_id: int
    chunk_index: int
    attempt: int
    params: dict[str, Any]
    job_params: dict[str, Any]
    log: ChunkLogger
    worker_id: str
    chunk_params: dict[str, Any] = field(default_factory=dict)
    # A plain flag, not a threading.Event: a sync handler's thread only reads
    # it, and one Event per chunk was a measurable share of a small chunk's cost.
    _cancelled: bool = field(default=False, repr=False)

    def cancelled(self) -> bool:
        """True once the chunk was cancelled or the worker lost its lease."""
        return self._cancelled

    def cancel(self) -> None:
        """Mark the chunk cancelled (called by the worker, not by handlers)."""
        self._cancelled = True
