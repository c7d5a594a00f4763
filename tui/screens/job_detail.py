"""Job detail: the job's fields, its chunks, the selected chunk's attempts, its log tail."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, NamedTuple

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import DataTable, Static

from queuetop.engine.model.changes import CHUNKS, JOBS, LOGS
from queuetop.engine.model.exceptions import NotFound
from queuetop.engine.api import Queue
from queuetop.engine.model.records import Chunk, Job

from ..host import host
from .. import format as fmt
from ..widgets.attempts_table import AttemptsTable
from ..widgets.chunks_table import ChunksTable
from ..widgets.log_tail import LogTail
from ..widgets.key_footer import KeyFooter
from ..widgets.stale_banner import StaleBanner
from .base import LiveScreenBase


class Preloaded(NamedTuple):
    """What a job detail screen shows first: the job and its first chunks."""

    job: Job
    chunks: list[Chunk]


class JobDetailScreen(LiveScreenBase):
    """One job, live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="job.back"),
        # Under SIDE_BY_SIDE columns the chunks take the width; this swaps them for the attempts and
        # the log. Before the actions: on a narrow footer it is the key that must not be left out.
        Binding("l", "logs", "Attempts/log", id="job.logs"),
        Binding("r", "retry_chunk", "Retry chunk", id="job.retry_chunk"),
        Binding("R", "retry_job", "Retry all", key_display="R", id="job.retry"),
        Binding("c", "cancel", "Cancel job", id="job.cancel"),
        Binding("f", "finalize", "Finalize", id="job.finalize"),
    ]
    #: From this width the attempts and the log tail stand beside the chunks.
    SIDE_BY_SIDE = 120

    def __init__(self, job_id: int, preloaded: Preloaded | None = None) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: Job | None = None
        self.gone = False
        self._fields_shown: tuple[Job, str] | None = None  # what the fields show
        self._side_only = False  # narrow: the attempts and the log shown in the chunks' place (``l``)
        # The job and its first chunks, read before the screen was pushed: its first paint shows them.
        self._preloaded = preloaded

    @staticmethod
    async def preload(queue: Queue, job_id: int, rows: int) -> Preloaded | None:
        """The job and its first ``rows`` chunks (None: the job is gone; the screen will say so)."""
        try:
            job = await queue.job(job_id)
            chunks = await queue.chunks(job_id, limit=rows)
        except NotFound:
            return None
        return Preloaded(job, chunks)

    def compose(self) -> ComposeResult:
        yield StaleBanner(id="stale")
        yield Static("loading…", id="job-fields")
        with Horizontal(id="job-body"):
            yield ChunksTable(self.job_id, id="chunks")
            with Vertical(id="job-side"):
                yield AttemptsTable(self.job_id, id="attempts")
                yield LogTail(self.job_id, id="log-tail")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#job-fields", Static).border_title = f"Job {self.job_id}"
        chunks = self.query_one(ChunksTable)
        self.set_focus(chunks)
        self.query_one(KeyFooter).fill()
        preloaded, self._preloaded = self._preloaded, None
        if preloaded is not None:
            self._show_preloaded(preloaded)

    def reopen(self, job_id: int, preloaded: Preloaded) -> None:
        """Show another job (or the same one again) on this screen, composed already, before it is pushed again.

        Opening a job then costs its data and a paint: no compose, no
        styling, no footer, and no closed screen left for a full garbage
        collection to free (tens of ms each, that a later key would meet).
        The chunks keep their rows where the same chunk index shows (only
        changed cells are written); the cursor, the window and the scroll go
        back to the top, the attempts and the log are read again.
        """
        self.job_id = job_id
        self.job = None
        self.gone = False
        self._clock_due.clear()
        if self._side_only:
            self._show_side(False)
        self.query_one("#job-fields", Static).border_title = f"Job {job_id}"
        chunks = self.query_one(ChunksTable)
        attempts = self.query_one(AttemptsTable)
        for table in (chunks, attempts):
            table.retarget(job_id)
        attempts.chunk_index = None
        self.query_one(LogTail).retarget(job_id)
        live = getattr(self.app, "live", None)
        if live is not None:  # what the banner says may have changed while the screen was closed
            self.show_stale(live.stale_reason, live.stale_since)
        self._show_preloaded(preloaded)

    def _show_preloaded(self, preloaded: Preloaded) -> None:
        chunks = self.query_one(ChunksTable)
        self.opened_with_data = True
        self.job = preloaded.job
        self._show_job(preloaded.job)
        chunks.chunks_total = preloaded.job.chunks_total
        self.show_rows(chunks, preloaded.chunks, max(preloaded.job.chunks_total, len(preloaded.chunks)))
        self._load_side()

    @work(group="job-side", exclusive=True)
    async def _load_side(self) -> None:
        """The selected chunk's attempts and the log tail, after the first paint's data."""
        try:
            attempts = self.query_one(AttemptsTable)
            attempts.chunk_index = self.query_one(ChunksTable).selected_index
            await self.reload_table(attempts, anchor=False)
            await self.query_one(LogTail).reload()
        except Exception as exc:
            from ..messages import LoadFailed

            self.post_message(LoadFailed(exc))

    def on_resize(self, event: Resize) -> None:
        # Under SIDE_BY_SIDE columns the chunks take the width; `l` shows the attempts and the log instead.
        self._layout(event.size.width)
        if self.job is not None and not self.gone:
            self._show_job(self.job)  # the fields' pairs a line follow the width

    def _layout(self, width: int) -> None:
        wide = width >= self.SIDE_BY_SIDE
        if wide:
            self._side_only = False
        self.query_one(ChunksTable).display = wide or not self._side_only
        self.query_one("#job-side").display = wide or self._side_only
        self.refresh_bindings()

    def _show_side(self, side: bool) -> None:
        """Narrow: the attempts and the log (``side``) or the chunks, in the whole width."""
        self._side_only = side
        self._layout(self.app.size.width)
        self.set_focus(self.query_one(LogTail) if side else self.query_one(ChunksTable))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "logs":  # only where the attempts and the log are not already on screen
            return self.app.size.width < self.SIDE_BY_SIDE
        return super().check_action(action, parameters)

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        mine = not job_ids or self.job_id in job_ids
        chunks = self.query_one(ChunksTable)
        if self.job is None or (topics & {JOBS, CHUNKS} and mine):
            try:
                self.job = await host(self).queue.job(self.job_id)
            except NotFound:
                self._show_gone()
                return
            self._show_job(self.job)
            chunks.chunks_total = self.job.chunks_total
            await self.reload_table(chunks)
            attempts = self.query_one(AttemptsTable)
            attempts.chunk_index = chunks.selected_index
            await self.reload_table(attempts)
        if topics & {LOGS, JOBS} or not self.query_one(LogTail).lines_read:
            await self.query_one(LogTail).reload()

    def _show_gone(self) -> None:
        self.gone = True
        self._fields_shown = None
        self.query_one("#job-fields", Static).update(Text(f"job {self.job_id} no longer exists", style="bold"))

    def _show_job(self, job: Job) -> None:
        now = host(self).queue.clock.now()
        # Three name-value pairs a line from 120 columns; two below, where three
        # cut the state and wrapped the times over three lines each.
        per_line = 3 if self.app.size.width >= 120 else 2
        shown = (job, fmt.ago(now - job.created_at), per_line)
        if shown == self._fields_shown:
            return  # the same fields (a job opened again): no layout, no measuring of the grid
        self._fields_shown = shown
        label = "dim"
        extras = []
        if job.dedupe_key:
            extras.append(f"dedupe {job.dedupe_key}")
        if job.schedule_id:
            extras.append(f"schedule #{job.schedule_id}")
        if job.parent_job_id:
            extras.append(f"follow-up of job {job.parent_job_id}")
        if job.on_finalize:
            extras.append(f"on finalize → {job.on_finalize}")
        pairs: list[tuple[str, Text]] = [
            ("state", fmt.state(job.status, bold=True, suffix=fmt.job_outcome(
                job.status.value, job.chunks_completed, job.chunks_failed, job.chunks_cancelled,
                job.chunks_total).removeprefix(job.status.value))),
            ("intent", Text(job.intent, style="bold")),
            ("progress", fmt.progress(job.chunks_completed, job.chunks_failed, job.chunks_cancelled,
                                      job.chunks_total, 20 if per_line == 3 else 12)),
            ("created", Text(f"{fmt.timestamp(job.created_at)} ({fmt.ago(now - job.created_at)} ago)")),
            ("started", Text(fmt.timestamp(job.started_at))),
            ("finished", Text(fmt.timestamp(job.finished_at))),
            ("priority", Text(str(job.priority))),
            ("retries", Text(f"max {job.max_retries}, timeout {job.timeout:g}s")),
            ("logs", Text(str(job.log_count))),
            ("params", Text(fmt.clip(json.dumps(job.params, separators=(",", ":")), 60))),
            ("cancelled", Text(str(job.chunks_cancelled))),
            ("also", Text(" · ".join(extras) or "-")),
        ]
        grid = Table.grid(padding=(0, 2))
        for _ in range(2 * per_line):
            grid.add_column()
        for start in range(0, len(pairs), per_line):
            grid.add_row(*(cell for name, value in pairs[start:start + per_line]
                           for cell in (Text(name, style=label), value)))
        fields = self.query_one("#job-fields", Static)
        fields.border_title = f"Job {job.id} · {job.intent}"
        fields.update(grid)

    @on(DataTable.RowHighlighted, "#chunks")
    async def _chunk_moved(self, event: DataTable.RowHighlighted) -> None:
        attempts = self.query_one(AttemptsTable)
        index = self.query_one(ChunksTable).selected_index
        if index == attempts.chunk_index:
            return
        attempts.chunk_index = index
        try:
            await self.reload_table(attempts, anchor=False)
        except Exception as exc:
            from ..messages import LoadFailed

            self.post_message(LoadFailed(exc))

    # -- actions ---------------------------------------------------------------------

    def action_back(self) -> None:
        if self._side_only:  # back to the chunks first, as one level up
            self._show_side(False)
            return
        self.dismiss()

    def action_logs(self) -> None:
        """Narrow: the selected chunk's attempts and the job's log in the chunks' place, or back."""
        self._show_side(not self._side_only)

    def _act(self, name: str, call: Callable[[], Awaitable[Any]], *, chunk_index: int | None = None,
             confirm: str | None = None) -> None:
        """One engine action on this job (or a chunk), refused before any question when it would be."""
        queue = host(self).queue
        host(self).act(name, [call], confirm=confirm,
                       checks=[lambda: queue.refusal(name, self.job_id, chunk_index)])

    def action_retry_chunk(self) -> None:
        """The chunk under the cursor back to pending (failed or cancelled ones; the refusal says why not)."""
        index = self.query_one(ChunksTable).selected_index
        if index is None:
            return
        queue = host(self).queue
        self._act("retry", lambda: queue.retry(self.job_id, index), chunk_index=index)

    def action_retry_job(self) -> None:
        queue = host(self).queue
        self._act("retry", lambda: queue.retry(self.job_id),
                  confirm=f"Retry every failed and cancelled chunk of job {self.job_id}?")

    def action_cancel(self) -> None:
        queue = host(self).queue
        self._act("cancel", lambda: queue.cancel(self.job_id),
                  confirm=f"Cancel job {self.job_id}? Pending and running chunks stop.")

    def action_finalize(self) -> None:
        queue = host(self).queue
        self._act("finalize", lambda: queue.finalize(self.job_id),
                  confirm=f"Finalize job {self.job_id} now? Unfinished chunks are cancelled.")

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """The command palette's actions, each naming its target."""
        job = f"job {self.job_id}"
        commands: list[tuple[str, str, Callable[[], Any]]] = []
        if host(self).read_only:  # every one of them writes: refused with --read-only
            return commands
        index = self.query_one(ChunksTable).selected_index
        if index is not None:
            commands.append((f"Retry chunk {index} of {job}", "Back to pending, attempts reset",
                             self.action_retry_chunk))
        return commands + [
            (f"Retry every failed and cancelled chunk of {job}", "Back to pending", self.action_retry_job),
            (f"Cancel {job}", "Pending and running chunks stop", self.action_cancel),
            (f"Finalize {job}", "End now; unfinished chunks are cancelled", self.action_finalize),
        ]
