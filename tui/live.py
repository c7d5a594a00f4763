"""Deciding when panes re-query, and noticing when the database fails.

Two sources say something changed:

* this process's engine publishes :class:`~queuetop.engine.model.changes.Change`
  notices; the app turns each into an ``EngineChanged`` message and calls
  :meth:`LiveUpdates.note`, which marks only the change's topics dirty;
* other processes are noticed through ``Queue.data_version()``, polled at
  most every 250 ms. A new version that no local notice explains (another
  process, or an unpublished local write such as a heartbeat) marks every
  topic dirty; while local notices keep coming, a full re-query still happens
  at most once a second so other processes' work is never hidden.

Dirty topics are refreshed at the first poll that finds them, then no more
than once a second while changes keep coming (a queue draining a thousand
chunks a second would otherwise repaint the panes four times a second, most
of a core on a slow machine, for changes nobody can read that fast).

A cycle asks the app to refresh the dirty topics. It runs as its own task
beside the screens' message pumps (the queries themselves run on the
database driver's thread or socket), so a key is handled while a refresh
waits for the database. Polls run at most every 250 ms; an explicit request
(a screen came back, a filter changed, an action ran) starts a cycle at
once, and if one is still running it is superseded: cancelled, its topics
marked dirty again and refreshed by the new cycle.

When a cycle fails (the
file is gone, the database errors, a read hangs for seconds), the topics stay
dirty, the app is told the data is stale and why, and the poll interval
doubles up to a cap; the first cycle that works again refreshes everything.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from queuetop.engine.model.changes import (ALERTS, CHUNKS, CIRCUITS, EVENTS, JOBS, LOGS, QUEUE, SCHEDULES, SESSIONS,
                                           WORKERS, Change)
from queuetop.engine.model.clock import Clock

ALL_TOPICS = frozenset({JOBS, CHUNKS, WORKERS, SCHEDULES, LOGS, QUEUE, EVENTS, SESSIONS, CIRCUITS, ALERTS})

POLL_INTERVAL = 0.25   # data_version is looked at no more often than this
MAX_BACKOFF = 8.0      # the longest wait between checks while the database fails
SWEEP_INTERVAL = 1.0   # a full re-query at most this often while local changes run
SLOW_CYCLE = 2.0       # a cycle this slow shows the banner (locked database)
REFRESH_GAP = 1.0      # a busy queue's changes are shown at most once a second (a request: at once)

Refresh = Callable[[frozenset[str], frozenset[int]], Awaitable[None]]


class LiveUpdates:
    """The loop that polls, coalesces change notices and runs refresh cycles."""

    def __init__(self, *, data_version: Callable[[], Awaitable[int]], refresh: Refresh,
                 on_stale: Callable[[str, float], None], on_fresh: Callable[[], None],
                 clock: Clock, path: Path | None = None) -> None:
        self._data_version = data_version
        self._refresh = refresh
        self._on_stale = on_stale
        self._on_fresh = on_fresh
        self._clock = clock
        self._path = path
        self.dirty: set[str] = set(ALL_TOPICS)
        self.job_ids: set[int] = set()
        self.version: int | None = None
        self.interval = POLL_INTERVAL
        self.stale_reason: str | None = None
        self.stale_since: float | None = None
        self.failures = 0
        self.cycle_times: deque[float] = deque(maxlen=10_000)  # seconds per recent refresh cycle (benchmarks)
        self._local = False
        self._last_sweep = 0.0
        self._last_cycle = 0.0
        self._last_refresh = -REFRESH_GAP
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one cycle at a time
        self._urgent = False  # an explicit request: no waiting for the poll interval
        self._refreshing: asyncio.Task[None] | None = None  # the running cycle's refresh
        self.superseded = 0  # refreshes cancelled by a newer request
        # Counts the changes seen (notices, and new data versions): a screen that refreshed as of the
        # count at hand shows every change so far (see QueuetopApp.refresh_data).
        self.changes = 0
        self.cycle_changes = 0  # the count when the running (or last) refresh took its topics

    # -- inputs ----------------------------------------------------------------------

    def note(self, change: Change) -> None:
        """A local change notice: its topics re-query at the next cycle."""
        self.dirty |= change.topics
        self.job_ids |= change.job_ids
        self.changes += 1
        self._local = True
        self._wake.set()

    def request(self, topics: frozenset[str] = ALL_TOPICS, *, urgent: bool = True) -> None:
        """Ask for a refresh of ``topics`` now (a screen came back, a filter changed, an action ran).

        A refresh still running is superseded: cancelled, its topics
        refreshed by the next cycle. ``urgent=False`` (new events, a pane
        due again) only marks the topics for the next poll.
        """
        self.dirty |= topics
        if urgent:
            self._urgent = True
            running = self._refreshing
            if running is not None and not running.done():
                running.cancel()
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Poll and refresh until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            wait = self._last_cycle + self.interval - loop.time()
            if wait > 0 and not self._urgent:
                try:  # polls no more than one cycle per interval; a request ends the wait
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    pass
                self._wake.clear()
            urgent, self._urgent = self._urgent, False
            self._last_cycle = loop.time()
            async with self._lock:
                await self._cycle(paced=not urgent)

    async def cycle(self) -> bool:
        """One poll and, when something is dirty, one refresh now. True if it worked."""
        async with self._lock:
            return await self._cycle()

    async def _cycle(self, paced: bool = False) -> bool:
        """``paced``: a poll of the loop, which refreshes at most every REFRESH_GAP (requests do not wait)."""
        loop = asyncio.get_running_loop()
        topics: frozenset[str] = frozenset()
        job_ids: frozenset[int] = frozenset()
        try:
            if self._path is not None and not os.path.exists(self._path):
                raise FileNotFoundError(f"the database file {self._path} is gone")
            version = await self._data_version()
            if version != self.version:
                self.changes += 1
                explained = self._local and loop.time() - self._last_sweep < SWEEP_INTERVAL
                if self.version is not None and not explained:
                    self.dirty |= ALL_TOPICS
                    self._last_sweep = loop.time()
                self.version = version
            self._local = False
            if self.stale_reason is not None:
                self.dirty |= ALL_TOPICS
            if not self.dirty:
                return True
            if paced and loop.time() - self._last_refresh < REFRESH_GAP:
                return True  # the topics stay dirty for the next poll after the gap
            self._last_refresh = loop.time()
            topics, job_ids = frozenset(self.dirty), frozenset(self.job_ids)
            self.cycle_changes = self.changes
            self.dirty.clear()
            self.job_ids.clear()
            started = time.perf_counter()
            task = asyncio.ensure_future(self._refresh(topics, job_ids))
            self._refreshing = task
            done, _ = await asyncio.wait({task}, timeout=SLOW_CYCLE)
            if not done:
                self._stale(f"the database has not answered for {SLOW_CYCLE:.0f}s (locked?)")
                await asyncio.wait({task})
            self._refreshing = None
            if task.cancelled():  # superseded by a newer request: it refreshes these too
                self.dirty |= topics
                self.job_ids |= job_ids
                self.superseded += 1
                return True
            task.result()
            self.cycle_times.append(time.perf_counter() - started)
        except asyncio.CancelledError:
            if self._refreshing is not None:
                self._refreshing.cancel()
                self._refreshing = None
            raise
        except Exception as exc:  # every failure of a read shows; the loop goes on
            self.dirty |= topics
            self.job_ids |= job_ids
            self.failures += 1
            self.interval = min(MAX_BACKOFF, max(2 * POLL_INTERVAL, self.interval * 2))
            self._stale(describe(exc))
            return False
        self.failures = 0
        self.interval = POLL_INTERVAL
        if self.stale_reason is not None:
            self.stale_reason = self.stale_since = None
            self._on_fresh()
        return True

    def _stale(self, reason: str) -> None:
        if self.stale_since is None:
            self.stale_since = self._clock.now()
        if reason != self.stale_reason:
            self.stale_reason = reason
            self._on_stale(reason, self.stale_since)


def describe(exc: BaseException) -> str:
    """An error as one line for the banner."""
    text = str(exc).strip() or type(exc).__name__
    name = type(exc).__name__
    if isinstance(exc, FileNotFoundError) and "gone" in text:
        return text
    return f"{name}: {text}" if name not in text else text
