"""The dashboard: totals, throughput, and the live panes.

Wide terminals (150 columns and 34 rows or more) show every pane: Jobs and
Work sessions on the left; Workers, HTTP circuits (shown only when some
host has a breaker) and the Event feed on the right. Narrower ones keep
each pane readable instead of squeezing them: from 100×30, Jobs on top and
one other pane below; smaller, one pane at a time. A tab bar then names
the panes; ``1``-``4`` or ``tab`` bring one up. ``enter`` opens the job,
session, worker or event under the cursor; ``r``/``c``/``f`` act on the
tagged jobs (``space`` tags) or else the job under the cursor.
"""

from __future__ import annotations

import asyncio
from functools import partial

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Static

from queuetop.engine.model.changes import CHUNKS, CIRCUITS, EVENTS, JOBS, LOGS, SESSIONS, WORKERS
from queuetop.engine.model.query import QueryError, parse

from ..host import host
from ..messages import JobSelected, SessionSelected
from ..widgets.circuits_table import CircuitsTable
from ..widgets.event_feed import EventFeed
from ..widgets.filter_input import FilterInput
from ..widgets.jobs_table import JobsTable
from ..widgets.live_table import LiveTable
from ..widgets.key_footer import KeyFooter
from ..widgets.pane_tabs import PaneTabs
from ..widgets.sessions_table import SessionsTable
from ..widgets.stale_banner import StaleBanner
from ..widgets.throughput import Throughput
from ..widgets.totals_header import TotalsHeader
from ..widgets.workers_table import WorkersTable
from .base import LiveScreenBase

if TYPE_CHECKING:
    from .job_detail import JobDetailScreen

JOB_ACTIONS = {"retry", "cancel", "finalize"}
# Seconds without a keystroke before a filter's match count is asked for (its rows show at once).
COUNT_AFTER = 0.1

# The panes, in tab order: (container id, title, the table in it that takes focus).
PANES = (("jobs", "Jobs"), ("sessions", "Work sessions"), ("workers-box", "Workers"), ("events", "Event feed"))
WIDE = (150, 34)    # every pane at once from this size
MEDIUM = (100, 30)  # Jobs and one other pane from this size; below it one pane at a time


class DashboardScreen(LiveScreenBase):
    """Totals and the four live panes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/", id="dashboard.filter"),
        Binding("escape", "clear", "Clear filter/tags", id="dashboard.clear"),
        Binding("r", "retry", "Retry", id="dashboard.retry"),
        Binding("c", "cancel", "Cancel", id="dashboard.cancel"),
        Binding("f", "finalize", "Finalize", id="dashboard.finalize"),
        Binding("tab", "next_pane", "Next pane", show=False, id="dashboard.next_pane"),
        Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, id="dashboard.previous_pane"),
        Binding("1", "pane(0)", "Jobs", show=False, id="dashboard.pane_jobs"),
        Binding("2", "pane(1)", "Work sessions", show=False, id="dashboard.pane_sessions"),
        Binding("3", "pane(2)", "Workers", show=False, id="dashboard.pane_workers"),
        Binding("4", "pane(3)", "Event feed", show=False, id="dashboard.pane_events"),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield TotalsHeader(id="totals")
            yield Throughput(id="throughput")
        yield StaleBanner(id="stale")
        yield FilterInput(id="filter")
        yield Static(id="filter-error")
        yield PaneTabs(id="pane-tabs")
        # A grid: Jobs | Workers over Work sessions | Event feed when wide (see app.tcss).
        with Container(id="panes"):
            yield JobsTable(id="jobs")
            with Vertical(id="workers-box"):
                yield WorkersTable(id="workers")
                yield CircuitsTable(id="circuits")
            yield SessionsTable(id="sessions")
            yield EventFeed(id="events")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self._filter_target: JobsTable | SessionsTable = self.jobs
        self._job_screen: JobDetailScreen | None = None  # kept for the next job opened
        self._query_error = ""  # what the line under the filter says
        self.mode = "wide"
        self.pane = 0   # the pane shown (narrow) or focused
        self.lower = 1  # the pane under Jobs (medium)
        self._arrange(self.size.width, self.size.height)
        self.set_focus(self.jobs)
        self.query_one(KeyFooter).fill()

    # -- responsive layout ------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self._arrange(event.size.width, event.size.height)

    def _arrange(self, width: int, height: int) -> None:
        """Pick the layout for this size and show the panes it has room for."""
        if not width:
            return
        if width >= WIDE[0] and height >= WIDE[1]:
            mode = "wide"
        elif width >= MEDIUM[0] and height >= MEDIUM[1]:
            mode = "medium"
        else:
            mode = "narrow"
        self.mode = mode
        panes = self.query_one("#panes")
        for name in ("wide", "medium", "narrow"):
            panes.set_class(mode == name, f"-{name}")
        if mode == "wide":
            shown = {0, 1, 2, 3}
        elif mode == "medium":
            shown = {0, self.lower}
        else:
            shown = {self.pane}
        for n, (pane_id, _) in enumerate(PANES):
            self.query_one(f"#{pane_id}").display = n in shown
        self.query_one(Throughput).display = mode != "narrow"
        tabs = self.query_one(PaneTabs)
        tabs.display = mode != "wide"
        tabs.show([title for _, title in PANES], [PANES[n][1] for n in sorted(shown)])

    def _pane_of(self, widget: Widget | None) -> int | None:
        for n, (pane_id, _) in enumerate(PANES):
            node = widget
            while node is not None:
                if node.id == pane_id:
                    return n
                node = node.parent if isinstance(node.parent, Widget) else None
        return None

    def action_pane(self, n: int) -> None:
        """Bring pane ``n`` up (in tab order) and focus it."""
        self.pane = n
        if n:
            self.lower = n
        self._arrange(self.size.width, self.size.height)
        pane = self.query_one(f"#{PANES[n][0]}")
        target = pane if pane.focusable else next(iter(pane.query("LiveTable")), pane)
        target.focus()

    def action_next_pane(self, step: int = 1) -> None:
        """``tab``: the next pane, shown if it was hidden."""
        current = self._pane_of(self.focused)
        self.action_pane(((self.pane if current is None else current) + step) % len(PANES))

    @property
    def jobs(self) -> JobsTable:
        return self.query_one("#jobs", JobsTable)

    # -- live data -------------------------------------------------------------------

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        """Query the panes ``topics`` touch, then show every answer in one paint."""
        app = host(self)
        loads: list[tuple[LiveTable[Any], tuple[list[Any], int]]] = []
        if topics & {JOBS, CHUNKS, LOGS}:
            self.jobs.stale_jobs |= job_ids
            asked = (self.jobs.query, self.jobs.order)
            jobs = await self.jobs.load()
            if (self.jobs.query, self.jobs.order) == asked:
                loads.append((self.jobs, jobs))
            else:  # the query changed while this read ran: its rows (and title) are the old query's
                app.request_refresh({JOBS})
        workers = self.query_one(WorkersTable)
        if WORKERS in topics or (CHUNKS in topics and workers.due()):
            loads.append((workers, await workers.load()))
        elif CHUNKS in topics:
            workers.later(lambda: host(self).request_refresh({WORKERS}, urgent=False))
        circuits = self.query_one(CircuitsTable)
        if CIRCUITS in topics or not circuits.loaded:
            loads.append((circuits, await circuits.load()))
        if topics & {SESSIONS, EVENTS}:
            for table in (self.query_one(SessionsTable), self.query_one(EventFeed)):
                loads.append((table, await table.load()))
        with self.app.batch_update():
            totals = app.totals
            if totals is not None:
                self.query_one(TotalsHeader).show(totals, read_only=app.read_only, engine=app.engine_label())
            for table, (records, total) in loads:
                self.show_rows(table, records, total)

    def tick(self) -> None:
        super().tick()
        totals = host(self).totals
        if totals is not None:
            ended = totals.chunks_completed + totals.chunks_failed  # cancelled chunks never ran
            # query, not query_one: a tick can come while the screen is
            # still composing or already torn down (quitting mid-refresh)
            for meter in self.query(Throughput):
                meter.sample(host(self).queue.clock.now(), ended)

    # -- keys ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in JOB_ACTIONS:
            return self.focused is self.jobs or self.focused is None
        return True

    def on_descendant_focus(self) -> None:
        current = self._pane_of(self.focused)
        if current is not None and current != self.pane:
            self.pane = current
            if current:
                self.lower = current
            self._arrange(self.size.width, self.size.height)
        self.refresh_bindings()

    def action_filter(self) -> None:
        focused = self.focused
        self._filter_target = focused if isinstance(focused, SessionsTable) else self.jobs
        box = self.query_one(FilterInput)
        box.placeholder = ("filter sessions: text (enter keeps it, esc clears)"
                           if isinstance(self._filter_target, SessionsTable)
                           else "find jobs: text state:failed intent:a.* queue:q age:>1h err:timeout id:7"
                                " (enter keeps it, esc clears)")
        box.value = self._filter_target.search or ""
        box.display = True
        box.focus()

    def filter_jobs(self, text: str) -> None:
        """Show the jobs pane filtered by ``text`` (enter on the queues screen: ``queue:NAME``)."""
        self._filter_target = self.jobs
        box = self.query_one(FilterInput)
        box.value = text
        box.display = True
        self.action_pane(0)
        self._apply_filter(text)

    @on(FilterInput.Changed)
    def _filter_changed(self, event: FilterInput.Changed) -> None:
        self._apply_filter(event.value)

    @on(FilterInput.Closed)
    def _filter_closed(self, event: FilterInput.Closed) -> None:
        box = self.query_one(FilterInput)
        if not event.cleared and self._query_error:
            # Enter on a query that does not parse keeps the line: left, the next keys typed to
            # mend it would run as the dashboard's (p pauses everything), under a stale filter.
            self.app.bell()
            return
        if event.cleared:
            box.display = False
            self._show_query_error("")
        self._filter_target.focus()

    def _show_query_error(self, message: str) -> None:
        if message == self._query_error:
            return  # an update lays the screen out again, even from nothing to nothing
        self._query_error = message
        error = self.query_one("#filter-error", Static)
        error.update(message)
        error.display = bool(message)

    @work(group="filter", exclusive=True)
    async def _apply_filter(self, text: str) -> None:
        """Show what ``text`` finds; a newer keystroke's filter cancels this one before it shows anything.

        The keystroke's paints are held (FilterInput) until its rows are
        applied: superseded, this one leaves them held for the newer one.
        """
        table = self._filter_target
        released = False
        try:
            if isinstance(table, JobsTable):
                try:
                    query = parse(text)
                except QueryError as exc:  # the table keeps what it shows
                    self._show_query_error(str(exc))
                    return
                self._show_query_error("")
                # The rows first, in this keystroke's paint; the count (20-45 ms for a common
                # word at a million jobs) in a later one, once typing has paused: a newer
                # keystroke cancels it before it holds up that keystroke's own query.
                await table.set_query(query, count_later=True)
                released = True
                self._release_paints()
                if not table.counted:
                    await asyncio.sleep(COUNT_AFTER)
                    await table.fill_count()
                return
            table.search = text.strip() or None
            table.border_title = f"{table.TITLE} · filter: {table.search}" if table.search else table.TITLE
            await table.relist()
        except asyncio.CancelledError:
            raise  # superseded: the newer filter releases the paints
        except Exception as exc:
            from ..messages import LoadFailed

            self.post_message(LoadFailed(exc))
        finally:
            task = asyncio.current_task()
            if not released and (task is None or not task.cancelling()):
                self._release_paints()

    def _release_paints(self) -> None:
        hold = self.query_one(FilterInput).hold
        if hold is not None:
            hold.release()

    def action_clear(self) -> None:
        """Escape: clear the filter, else the tags."""
        box = self.query_one(FilterInput)
        if box.value or box.display:
            box.value = ""
            box.display = False
            self._show_query_error("")
            self._apply_filter("")
        elif self.jobs.tagged:
            self.jobs.clear_tags()

    def _targets(self) -> list[int]:
        return self.jobs.target_job_ids()

    def _describe(self, job_ids: list[int]) -> str:
        if len(job_ids) == 1:
            return f"job {job_ids[0]}"
        shown = ", ".join(map(str, job_ids[:8])) + ("…" if len(job_ids) > 8 else "")
        return f"{len(job_ids)} jobs ({shown})"

    def action_retry(self) -> None:
        """Every failed and cancelled chunk of the tagged jobs, or of the job under the cursor."""
        self._act_on_targets("retry", lambda queue, j: queue.retry(j),
                             lambda what, many: f"Retry every failed and cancelled chunk of {what}?" if many else None)

    def action_cancel(self) -> None:
        self._act_on_targets("cancel", lambda queue, j: queue.cancel(j),
                             lambda what, many: f"Cancel {what}? Pending and running chunks stop.")

    def action_finalize(self) -> None:
        self._act_on_targets("finalize", lambda queue, j: queue.finalize(j),
                             lambda what, many: f"Finalize {what} now? Unfinished chunks are cancelled.")

    def _act_on_targets(self, name: str, call: Callable[[Any, int], Awaitable[Any]],
                        confirm: Callable[[str, bool], str | None]) -> None:
        """Run one engine action per targeted job, after ``confirm``'s question if it asks one.

        Jobs the action would refuse are said at once and left out; when all
        are, nothing is asked.
        """
        job_ids = self._targets()
        if not job_ids:
            return
        queue = host(self).queue
        steps: list[Callable[[], Awaitable[Any]]] = [partial(call, queue, j) for j in job_ids]
        checks = [partial(queue.refusal, name, j) for j in job_ids]
        question = confirm(self._describe(job_ids), len(job_ids) > 1)
        host(self).act(name, steps, checks=checks, after=self.jobs.clear_tags,
                       confirm=None if question is None else
                       (lambda left: question if left == len(job_ids)
                        else f"{question} ({len(job_ids) - left} of the {len(job_ids)} left out: refused)"))

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """The command palette's actions, each naming its target."""
        job_ids = self._targets()
        if not job_ids or host(self).read_only:  # every one of them writes: refused with --read-only
            return []
        what = self._describe(job_ids)
        return [
            (f"Retry {what}", "Failed and cancelled chunks back to pending", self.action_retry),
            (f"Cancel {what}", "Pending and running chunks stop", self.action_cancel),
            (f"Finalize {what}", "End now; unfinished chunks are cancelled", self.action_finalize),
        ]

    # -- drilling in ----------------------------------------------------------------------

    @on(JobSelected)
    def _open_job(self, message: JobSelected) -> None:
        self._open_job_loaded(message.job_id)

    @work(group="open", exclusive=True)
    async def _open_job_loaded(self, job_id: int) -> None:
        """Read the job and its first chunks, then open it: its first paint shows them (a newer enter wins)."""
        from .job_detail import JobDetailScreen

        try:
            preloaded = await JobDetailScreen.preload(host(self).queue, job_id, rows=self.app.size.height)
        except Exception as exc:  # the screen opens anyway and the live loop shows the failure
            from ..messages import LoadFailed

            self.post_message(LoadFailed(exc))
            preloaded = None
        app = host(self)
        screen = self._job_screen
        if preloaded is not None and screen is not None and screen.is_running and screen not in app.screen_stack:
            screen.reopen(job_id, preloaded)
        else:
            screen = JobDetailScreen(job_id, preloaded)
            if preloaded is not None:
                self._keep_job_screen(screen)
        app.open_screen(screen)

    def _keep_job_screen(self, screen: JobDetailScreen) -> None:
        """Keep ``screen`` when it is closed, for the next job opened (see JobDetailScreen.reopen)."""
        app = self.app
        old = self._job_screen
        if old is not None and app.is_screen_installed(old):
            if old in app.screen_stack:
                return  # still shown (under another screen): the new one is not kept
            app.uninstall_screen(old)
        app.install_screen(screen, name=f"job-detail-{id(screen)}")
        self._job_screen = screen

    @on(SessionSelected)
    def _open_session(self, message: SessionSelected) -> None:
        from .session_detail import SessionDetailScreen

        host(self).open_screen(SessionDetailScreen(message.session_id))
