"""The Jobs pane: a window of the jobs its query matches, sorted, with progress and errors.

The query (``/``) uses the engine's query language; the title shows it with
the match count (``Jobs · state:failed · 12 of 1,048,213``) and the sort
when it is not the default. ``o`` sorts by the next column, ``O`` flips the
direction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from queuetop.engine.model.query import DEFAULT_SORT, JobQuery, JobSort
from queuetop.engine.model.records import Job
from queuetop.engine.model.results import FoundJobs

from ..host import host
from .. import format as fmt
from ..messages import JobSelected
from .live_table import Col, LiveTable

# How long the error count of a running job may be reused before asking again.
ERRORS_TTL = 2.0


class JobsTable(LiveTable[Job]):
    """Jobs: id, intent, state, progress (completed/total, failed), errors, age, logs."""

    TITLE = "Jobs"
    TAGGABLE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="jobs.open"),
        Binding("space", "toggle_tag", "Tag", id="jobs.tag"),
        Binding("o", "sort_next", "Sort by next column", show=False, id="jobs.sort"),
        Binding("O", "sort_flip", "Flip the sort", show=False, id="jobs.sort_flip"),
    ]
    # A refresh of the same query reuses a match count this young (seconds): a
    # filter on a common word costs a count query of up to 10,000 rows, and
    # under live load refreshes come several times a second.
    RECOUNT_EVERY: ClassVar[float] = 2.0
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "ID"),
        Col("intent", "INTENT", 24, flex=True, min=8),
        Col("state", "STATE"),
        Col("progress", "PROGRESS"),
        Col("errors", "ERR"),
        Col("age", "AGE", 4),
        Col("logs", "LOGS"),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.query = JobQuery()
        self.order: JobSort = DEFAULT_SORT
        self.count_later = False  # set while a new query's first page is fetched
        self._found: FoundJobs | None = None  # the last page: its matches, and whether they were counted
        self._counted_at = 0.0  # monotonic time of _found's count
        # job id -> (row signature, failed attempts, when asked)
        self._errors: dict[int, tuple[tuple[object, ...], int, float]] = {}
        self.stale_jobs: set[int] = set()

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Job], int]:
        queue = host(self).queue
        last = self._found
        reuse = (not self.count_later and last is not None and last.counted and last.query == self.query
                 and time.monotonic() - self._counted_at < self.RECOUNT_EVERY)
        found = await queue.find_jobs(self.query, sort=self.order, limit=limit, offset=offset,
                                      count=not self.count_later and not reuse)
        if reuse and last is not None and not found.counted:
            # The count of a moment ago stands (never below what this page shows).
            found = replace(found, matched=max(last.matched, found.matched), exact=last.exact, counted=True)
        elif found.counted:
            self._counted_at = time.monotonic()
        await self._count_errors(found.jobs)
        self._found = found
        self.border_title = self.title_text()
        return found.jobs, found.matched

    async def fill_count(self) -> None:
        """Count the matches the last page came without (a newer page, counted, makes this a no-op)."""
        found = self._found
        if found is None or found.counted:
            return
        found = await host(self).queue.count_found(found)
        if self._found is None or self._found.counted or self._found.query != found.query:
            return  # a page fetched meanwhile brought its own count, or another query's
        self._found = found
        self._counted_at = time.monotonic()
        self.total = found.matched
        self.border_title = self.title_text()
        self._update_subtitle()

    @property
    def matched(self) -> int:
        """Jobs the query matches (a lower bound unless :attr:`exact`)."""
        return self._found.matched if self._found is not None else 0

    @property
    def exact(self) -> bool:
        """False: :attr:`matched` is a lower bound (shown as "10,000+")."""
        return self._found is None or self._found.exact

    @property
    def counted(self) -> bool:
        """False: the page came without its count (a filter keystroke shows its rows first), see fill_count."""
        return self._found is None or self._found.counted

    @property
    def all_jobs(self) -> int:
        return self._found.total if self._found is not None else 0

    def total_text(self) -> str:
        return super().total_text() if self.counted else "…"

    @property
    def search(self) -> str | None:
        """The query as the operator wrote it (None: no query)."""
        return str(self.query) or None

    def title_text(self) -> str:
        """``Jobs``, then the query and its match count, then the sort if it is not the default."""
        parts = [self.TITLE]
        if not self.query.empty:
            matched = f"{self.matched:,}{'' if self.exact else '+'}" if self.counted else "counting…"
            parts += [str(self.query), f"{matched} of {self.all_jobs:,}"]
        if self.order != DEFAULT_SORT:
            parts.append(f"by {self.order}")
        return " · ".join(parts)

    async def set_query(self, query: JobQuery, *, count_later: bool = False) -> None:
        """Show the jobs ``query`` matches, from the top; ``count_later``: without a count that takes a query
        of its own (``counted`` is then False until :meth:`fill_count`)."""
        self.query = query
        self.count_later = count_later
        try:
            await self.relist()
        finally:
            self.count_later = False

    async def action_sort_next(self) -> None:
        await self._resort(self.order.next_column())

    async def action_sort_flip(self) -> None:
        await self._resort(self.order.flipped())

    async def _resort(self, sort: JobSort) -> None:
        self.order = sort
        try:
            await self.relist()
        except Exception as exc:  # the stale banner says why; the table keeps its rows
            from ..messages import LoadFailed

            self.post_message(LoadFailed(exc))

    async def _count_errors(self, jobs: Sequence[Job]) -> None:
        """Failed attempts per shown job, asked again only for jobs that moved."""
        queue = host(self).queue
        clock = time.monotonic()
        keep: dict[int, tuple[tuple[object, ...], int, float]] = {}
        asked: list[Job] = []
        for job in jobs:
            signature = (job.status, job.chunks_completed, job.chunks_failed, job.chunks_cancelled)
            cached = self._errors.get(job.id)
            fresh = (cached is not None and cached[0] == signature and job.id not in self.stale_jobs
                     and (job.status.finished or clock - cached[2] < ERRORS_TTL))
            if fresh and cached is not None:
                keep[job.id] = cached
            else:
                asked.append(job)
        if asked:  # one query for every job that moved, not one per row
            counts = await queue.attempt_counts([job.id for job in asked])
            for job in asked:
                signature = (job.status, job.chunks_completed, job.chunks_failed, job.chunks_cancelled)
                keep[job.id] = (signature, counts.get(job.id, 0), clock)
        self._errors = keep
        self.stale_jobs.clear()

    def key_of(self, record: Job) -> str:
        return str(record.id)

    def render_record(self, job: Job, now: float) -> Sequence[RenderableType]:
        errors = self._errors.get(job.id, ((), 0, 0.0))[1]
        return (
            str(job.id),
            job.intent,
            fmt.state(job.status),
            fmt.progress(job.chunks_completed, job.chunks_failed, job.chunks_cancelled, job.chunks_total, 10),
            Text(str(errors), style=fmt.colour_of("failed")) if errors else fmt.dim("0"),
            fmt.ago(now - job.created_at),
            str(job.log_count),
        )

    @property
    def selected_job_id(self) -> int | None:
        key = self.selected_key
        return int(key) if key is not None else None

    def target_job_ids(self) -> list[int]:
        """The tagged jobs, or else the one under the cursor."""
        if self.tagged:
            return sorted((int(key) for key in self.tagged), reverse=True)
        job_id = self.selected_job_id
        return [] if job_id is None else [job_id]

    def opened(self, key: str, record: Job | None) -> Message | None:
        return JobSelected(int(key))
