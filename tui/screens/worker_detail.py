"""Worker detail: the worker's fields, the chunks it holds now and its newest failed attempts."""

from __future__ import annotations

from queuetop.engine.model.changes import CHUNKS, WORKERS
from queuetop.engine.model.display import ago, duration, timestamp
from queuetop.engine.model.records import WorkerInfo

from .detail import DetailScreen, Section, fields

ERRORS_SHOWN = 20


class WorkerDetailScreen(DetailScreen):
    """One worker, live: what it holds and what failed under it lately."""

    TOPICS = frozenset({WORKERS, CHUNKS})

    def __init__(self, worker: WorkerInfo) -> None:
        super().__init__()
        self.worker = worker

    async def load(self) -> tuple[str, list[Section]]:
        w = self.worker
        now = self.queue.clock.now()
        held = await self.queue.held_chunks(w.id)
        errors = await self.queue.worker_errors(w.id, limit=ERRORS_SHOWN)
        shown = w.shown_state(now, self.queue.stale_display_after).value
        holding = "\n".join(f"job {c.job_id} chunk {c.chunk_index} · attempt {c.attempt} · claimed "
                            f"{timestamp(c.claimed_at)} ({ago(now - c.claimed_at) if c.claimed_at else '-'} ago)"
                            for c in held)
        failed = []
        for job_id, a in errors:
            took = duration(a.ended_at - a.started_at) if a.started_at is not None else "-"
            failed.append(f"job {job_id} chunk {a.chunk_index} attempt {a.attempt} · {a.outcome.value} · "
                          f"ended {timestamp(a.ended_at)} · took {took}")
            failed.append("  " + (a.error or "-").replace("\n", "\n  "))
        return f"Worker {w.id} · {shown}", [
            Section("Worker", fields(("state", shown), ("host/pid", f"{w.host}/{w.pid}"),
                                     ("concurrency", w.concurrency), ("started", timestamp(w.started_at)),
                                     ("heartbeat", f"{timestamp(w.last_heartbeat)} ({ago(now - w.last_heartbeat)} ago)"),
                                     ("stopped", timestamp(w.stopped_at)), ("done", w.chunks_done),
                                     ("failed", w.chunks_failed),
                                     ("intents", ", ".join(w.intents) if w.intents is not None else "all"))),
            Section(f"Holds ({len(held)} chunk(s))", holding or "nothing"),
            Section(f"Last errors (newest {ERRORS_SHOWN})", "\n".join(failed) or "none", "red1" if failed else "dim"),
        ]
