"""Chunk detail: its params, result, whole error and every attempt (outcome, worker, start, duration, error)."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from textual.binding import Binding, BindingType

from queuetop.engine.model.changes import CHUNKS, JOBS
from queuetop.engine.model.display import duration, state_glyph, timestamp

from ..host import host
from .detail import DetailScreen, Section, fields, pretty


class ChunkDetailScreen(DetailScreen):
    """One chunk of one job, live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry chunk", id="chunk.retry"),
        Binding("c", "cancel", "Cancel chunk", id="chunk.cancel"),
    ]
    TOPICS = frozenset({JOBS, CHUNKS})

    def __init__(self, job_id: int, chunk_index: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.chunk_index = chunk_index

    async def load(self) -> tuple[str, list[Section]]:
        chunk = await self.queue.chunk(self.job_id, self.chunk_index)
        job = await self.queue.job(self.job_id)
        attempts = await self.queue.attempts(self.job_id, self.chunk_index)
        status = chunk.status.value
        took = (duration(chunk.finished_at - chunk.claimed_at)
                if chunk.claimed_at is not None and chunk.finished_at is not None else "-")
        sections = [
            Section("Chunk", fields(("state", f"{state_glyph(status)} {status}"), ("attempt", chunk.attempt),
                                    ("worker", chunk.worker_id), ("claimed", timestamp(chunk.claimed_at)),
                                    ("finished", timestamp(chunk.finished_at)), ("took", took),
                                    # when it may run next: only a pending chunk has a next run
                                    ("run after", timestamp(chunk.run_after) if status == "pending" else None),
                                    ("priority", chunk.priority))),
            # A handler reads the job's params with the chunk's over them (ctx.params): show both.
            *([Section("Job params", pretty(job.params)), Section("Chunk params", pretty(chunk.params))]
              if job.params else [Section("Params", pretty(chunk.params))]),
            Section("Result", pretty(chunk.result)),
            Section("Last error", chunk.last_error or "-", "red1" if chunk.last_error else "dim"),
        ]
        lines: list[str] = []
        for a in attempts:
            took_a = duration(a.ended_at - a.started_at) if a.started_at is not None else "-"
            lines.append(f"attempt {a.attempt} · {state_glyph('failed')} {a.outcome.value} · worker {a.worker_id or '-'}"
                         f" · started {timestamp(a.started_at)} · took {took_a}")
            lines.append("  " + (a.error or "-").replace("\n", "\n  "))
        if status in ("completed", "processing") and chunk.claimed_at is not None:
            # The attempt that succeeded (or runs now) is the chunk itself: no failed-attempt row.
            lines.append(f"attempt {chunk.attempt} · {state_glyph(status)} {status} · worker {chunk.worker_id or '-'}"
                         f" · started {timestamp(chunk.claimed_at)} · took {took}")
        sections.append(Section(f"Attempts ({len(attempts)} failed)", "\n".join(lines) or "none yet"))
        return f"Job {self.job_id} · chunk {self.chunk_index} · {status}", sections

    def _act(self, name: str, call: Callable[[], Any]) -> None:
        queue = self.queue
        host(self).act(name, [call], checks=[lambda: queue.refusal(name, self.job_id, self.chunk_index)])

    def action_retry(self) -> None:
        """This chunk back to pending (failed or cancelled ones only: the refusal says why not)."""
        self._act("retry", lambda: self.queue.retry(self.job_id, self.chunk_index))

    def action_cancel(self) -> None:
        self._act("cancel", lambda: self.queue.cancel(self.job_id, self.chunk_index))

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        target = f"chunk {self.chunk_index} of job {self.job_id}"
        copy = (f"Copy {target}", "Its params, result, error and attempts", self.action_copy)
        if host(self).read_only:  # offered only what would not be refused
            return [copy]
        return [(f"Retry {target}", "Back to pending, attempts reset", self.action_retry),
                (f"Cancel {target}", "Stop it if pending or running", self.action_cancel), copy]
