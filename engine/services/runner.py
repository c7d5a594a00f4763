"""Running the engine: workers, schedules, maintenance, log buffer, tailer, alert delivery, metrics.

``queuetop --engine-only`` runs this headless; the TUI runs the same thing
inside its own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

from queuetop.engine.model.changes import QUEUE, Change
from queuetop.engine.services import scheduler as periodic
from queuetop.engine.handlers.http import register_http_intents
from queuetop.engine.services.alert_delivery import AlertDelivery
from queuetop.engine.services.scheduler import Scheduler
from queuetop.engine.services.startup import until_written
from queuetop.engine.services.engine import Engine
from queuetop.engine.services.watchdog import LoopWatchdog
from queuetop.engine.services.worker import Worker
from queuetop.engine.config import display_db

log = logging.getLogger("queuetop.engine")


class Runner:
    """Everything an engine process runs, started and stopped together."""

    def __init__(self, queue: Engine, *, workers: int | None = None, concurrency: int | None = None,
                 schedules: bool = True, event_paths: Sequence[str] = (), metrics_port: int | None = None,
                 metrics_host: str | None = None, alerts: bool = True) -> None:
        """``metrics_port`` (0 or None: none) serves Prometheus text on ``metrics_host``;
        ``alerts=False`` delivers none (a watching TUI that only follows event files)."""
        self.queue = queue
        # Reads the env vars its headers name: a missing one fails start-up, not the first call.
        register_http_intents(queue)
        count = workers if workers is not None else queue.settings.workers
        self.workers = [Worker(queue, concurrency=concurrency) for _ in range(count)]
        self.scheduler = Scheduler(queue) if schedules else None
        self.event_paths = list(event_paths)
        self.tailer = None
        self.started = asyncio.Event()
        self.alerts = AlertDelivery(queue) if alerts else None
        self.metrics_port = metrics_port or 0
        self.metrics_host = metrics_host or queue.settings.metrics_host
        self.metrics: Any = None

    def _make_tailer(self) -> object | None:
        if not self.event_paths:
            return None
        from queuetop.engine.events.enrich import EnrichRules
        from queuetop.engine.events.tail import Tailer

        events = self.queue.config.events
        return Tailer(
            self.queue.db, self.queue.clock, self.event_paths,
            rules=EnrichRules.from_config(events.get("rules", [])),
            max_line_bytes=int(events.get("max_line_bytes", 1 << 20)),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then stop claiming, drain, flush, return."""
        queue = self.queue
        config = queue.config
        if not await until_written(queue.db, stop, "schedules", lambda: periodic.sync(
                queue.db, queue.clock, config.schedules, config.maintenance)):
            return  # stopped while waiting for the database: nothing was started
        if config.queues is not None:  # a config with [queues] owns every queue's limits and rate
            from queuetop.engine.services import queues

            if not await until_written(queue.db, stop, "queue limits", lambda: queues.configure(
                    queue.db, queue.clock, config.queues)):
                return
            queue.changes.publish(Change.of(QUEUE, source="queues"))
        self.tailer = self._make_tailer()
        if self.metrics_port:
            from queuetop.engine.services.metrics import Metrics  # prometheus_client only when asked for

            self.metrics = Metrics(queue, self.metrics_host, self.metrics_port, tailer=self.tailer)
            await self.metrics.read()  # the first scrape already has the gauges
            self.metrics.start()
        log_stop = asyncio.Event()
        background = [asyncio.create_task(queue.logs.run(log_stop), name="log-buffer")]
        if self.alerts is not None:
            background.append(asyncio.create_task(self.alerts.run(stop), name="alerts"))
        if self.metrics is not None:
            background.append(asyncio.create_task(self.metrics.run(stop), name="metrics"))
        if self.tailer is not None:
            background.append(asyncio.create_task(self.tailer.run(stop), name="tailer"))
        if self.scheduler is not None:
            background.append(asyncio.create_task(self.scheduler.run(stop), name="scheduler"))
        worker_tasks = [asyncio.create_task(w.run(stop), name=f"worker-{w.id}") for w in self.workers]
        watchdog = LoopWatchdog() if self.workers else None
        if watchdog is not None:
            watchdog.start()
        self.started.set()
        log.info("engine started: %d worker(s), database %s, %s", len(self.workers), display_db(queue.db.path),
                 _config_said(config))
        try:
            await stop.wait()
        finally:
            stop.set()
            # Workers first: their chunks' last log lines must reach the buffer
            # before its final flush.
            results = await asyncio.gather(*worker_tasks, return_exceptions=True)
            log_stop.set()
            results += await asyncio.gather(*background, return_exceptions=True)
            if watchdog is not None:
                watchdog.stop()
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    log.error("engine task ended with an error: %r", result)
            log.info("engine stopped")


def _config_said(config: Any) -> str:
    """Which config the engine read: started from the wrong folder, it runs none of the project's handlers."""
    if config.path is None:
        return f"no queuetop.toml in {os.getcwd()}: only the built-in demo.* handlers run"
    return f"config {config.path.resolve()}"


def install_signal_handlers(stop: asyncio.Event, *, deadline: float | None = None) -> None:
    """SIGTERM and SIGINT ask for a graceful stop; a second one, or ``deadline`` seconds, end the process.

    The graceful stop lets in-flight chunks finish within the grace period
    and releases the rest; whatever the database does meanwhile (a held lock,
    a full disk, a server that went away), the process is gone ``deadline``
    seconds after the first signal. Chunks whose outcome was not written are
    taken back by the lease fence and the stuck-chunk rescue.
    """
    loop = asyncio.get_running_loop()
    state = {"signals": 0}
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, stop, state, deadline)


def _on_signal(sig: signal.Signals, stop: asyncio.Event, state: dict[str, int], deadline: float | None) -> None:
    name = signal.Signals(sig).name
    state["signals"] += 1
    if state["signals"] > 1:
        _exit_now(f"received {name} again: exiting now", 128 + int(sig))
    log.info("received %s: stopping gracefully (again to exit at once)", name)
    stop.set()
    if deadline is not None:
        # A thread, not the loop: the loop may be what is stuck.
        timer = threading.Timer(deadline, _exit_now,
                                (f"still stopping {deadline:g}s after {name}: exiting now", 1))
        timer.daemon = True
        timer.start()


def _exit_now(message: str, code: int) -> None:
    log.warning(message)
    logging.shutdown()
    os._exit(code)
