"""A synchronous client for producers that live in sync code.

A script, a Django or Flask view, a Celery task: code that cannot ``await``
uses :func:`connect`::

    import queuetop

    with queuetop.connect("queuetop.db") as client:
        job = client.submit("reports.build", params={"month": "2026-01"})
        print(client.job(job.job_id).status)

Each client owns its own connection to the database (its own
:class:`~queuetop.engine.api.Queue`) and its own event loop, on a private
thread: it works the same whether or not the calling thread already runs an
event loop (an async framework calling sync code), and it never shares a
connection with another client. Close it (or use ``with``) to release both.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from queuetop.engine.api import Config, Job, Queue, SubmitResult, load_config
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.services.actions import ActionResult

T = TypeVar("T")


class Client:
    """Blocking calls onto one :class:`~queuetop.engine.api.Queue` (see the module docstring)."""

    def __init__(self, db: str | os.PathLike[str], config: Config | str | os.PathLike[str] | None = None) -> None:
        if isinstance(config, (str, Path, os.PathLike)):
            config = load_config(config, required=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="queuetop-client", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._queue: Queue = self._call(Queue.open(db, config))
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise UsageError("this queuetop client is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise UsageError("a queuetop client cannot be called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    # -- producing --------------------------------------------------------------------

    def submit(self, intent: str, *, chunks: Sequence[Mapping[str, Any]] | None = None,
               date_range: str | None = None, chunk_days: int | None = None,
               params: Mapping[str, Any] | None = None, dedupe_key: str | None = None,
               max_retries: int | None = None, priority: int = 0, timeout: float | None = None,
               on_finalize: str | None = None) -> SubmitResult:
        """Make one job and its chunks (see :meth:`queuetop.engine.api.Queue.submit`)."""
        return self._call(self._queue.submit(
            intent, chunks=chunks, date_range=date_range, chunk_days=chunk_days, params=params,
            dedupe_key=dedupe_key, max_retries=max_retries, priority=priority, timeout=timeout,
            on_finalize=on_finalize))

    def submit_many(self, items: Iterable[Mapping[str, Any]]) -> list[SubmitResult]:
        """Make many jobs, in batches (see :meth:`queuetop.engine.api.Queue.submit_many`)."""
        return self._call(self._queue.submit_many(list(items)))

    # -- reading ----------------------------------------------------------------------

    def job(self, job_id: int) -> Job:
        """One job; :class:`~queuetop.engine.model.exceptions.NotFound` if there is none."""
        return self._call(self._queue.job(job_id))

    def jobs(self, *, status: str | None = None, search: str | None = None, limit: int = 50,
             offset: int = 0) -> list[Job]:
        """A page of jobs, newest first."""
        return self._call(self._queue.jobs(status=status, search=search, limit=limit, offset=offset))

    # -- acting -----------------------------------------------------------------------

    def retry(self, job_id: int, chunk_index: int | None = None) -> ActionResult:
        return self._call(self._queue.retry(job_id, chunk_index))

    def cancel(self, job_id: int, chunk_index: int | None = None) -> ActionResult:
        return self._call(self._queue.cancel(job_id, chunk_index))

    def finalize(self, job_id: int) -> ActionResult:
        return self._call(self._queue.finalize(job_id))

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection and stop the client's loop; calling it again does nothing."""
        if self._closed:
            return
        try:
            self._call(self._queue.close())
        finally:
            self._closed = True
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(db: str | os.PathLike[str], config: Config | str | os.PathLike[str] | None = None) -> Client:
    """Open a synchronous client on the database at ``db`` (a SQLite path or a postgresql:// URL).

    ``config`` is a :class:`~queuetop.engine.api.Config` or the path of a
    queuetop.toml (its ``[engine]`` defaults apply to submitted jobs).
    """
    return Client(db, config)


__all__ = ["Client", "connect"]
