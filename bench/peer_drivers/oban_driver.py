"""Oban for Python on PostgreSQL (psycopg pool): Oban.enqueue_many, drain with one Oban instance.

Its tables go into ``--schema`` (Oban's ``prefix``). The last
``completed_at`` Oban records counts as the finish.
"""

from __future__ import annotations

import asyncio
import logging
import time

from common import Stamps, arguments, report
from oban import Oban, worker
from oban._query import Query

args = arguments(__doc__)
stamps = Stamps()


@worker(queue="default")
class Noop:
    async def process(self, job):  # type: ignore[no-untyped-def]
        stamps.record(time.time())


async def main() -> None:
    logging.getLogger("oban").setLevel(logging.WARNING)
    pool = await Oban.create_pool(args.db, max_size=max(10, args.concurrency // 10))
    try:
        await Query(pool, args.schema).install()
        client = Oban(pool=pool, prefix=args.schema, name="client")
        started = time.perf_counter()
        await client.enqueue_many([Noop.new() for _ in range(args.jobs)])
        submit_seconds = time.perf_counter() - started
        async with pool.connection() as conn:
            await conn.execute(f'ANALYZE "{args.schema}".oban_jobs')  # as autovacuum soon would
        server = Oban(pool=pool, prefix=args.schema, queues={"default": args.concurrency})
        await server.start()
        try:
            await stamps.wait_async(args.jobs, args.timeout)
            deadline = time.monotonic() + args.timeout
            async with pool.connection() as conn:
                while True:  # acks may land after the last task returns
                    cur = await conn.execute(
                        f"SELECT count(*), extract(epoch FROM max(completed_at))::float8 "
                        f'FROM "{args.schema}".oban_jobs WHERE state = \'completed\'')
                    done, last = await cur.fetchone()
                    if done >= args.jobs or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.01)
        finally:
            await server.stop()
    finally:
        await pool.close()
    report("Oban for Python", "oban", submit_api="Oban.enqueue_many (one statement)", jobs=args.jobs,
           submit_seconds=submit_seconds, stamps=stamps, concurrency=f"queue limit {args.concurrency}",
           recorded_end=last, completed=done)


if __name__ == "__main__":
    asyncio.run(main())
