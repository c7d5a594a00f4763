"""Bulk submit: many jobs checked, then written a batch to a transaction, in order.

Every item is checked before anything commits: a bad one is an error naming
it and nothing is stored. Where write transactions on separate connections
run at once (PostgreSQL), the writing starts while the rest is still being
checked, and :data:`IN_FLIGHT` batches are written at once, on their own
connections: the server inserts while the client checks and sends, on two
cores instead of taking turns on one. The first batch commits only once
every item has passed, and each later one only after the one before it
(rolling back if that one failed), so what has committed is always the first
batches, as when they are written one by one. SQLite has one writer: there
every item is checked first, then the batches are written one by one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

from queuetop.engine.model.clock import Clock
from queuetop.engine.services.jobs import SQL, insert_batch
from queuetop.engine.store.protocol import Backend as Database

# Batches written at once, each on its own connection.
IN_FLIGHT = 2
# Items checked between two turns of the event loop, so that the batches
# already handed on are sent while the rest is being checked.
CHECK_SLICE = 500

Made = list[tuple[int, bool]]


async def submit_rows(db: Database, clock: Clock, items: Iterable[Any], row_of: Callable[[int, Any], dict[str, Any]],
                      batch_size: int, on_batch: Callable[[Made], None]) -> None:
    """Check each item with ``row_of(number, item)`` (an encoded job, see
    :func:`~queuetop.engine.services.jobs.encode`, or an error) and write them
    ``batch_size`` to a transaction; ``on_batch`` is told each batch's (job id,
    created?) pairs once it has committed, batch after batch.
    """
    if not db.concurrent_writes:
        rows = []
        for number, item in enumerate(items, 1):
            rows.append(row_of(number, item))
            if number % CHECK_SLICE == 0:
                # a cancel (Ctrl+C) lands here, before anything is written, not after a first batch
                await asyncio.sleep(0)
        for start in range(0, len(rows), batch_size):
            writing = asyncio.ensure_future(insert_batch(db, clock, rows[start:start + batch_size]))
            try:
                made = await asyncio.shield(writing)
            except asyncio.CancelledError:
                await _told_if_committed([writing], on_batch)
                raise
            on_batch(made)
        return
    checked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await _write_at_once(db, clock, _checked_batches(items, row_of, batch_size, checked), checked, on_batch)


async def _checked_batches(items: Iterable[Any], row_of: Callable[[int, Any], dict[str, Any]], batch_size: int,
                           checked: asyncio.Future[None]) -> AsyncGenerator[list[dict[str, Any]], None]:
    """The items as batches of rows, checked as they are taken; ``checked`` is done once all have passed."""
    batch: list[dict[str, Any]] = []
    for number, item in enumerate(items, 1):
        batch.append(row_of(number, item))
        if number % CHECK_SLICE == 0:
            await asyncio.sleep(0)  # the batches in flight send and read while the rest is checked
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
    checked.set_result(None)


async def _write_at_once(db: Database, clock: Clock, batches: AsyncGenerator[list[dict[str, Any]], None],
                         checked: asyncio.Future[None], on_batch: Callable[[Made], None]) -> None:
    """Write ``batches`` as they come, up to :data:`IN_FLIGHT` at once, each committing after ``checked``
    and after the one before it.

    While items are still being checked, a batch that finds no free place
    waits in a backlog: the ones in flight cannot commit before the check
    ends. Each batch has its intents stored first, and a batch without
    dedupe keys its ids reserved (one statement, in batch order, outside its
    transaction: two batches adding one new intent in theirs would wait on
    each other's commit). A batch with dedupe keys starts only once every batch before it
    has committed: it must see the keys they stored, and two at once could
    each wait on the other's.
    """
    backlog: list[list[dict[str, Any]]] = []
    pending: list[asyncio.Task[Made]] = []  # in batch order
    before: Awaitable[Any] = checked

    async def start_what_fits() -> None:
        nonlocal before
        while backlog and len(pending) < IN_FLIGHT:
            batch = backlog[0]
            keyed = any(row["dedupe_key"] is not None for row in batch)
            if keyed and pending:
                return
            backlog.pop(0)
            # a keyed batch reserves its ids in its transaction (only for the keys not taken), but its
            # intents too are stored first: a later batch storing one it had added, uncommitted, would
            # wait for its commit, which waits for the check this coroutine is running
            ids = await db.scalar(SQL["reserve_batch"], {
                "n": 0 if keyed else len(batch), "intents": json.dumps(sorted({row["intent"] for row in batch}))})
            for row, job_id in zip(batch, ids or ()):
                row["id"] = job_id
            pending.append(asyncio.ensure_future(insert_batch(db, clock, batch, reserved=not keyed, after=before)))
            before = pending[-1]

    try:
        async for batch in batches:
            backlog.append(batch)
            await start_what_fits()
        while backlog or pending:
            await start_what_fits()
            if pending:
                made = await asyncio.shield(pending[0])  # see _told_if_committed
                pending.pop(0)
                on_batch(made)
    finally:
        await batches.aclose()  # the items after a failed check are left unchecked
        if not checked.done():
            checked.cancel()  # an item failed its check, or the caller went away: nothing may commit
        if pending:
            # each rolls back at its commit (the one before it failed, or the check did), unless the
            # check was over and its commit on its way; the error that stopped the writing is the one raised
            await _told_if_committed(pending, on_batch)


async def _told_if_committed(writing: list[asyncio.Future[Made]], on_batch: Callable[[Made], None]) -> None:
    """Wait for batches still being written, in order, and tell ``on_batch`` of each that committed.

    A cancel (Ctrl+C) that lands while a batch's COMMIT is on its way does
    not stop it: the database commits it all the same. Told nothing of it,
    the caller would say those lines were not submitted, and a second run of
    the same file would submit them twice. So a batch's writing is shielded
    from the cancel, waited for, and reported if it committed; the cancel
    then goes on.
    """
    await asyncio.gather(*writing, return_exceptions=True)
    for task in writing:
        if task.cancelled() or task.exception() is not None:
            return  # it rolled back, and every batch after it with it
        on_batch(task.result())
