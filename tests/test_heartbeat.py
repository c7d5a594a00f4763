"""Heartbeats update, never create: a worker marked offline does not come back.

The system queuetop replaces had a presence "heartbeat" that inserted rows
when it found none, and under load it turned into a registration storm
(seed 003). Here a heartbeat is one UPDATE of the worker's own row.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from queuetop.engine.services import maintenance

from queuetop.engine.store import queries
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.config import Config
from queuetop.engine.api import Queue
from queuetop.engine.services.worker import Worker

from conftest import query


def _workers(db: Path | str) -> list[tuple[str, str, float]]:
    return query(db, "SELECT id, status, last_heartbeat FROM workers ORDER BY started_at, id")


async def test_heartbeat_of_unknown_worker_creates_nothing(db_path: Path | str) -> None:
    queue = await Queue.open(db_path)
    try:
        async with queue.db.transaction() as conn:
            cur = await conn.execute(queries.load("workers")["heartbeat"], {"id": "nobody-1-abc", "now": 1.0})
            assert cur.rowcount == 0
        assert _workers(db_path) == []
    finally:
        await queue.close()


async def test_worker_marked_offline_stays_offline_and_reregisters_under_new_id(db_path: Path | str) -> None:
    clock = FrozenClock()
    config = Config().with_engine(heartbeat_interval=0.05, stale_after=60, poll_interval=0.05)
    queue = await Queue.open(db_path, config, clock=clock)
    stop = asyncio.Event()
    worker = Worker(queue)
    task = asyncio.create_task(worker.run(stop))
    try:
        first_id = worker.id
        async def registered() -> None:
            while len(_workers(db_path)) < 1:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(registered(), 5)

        # Silence long enough to be stale, as far as the clock knows.
        clock.advance(61)
        summary = await maintenance.mark_stale_workers_offline(queue)
        assert first_id in summary
        offline_at = _workers(db_path)[0]

        async def reregistered() -> None:
            while len(_workers(db_path)) < 2:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(reregistered(), 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await queue.close()

    rows = _workers(db_path)
    assert [r[0] for r in rows][0] == first_id
    assert rows[0] == (first_id, "offline", offline_at[2]), "the old row was touched after going offline"
    assert rows[1][0] != first_id and rows[1][1] == "offline"  # stopped cleanly at the end
    assert len({r[0] for r in rows}) == 2


async def test_a_thread_abandoned_while_the_count_is_written_is_written_by_the_next_heartbeat(tmp_path: Path) -> None:
    """The abandoned-thread count a heartbeat writes is the count it counts as written.

    A thread abandoned while the write was on its way (seen in a run of the
    hung-handler test) was once taken as written: the row kept the count
    before it for good. Here the writer connection itself abandons one more
    thread the moment the count lands (a temporary trigger calling a function
    of the test), so the race is met every time.
    """
    db_path = tmp_path / "queuetop.db"
    queue = await Queue.open(db_path)
    worker = Worker(queue, concurrency=2)
    loop = asyncio.get_running_loop()
    abandoned = worker._threads._abandoned
    more = loop.create_future()  # stands for the thread abandoned meanwhile
    abandoned_more: list[int] = []

    def abandon_one_more() -> int:
        if not abandoned_more:  # the first write of the count only
            abandoned_more.append(1)
            abandoned.add(more)  # on the writer's thread, while the heartbeat awaits it
        return 0

    try:
        await worker.register()
        async with queue.db.transaction() as conn:
            await conn.create_function("abandon_one_more", 0, abandon_one_more)
            await conn.execute("CREATE TEMP TRIGGER abandon_on_write AFTER UPDATE OF abandoned ON workers "
                               "BEGIN SELECT abandon_one_more(); END")
        abandoned.add(loop.create_future())
        await worker._heartbeat()
        assert abandoned_more and worker.abandoned == 2
        assert query(db_path, "SELECT abandoned FROM workers") == [(1,)]  # the count it read, written
        await worker._heartbeat()
        assert query(db_path, "SELECT abandoned FROM workers") == [(2,)]
    finally:
        abandoned.clear()
        worker._threads.shutdown()
        worker._unsubscribe()
        await queue.close()
