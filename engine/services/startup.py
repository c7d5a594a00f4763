"""Start-up writes that wait for the database instead of crashing the engine.

An engine may start while another process holds SQLite's write lock for
longer than ``busy_timeout`` (a process stopped with SIGSTOP mid-transaction,
a long migration, an operator's open ``sqlite3`` shell), or while
PostgreSQL is restarting. Its claims already back off and try again; its
first writes (schedules, queue limits, the worker's row) do the same, so the
engine starts when the database lets it, and says why it is waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from queuetop.engine.store.protocol import Backend

log = logging.getLogger("queuetop.engine")

MAX_BACKOFF = 5.0


async def until_written(db: Backend, stop: asyncio.Event, what: str,
                        write: Callable[[], Awaitable[None]]) -> bool:
    """Run ``write`` until it succeeds (True) or ``stop`` is set first (False).

    Only the database's own errors are retried; anything else is a bug or a
    bad config and is raised at once.
    """
    backoff = 0.0
    while not stop.is_set():
        try:
            await write()
            if backoff:
                log.info("%s: the database answered; starting", what)
            return True
        except db.Error as exc:
            backoff = min(MAX_BACKOFF, max(0.5, backoff * 2))
            log.warning("%s: the database refused the write (%s); trying again in %.1fs", what, exc, backoff)
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except TimeoutError:
                pass
    return False
