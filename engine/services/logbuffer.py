"""Task logs written in batches: 5 s after the first line queued, or at 100 entries, and on stop.

The old system inserted one row per log line and could not keep up (seed
000: 20 inserts/s). Handlers may run in threads, so :meth:`LogBuffer.add` is
thread-safe and never touches the database itself. With nothing queued the
buffer sleeps until a line comes: an idle engine wakes for nothing, and a
job's lines are readable (``queuetop logs``, the LOGS column) within the
interval of its first (the design's "every 5 s", without the idle wake-ups).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from queuetop.engine.store import queries
from queuetop.engine.model.clock import Clock
from queuetop.engine.model.text import LOG_LIMIT, as_text, clean
from queuetop.engine.store.protocol import Backend as Database

SQL = queries.load("logs")
log = logging.getLogger("queuetop.engine")
LEVELS = ("debug", "info", "warning", "error")


class LogBuffer:
    """Collects log entries and writes them in one statement per flush."""

    def __init__(self, db: Database, clock: Clock, *, interval: float = 5.0, max_entries: int = 100,
                 max_chars: int = LOG_LIMIT) -> None:
        self._db = db
        self.max_chars = max_chars  # a longer line is cut, with a marker saying how much
        self._clock = clock
        self.interval = interval
        self.max_entries = max_entries
        self._entries: list[list[Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = asyncio.Lock()
        self._full = asyncio.Event()
        self._queued = asyncio.Event()  # set when a line lands in an empty buffer
        self._loop: asyncio.AbstractEventLoop | None = None
        self.written = 0

    def add(self, job_id: int | None, chunk_id: int | None, worker_id: str | None, level: str, message: str) -> None:
        """Queue one entry; safe from any thread."""
        # What a handler logs is untrusted: any object, NUL bytes, lone
        # surrogates, megabytes; one bad line must not sink the batch.
        level = level if level in LEVELS else "info"
        entry = [job_id, chunk_id, worker_id, self._clock.now(), level, clean(as_text(message), self.max_chars)]
        with self._lock:
            self._entries.append(entry)
            queued = len(self._entries)
        loop = self._loop
        if loop is not None and (queued == 1 or queued >= self.max_entries):
            try:
                if queued == 1:
                    loop.call_soon_threadsafe(self._queued.set)
                if queued >= self.max_entries:
                    loop.call_soon_threadsafe(self._full.set)
            except RuntimeError:  # the loop closed under a handler's thread: the line waits for a flush
                pass

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    async def flush(self) -> int:
        """Write everything queued so far; returns the number written."""
        async with self._flush_lock:
            with self._lock:
                entries, self._entries = self._entries, []
            if not entries:
                return 0
            try:
                async with self._db.transaction() as conn:
                    await conn.execute(SQL["insert_logs"], {"entries": json.dumps(entries)})
            except Exception:
                with self._lock:  # keep them for the next flush rather than lose them
                    self._entries[:0] = entries
                raise
            self.written += len(entries)
            return len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush on the interval or when full, until ``stop``; then flush the rest."""
        self._loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self._queued.clear()
                if not len(self):
                    queued = asyncio.ensure_future(self._queued.wait())
                    await asyncio.wait({queued, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    queued.cancel()
                    if stop.is_set():
                        break
                full = asyncio.ensure_future(self._full.wait())
                await asyncio.wait({full, stopping}, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
                full.cancel()
                self._full.clear()
                try:
                    await self.flush()
                except Exception as exc:  # the database is busy or gone: try again next time
                    log.warning("log flush failed, will retry: %s", exc)
        finally:
            stopping.cancel()
            self._loop = None
            await self.flush()
