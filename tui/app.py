"""The queuetop App: opens the queue, runs the engine beside the screens, keeps panes live.

The App owns the :class:`~queuetop.engine.api.Queue`, the optional embedded
engine (:class:`~queuetop.engine.api.Runner`: workers, scheduler, tailer),
the :class:`~queuetop.tui.live.LiveUpdates` loop, and the operator actions
every screen shares (confirmation, read-only, notifications). Screens call
:meth:`QueuetopApp.act`; nothing here writes SQL.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from textual import work
from textual.app import App, SystemCommand
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.screen import Screen

from queuetop.engine.api import Config, Queue, Runner, Totals, display_db, resolve_db
from queuetop.engine.model.changes import ALERTS, CHUNKS, JOBS, QUEUE, WORKERS, Change
from queuetop.engine.model.clock import Clock
from queuetop.engine.model.display import engines_line
from queuetop.engine.model.exceptions import QueuetopError

from .live import ALL_TOPICS, LiveUpdates
from .messages import (AlertSelected, ChunkSelected, DataFresh, DataStale, EngineChanged, EventSelected,
                       EventsArrived, LoadFailed, QueueChosen, RunSelected, WorkerSelected)

log = logging.getLogger("queuetop.tui")


def forget_painted_lines() -> None:
    """Drop Textual's method-level cache that keeps removed widgets' painted lines alive."""
    from textual._styles_cache import StylesCache

    StylesCache.get_inner_outer.cache_clear()

TOTALS_TOPICS = frozenset({JOBS, CHUNKS, WORKERS, QUEUE, ALERTS})
# Full collections: CPython's own trigger (after 10 younger ones) set out of reach, the timer's in its place.
FULL_COLLECTION_BY_TIMER = 1_000_000
FULL_COLLECTION_AFTER = 10


@runtime_checkable
class LiveScreen(Protocol):
    """A screen whose panes follow the database."""

    current_as_of: int | None  # LiveUpdates.changes as of its last refresh while shown

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        """Re-query the panes that show ``topics``."""

    def tick(self) -> None:
        """Re-render time-derived cells (ages) from the data held."""

    def show_stale(self, reason: str | None, since: float | None) -> None:
        """Show or hide the stale-data banner."""


class QueuetopApp(App[int]):
    """The operator's monitor."""

    CSS_PATH = "app.tcss"
    TITLE = "queuetop"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("s", "schedules", "Schedules", id="app.schedules"),
        Binding("a", "alerts", "Alerts", id="app.alerts"),
        Binding("u", "queues", "Queues", id="app.queues"),
        Binding("p", "toggle_pause", "Pause/resume all", id="app.pause"),
        # The first ctrl+c stops as q does (in-flight chunks finish or go back); a second exits at once.
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True, system=True, id="app.interrupt"),
    ]

    def __init__(self, db_path: str | Path, config: Config | None = None, *, clock: Clock | None = None,
                 read_only: bool = False, engine: bool = False, workers: int | None = None,
                 concurrency: int | None = None, event_paths: Sequence[str] = (),
                 demo: Any = None, live: bool = True) -> None:
        super().__init__()
        # A postgresql:// URL stays a string: Path() would fold its // into /.
        self.db_path: Path | str = Path(db_path) if isinstance(db_path, Path) else resolve_db(str(db_path))
        self.config = config or Config()
        self.clock = clock
        self.read_only = read_only
        self.engine_wanted = engine
        self.engine_workers = workers
        self.engine_concurrency = concurrency
        self.event_paths = list(event_paths)
        self.demo = demo
        self.live_enabled = live
        self._queue: Queue | None = None  # opened on mount
        self.totals: Totals | None = None
        self.live: LiveUpdates | None = None
        self.runner: Any = None
        self.ready = asyncio.Event()
        self.refreshes = 0
        self._stop_engine = asyncio.Event()
        self._engine_task: asyncio.Task[None] | None = None
        self._live_task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self.startup_error: str | None = None  # why the app could not open its database
        self.engine_note: str | None = None  # why no workers run here, when that was not asked for
        self.quitting = False  # set by the first q / ctrl+c: no screen opens after it
        self.forced = False  # a second ctrl+c: leave without waiting for the engine
        self._stale_asked: float | None = None  # the Totals.fresh_until a refresh was asked for

    # -- start and stop --------------------------------------------------------------

    @property
    def queue(self) -> Queue:
        """The open queue (from mount until unmount)."""
        if self._queue is None:
            raise RuntimeError("the queue is opened when the app mounts")
        return self._queue

    def _data_stale(self, reason: str, since: float) -> None:
        self.post_message(DataStale(reason, since))

    def _data_fresh(self) -> None:
        self.post_message(DataFresh())

    async def on_mount(self) -> None:
        try:
            self._queue = await Queue.open(self.db_path, self.config, clock=self.clock)
        except QueuetopError as exc:
            # One line on stderr from launch(), not a traceback over the screen.
            self.startup_error = str(exc)
            self.exit(return_code=2)
            return
        self._unsubscribe.append(self.queue.changes.subscribe(self._engine_changed))
        self.live = LiveUpdates(
            data_version=lambda: self.queue.data_version(), refresh=self.refresh_data, clock=self.queue.clock,
            on_stale=self._data_stale, on_fresh=self._data_fresh,
            path=self.db_path if isinstance(self.db_path, Path) else None,
        )
        from .screens.dashboard import DashboardScreen

        await self.push_screen(DashboardScreen())
        if self.engine_wanted and self.engine_workers is None and self.demo is None:
            # Beside a running engine, watch: its handlers may not be
            # importable here, and two sets of workers was not asked for.
            elsewhere = await self.queue.workers_elsewhere()
            if elsewhere:
                self.engine_wanted = False
                # short: the header has a third of 80 columns for it
                self.engine_note = f"watching: {elsewhere} worker(s) elsewhere, none here"
        if self.queue.handler_problems:
            cannot = ", ".join(p.key for p in self.queue.handler_problems)
            self.notify(f"this process cannot run intent(s) {cannot}: "
                        f"{self.queue.handler_problems[0].reason}", severity="warning", timeout=20)
        if self.engine_wanted:
            self._start_engine()
        elif self.event_paths and not self.read_only:
            # Watching (no workers here) still follows the event files it
            # was given: their events are this screen's to show.
            self._start_engine(workers=0)
        elif self.event_paths:
            self.notify("--read-only: the event files are not followed (that writes their events)",
                        severity="warning", timeout=10)
        if self.demo is not None:
            self.demo.start(self)
        await self.live.cycle()
        gc.freeze()  # what start-up made lives on: keep it out of every later collection
        # A full collection walks every object made since start-up (20-100 ms
        # once screens have come and gone). CPython starts one in the middle of
        # whatever allocates, which is a key's screen being built; here a timer
        # runs it between keys instead, when as much is pending as would have
        # started one.
        gc.set_threshold(*gc.get_threshold()[:2], FULL_COLLECTION_BY_TIMER)
        self.set_interval(1.0, self._collect_garbage, name="gc")
        self.ready.set()
        if self.live_enabled:
            self._live_task = asyncio.create_task(self.live.run(), name="live-updates")
            self.set_interval(1.0, self.tick_clock, name="tick")

    async def settle(self) -> None:
        """Finish what is pending (actions, page loads, a refresh) so the screen is current.

        Tests, screenshots and benchmarks call this instead of sleeping.
        """
        await self.ready.wait()
        for _ in range(2):
            # Messages already posted (an in-process change notice, say) are
            # handled first: each pump runs call_later callbacks in order.
            for pump in (self, self.screen):
                handled = asyncio.Event()
                pump.call_later(handled.set)
                await handled.wait()
            await self.workers.wait_for_complete()
            if self.live is not None:
                await self.live.cycle()

    def _start_engine(self, workers: int | None = None) -> None:
        """Run the engine beside the screens; ``workers=0``: only the event tailer (and the log buffer)."""
        tail_only = workers == 0
        self.runner = Runner(self.queue, workers=0 if tail_only else self.engine_workers,
                             concurrency=self.engine_concurrency, event_paths=self.event_paths,
                             schedules=not tail_only, alerts=not tail_only)
        self._engine_task = asyncio.create_task(self.runner.run(self._stop_engine), name="engine")
        self._engine_task.add_done_callback(self._engine_ended)
        self.run_worker(self._follow_tailer(), group="tailer", exit_on_error=False)

    def _engine_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._stop_engine.is_set():
            self.notify(f"the engine stopped: {task.exception()}", severity="error", timeout=30)

    async def _follow_tailer(self) -> None:
        """Once the engine started its tailer, turn its batches into messages."""
        if self.runner is None:
            return
        await self.runner.started.wait()
        tailer = self.runner.tailer
        if tailer is not None and hasattr(tailer, "subscribe"):
            unsubscribe = tailer.subscribe(lambda batch: self.post_message(EventsArrived(batch)))
            if callable(unsubscribe):
                self._unsubscribe.append(unsubscribe)

    async def action_quit(self) -> None:
        """Stop the engine gracefully (in-flight chunks finish or go back), then leave.

        The wait runs beside the app, so keys still work meanwhile: a second
        ctrl+c (or q) exits at once.
        """
        if self.quitting:
            self.action_interrupt()
            return
        self.quitting = True
        if self.demo is not None:
            self.demo.stop()
        if self._engine_task is not None and not self._engine_task.done():
            self.notify("Stopping workers: in-flight chunks finish or go back to pending… "
                        "(ctrl+c again to exit at once)", timeout=60)
            self._stop_engine.set()
            self.run_worker(self._leave_when_stopped(), group="quit", exit_on_error=False)
            return
        self.exit(0)

    async def _leave_when_stopped(self) -> None:
        if self._engine_task is not None:
            await asyncio.wait({self._engine_task}, timeout=self.config.engine.grace_period + 5)
        self.exit(0)

    def action_interrupt(self) -> None:
        """ctrl+c: the first stops gracefully as ``q`` does; a second exits now.

        Exiting now does not wait for in-flight chunks: as after a second
        SIGTERM to ``--engine-only``, their leases fence out late results and
        the stuck-chunk rescue gives them back.
        """
        if not self.quitting:
            self.run_worker(self.action_quit(), group="quit", exit_on_error=False)
            return
        self.forced = True
        if self._engine_task is not None and not self._engine_task.done():
            self._engine_task.cancel()
        self.exit(130, return_code=130)

    async def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._live_task is not None:
            self._live_task.cancel()
        self._stop_engine.set()
        if self._engine_task is not None and not self._engine_task.done() and not self.forced:
            await asyncio.wait({self._engine_task}, timeout=self.config.engine.grace_period + 5)
        if self._queue is not None:
            await self._queue.close()

    # -- live updates ----------------------------------------------------------------

    def _engine_changed(self, change: Change) -> None:
        self.post_message(EngineChanged(change))

    def on_engine_changed(self, message: EngineChanged) -> None:
        if self.live is not None:
            self.live.note(message.change)

    def on_events_arrived(self, message: EventsArrived) -> None:
        if self.live is not None:
            from queuetop.engine.model.changes import EVENTS, SESSIONS

            self.live.request(frozenset({EVENTS, SESSIONS}), urgent=False)

    def on_load_failed(self, message: LoadFailed) -> None:
        if self.live is not None:
            self.live.request()

    def request_refresh(self, topics: Iterable[str] = ALL_TOPICS, *, urgent: bool = True) -> None:
        """Ask the live loop to re-query ``topics``: now (superseding a running refresh), or at its next poll."""
        if self.live is not None:
            self.live.request(frozenset(topics), urgent=urgent)

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        """One refresh cycle: header totals, then every visible live screen."""
        changes = self.live.cycle_changes if self.live is not None else None
        if topics & TOTALS_TOPICS or self.totals is None:
            self.totals = await self.queue.totals()
        for screen in self.visible_screens():
            if isinstance(screen, LiveScreen):
                await screen.refresh_data(topics, job_ids)
                # Shown, every topic was refreshed as it changed: it is current as of this count.
                screen.current_as_of = changes
        self.refreshes += 1

    def visible_screens(self) -> list[Screen[Any]]:
        """The top screen and, under modal ones, the screens that still show."""
        shown: list[Screen[Any]] = []
        for screen in reversed(self.screen_stack):
            shown.append(screen)
            if not screen.is_modal:
                break
        return shown

    def _collect_garbage(self) -> None:
        """The full collection CPython would have started by now, run here (see on_mount)."""
        if gc.get_count()[2] >= FULL_COLLECTION_AFTER:
            gc.collect()

    def tick_clock(self) -> None:
        """Once a second: what the clock changes. Tables repaint only where a clock-drawn cell changed;
        the totals are asked again once the oldest fresh heartbeat has gone stale (a dead engine commits
        nothing that would say so)."""
        totals = self.totals
        if (totals is not None and totals.fresh_until is not None and self._stale_asked != totals.fresh_until
                and self.queue.clock.now() > totals.fresh_until):
            self._stale_asked = totals.fresh_until
            self.request_refresh({WORKERS}, urgent=False)
        for screen in self.visible_screens():
            if isinstance(screen, LiveScreen):
                screen.tick()

    def on_data_stale(self, message: DataStale) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, LiveScreen):
                screen.show_stale(message.reason, message.since)

    def on_data_fresh(self, message: DataFresh) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, LiveScreen):
                screen.show_stale(None, None)

    # -- operator actions ---------------------------------------------------------------

    def refuse_read_only(self, what: str) -> bool:
        """True (and a warning) when actions are disabled by --read-only."""
        if self.read_only:
            self.notify(f"Read-only: {what} is disabled (queuetop was started with --read-only).",
                        title="Read-only", severity="warning")
        return self.read_only

    @work(group="actions")
    async def act(self, what: str, steps: Sequence[Callable[[], Awaitable[Any]]], *,
                  confirm: str | Callable[[int], str] | None = None, after: Callable[[], None] | None = None,
                  checks: Sequence[Callable[[], Awaitable[str | None]]] | None = None) -> None:
        """Run engine actions (one per step), after a confirmation when asked; notify the outcome.

        ``checks`` (one per step) say beforehand why a step would be refused:
        refused steps are dropped and said at once, and nobody is asked to
        confirm an action that would only be refused. ``confirm`` may be a
        function of the number of steps left. ``after`` runs once the steps
        ran (not when the operator said no or every step was refused).
        """
        if self.refuse_read_only(what):
            return
        if checks is not None:
            kept: list[Callable[[], Awaitable[Any]]] = []
            refusals: list[str] = []
            for step, check in zip(steps, checks):
                try:
                    reason = await check()
                except Exception as exc:  # the check could not run: let the action itself say
                    reason = None
                    log.debug("refusal check failed: %r", exc)
                if reason is None:
                    kept.append(step)
                else:
                    refusals.append(reason)
            if refusals:
                self.notify("\n".join(refusals[:5]) + (f"\n… and {len(refusals) - 5} more" if len(refusals) > 5 else ""),
                            title=f"{what.capitalize()}: refused", severity="error", timeout=8)
            steps = kept
            if not steps:
                return
        if callable(confirm):
            confirm = confirm(len(steps))
        if confirm is not None:
            from .screens.confirm import ConfirmScreen

            if not await self.push_screen_wait(ConfirmScreen(confirm)):
                self.notify(f"{what}: not done", severity="information", timeout=3)
                return
        done: list[str] = []
        refused: list[str] = []
        for step in steps:
            try:
                result = await step()
            except QueuetopError as exc:
                refused.append(str(exc))
            except Exception as exc:  # the database failed: say so, keep running
                refused.append(f"{what} failed: {type(exc).__name__}: {exc}")
            else:
                message = getattr(result, "message", None)
                done.append(message if message else f"{what}: done")
        if done:
            text = done[0] if len(done) == 1 else f"{what}: {len(done)} done\n" + "\n".join(done[:5])
            self.notify(text, title=what.capitalize(), timeout=5)
        if refused:
            text = "\n".join(refused[:5]) + (f"\n… and {len(refused) - 5} more" if len(refused) > 5 else "")
            self.notify(text, title=f"{what.capitalize()}: refused", severity="error", timeout=8)
        if after is not None:
            after()
        self.request_refresh()

    def action_toggle_pause(self) -> None:
        """Pause the queue (no new claims) or resume it."""
        paused = self.totals.paused if self.totals is not None else False
        if paused:
            self.act("resume", [self.queue.resume])
        else:
            self.act("pause", [lambda: self.queue.pause(by="tui")])

    def pop_screen(self) -> AwaitComplete:
        """Pop the top screen, then let go of what its widgets painted.

        Textual's ``StylesCache.get_inner_outer`` is an ``lru_cache`` on a
        method: it keeps up to 1,024 of the caches it was called on, and with
        them every line each removed widget last painted (about 1 MB per job
        screen opened and closed). Cleared once the screen is gone; live
        widgets fill it again at their next paint.
        """
        done = super().pop_screen()
        self.call_after_refresh(forget_painted_lines)
        return done

    def open_screen(self, screen: Screen[Any]) -> None:
        """Push ``screen`` unless the app is quitting (``q`` then ``s`` pressed fast opens nothing)."""
        if self.quitting or self._exit or not self.is_running:
            return
        self.push_screen(screen)

    # -- detail views (their messages bubble up from any screen) ----------------------------

    def on_chunk_selected(self, message: ChunkSelected) -> None:
        from .screens.chunk_detail import ChunkDetailScreen

        self.open_screen(ChunkDetailScreen(message.job_id, message.chunk_index))

    def on_event_selected(self, message: EventSelected) -> None:
        from .screens.event_detail import EventDetailScreen

        self.open_screen(EventDetailScreen(message.event))

    def on_worker_selected(self, message: WorkerSelected) -> None:
        from .screens.worker_detail import WorkerDetailScreen

        self.open_screen(WorkerDetailScreen(message.worker))

    def on_alert_selected(self, message: AlertSelected) -> None:
        from .screens.alert_detail import AlertDetailScreen

        self.open_screen(AlertDetailScreen(message.alert_id))

    def on_run_selected(self, message: RunSelected) -> None:
        from .screens.run_detail import RunDetailScreen

        self.open_screen(RunDetailScreen(message.run, message.schedule))

    def action_schedules(self) -> None:
        from .screens.schedules import SchedulesScreen

        if not isinstance(self.screen, SchedulesScreen):
            self.open_screen(SchedulesScreen())

    def action_queues(self) -> None:
        from .screens.queues import QueuesScreen

        if not isinstance(self.screen, QueuesScreen):
            self.open_screen(QueuesScreen())

    def on_queue_chosen(self, message: QueueChosen) -> None:
        """Enter on a queue: the dashboard's jobs pane filtered to that queue."""
        from .screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                screen.filter_jobs(f"queue:{message.name}")

    def action_alerts(self) -> None:
        from .screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.open_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's own "Keys" panel would duplicate ours (the help screen, from the same bindings).
        yield from (command for command in super().get_system_commands(screen) if command.title != "Keys")
        yield SystemCommand("Keys", "Every key that applies on this screen", self.action_help)
        if not self.read_only:  # offered only what would not be refused
            yield SystemCommand("Pause or resume the queue", "Stop new claims, or allow them again",
                                self.action_toggle_pause)
        yield SystemCommand("Schedules", "Cron schedules: toggle active, run now", self.action_schedules)
        yield SystemCommand("Alerts", "Raised alerts and their delivery", self.action_alerts)
        yield SystemCommand("Queues", "Each queue's counts, limits and rate: pause or resume one", self.action_queues)
        commands = getattr(screen, "palette_commands", None)
        if callable(commands):
            for title, help_text, callback in commands():
                yield SystemCommand(title, help_text, callback)

    def engine_label(self) -> str:
        """What the header says about engines: which are alive (fresh heartbeats), and the database."""
        where = display_db(self.db_path)
        totals = self.totals
        alive = engines_line(totals.engines, totals.engines_here) if totals is not None else "engines: …"
        return f"demo · {alive} · {where}" if self.demo is not None else f"{alive} · {where}"
