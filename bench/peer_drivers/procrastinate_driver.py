"""procrastinate on PostgreSQL (psycopg): batch_defer_async, drain with one worker.

Its tables go into ``--schema`` (the connection's search_path). The worker
is cancelled once every task has run. The last
``succeeded`` event procrastinate records counts as the finish.
"""

from __future__ import annotations

import asyncio
import logging
import time

from common import Stamps, arguments, report
from procrastinate import App, PsycopgConnector

args = arguments(__doc__)
stamps = Stamps()
app = App(connector=PsycopgConnector(conninfo=args.db, kwargs={"options": f"-c search_path={args.schema}"}))


@app.task(name="noop")
async def noop() -> None:
    stamps.record(time.time())


async def main() -> None:
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        started = time.perf_counter()
        await noop.batch_defer_async(*({} for _ in range(args.jobs)))
        submit_seconds = time.perf_counter() - started
        async with app.connector.pool.connection() as conn:
            await conn.execute("ANALYZE procrastinate_jobs")  # as autovacuum soon would
        worker = asyncio.create_task(app.run_worker_async(concurrency=args.concurrency,
                                                          install_signal_handlers=False))
        await stamps.wait_async(args.jobs, args.timeout)
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
        async with app.connector.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
            done = (await cur.fetchone())[0]
            cur = await conn.execute("SELECT extract(epoch FROM max(at))::float8 FROM procrastinate_events "
                                     "WHERE type = 'succeeded'")
            last = (await cur.fetchone())[0]
    report("procrastinate", "procrastinate", submit_api="Task.batch_defer_async (one statement)", jobs=args.jobs,
           submit_seconds=submit_seconds, stamps=stamps, concurrency=f"concurrency {args.concurrency}",
           recorded_end=last, completed=done)


if __name__ == "__main__":
    asyncio.run(main())
