"""`queuetop --demo`: a temporary database that comes alive with no setup.

Demo jobs run the built-in demo handlers (random durations, some transient
and some permanent failures); a few multi-chunk jobs are submitted at start
and more now and then so the screen keeps moving; a demo schedule fires every
minute; a writer thread appends coordination events to a temporary NDJSON
file that the engine's tailer follows.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuetop.engine.api import write_demo_events
from queuetop.engine.api import Config

if TYPE_CHECKING:
    from .app import QueuetopApp

FLAKY = {"min": 0.3, "max": 2.5, "transient": 0.15, "permanent": 0.05}
INTENTS = ("demo.flaky",)
KEEP_UNFINISHED = 6    # submit more when fewer jobs than this are unfinished
RESUPPLY_EVERY = 8.0   # seconds between looks


class DemoWorkspace:
    """The temporary folder with the demo database and event file."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="queuetop-demo-"))
        self.db_path = self.root / "demo.db"
        self.events_path = self.root / "events.ndjson"
        self.events_path.touch()

    def config(self, base: Config) -> Config:
        """Short heartbeats and grace so the demo reacts and quits quickly."""
        return base.with_engine(heartbeat_interval=2.0, grace_period=2.0, retry_base=2.0, retry_cap=20.0,
                                log_flush_interval=1.0, poll_interval=0.25)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Demo:
    """Feeds the demo: jobs now and then, a schedule, and an event writer."""

    def __init__(self, workspace: DemoWorkspace, *, seed: int = 7) -> None:
        self.workspace = workspace
        self.rng = random.Random(seed)
        self.seed = seed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self.submitted = 0

    def start(self, app: "QueuetopApp") -> None:
        self._task = asyncio.create_task(self._feed(app), name="demo-feed")
        self._start_event_writer()

    def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()

    async def _feed(self, app: "QueuetopApp") -> None:
        queue = app.queue
        try:
            await queue.add_schedule("demo-every-minute", "* * * * *", "demo.flaky",
                                     {**FLAKY, "seed": self.seed})
        except Exception as exc:  # the demo goes on without its schedule
            app.notify(f"demo schedule not added: {exc}", severity="warning")
        for chunks in (8, 12, 5, 20):
            await self._submit(queue, chunks)
        while not self._stop.is_set():
            await asyncio.sleep(RESUPPLY_EVERY)
            try:
                unfinished = (await queue.count_jobs(status="pending")) + (await queue.count_jobs(status="running"))
                if unfinished < KEEP_UNFINISHED:
                    await self._submit(queue, self.rng.choice((4, 6, 8, 10, 16)))
            except Exception:  # a busy database: try again next round
                continue

    async def _submit(self, queue: Any, chunks: int) -> None:
        self.submitted += 1
        params = {**FLAKY, "seed": self.seed + self.submitted}
        if self.submitted % 2:
            year = 2024 + self.submitted % 2
            await queue.submit("demo.flaky", date_range=f"{year}-01-01..{year}-12-31",
                               chunk_days=max(1, 366 // chunks), params=params)
        else:
            await queue.submit("demo.flaky", chunks=[{"page": n} for n in range(chunks)], params=params)

    def _start_event_writer(self) -> None:
        def run() -> None:
            try:
                write_demo_events(self.workspace.events_path, rate=4.0, count=None, seed=self.seed, stop=self._stop)
            except Exception:  # the demo still runs without events
                pass

        self._thread = threading.Thread(target=run, name="demo-events", daemon=True)
        self._thread.start()
