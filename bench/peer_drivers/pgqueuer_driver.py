"""pgqueuer on PostgreSQL (asyncpg): one enqueue call with lists, drain with one QueueManager.

Its tables go into ``--schema`` (PGQUEUER_SCHEMA, set before pgqueuer is
imported). pgqueuer deletes a job and logs it ``successful`` in buffered
batches after the task returns; the last such log row counts as the finish.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta

from common import Stamps, arguments, report

args = arguments(__doc__)
os.environ["PGQUEUER_SCHEMA"] = args.schema
os.environ["PGQUEUER_CHANNEL"] = f"ch_{args.schema}"

import asyncpg  # noqa: E402
from pgqueuer import AsyncpgDriver, Queries, QueueManager  # noqa: E402
from pgqueuer.models import Job  # noqa: E402

BATCH = args.concurrency  # jobs fetched per dequeue
stamps = Stamps()


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(args.db, server_settings={"search_path": args.schema})


async def main() -> None:
    setup = await connect()
    await Queries(AsyncpgDriver(setup)).install()
    queries = Queries(AsyncpgDriver(setup))
    started = time.perf_counter()
    await queries.enqueue(["noop"] * args.jobs, [None] * args.jobs, [0] * args.jobs)
    submit_seconds = time.perf_counter() - started
    await setup.execute("ANALYZE pgqueuer")  # as autovacuum soon would

    qm = QueueManager(Queries(AsyncpgDriver(await connect())))

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        stamps.record(time.time())

    async def stop_when_done() -> None:
        await stamps.wait_async(args.jobs, args.timeout)
        qm.shutdown.set()

    watcher = asyncio.create_task(stop_when_done())
    await qm.run(batch_size=BATCH, log_aggregation_interval=timedelta(0))
    await watcher
    left = await setup.fetchval("SELECT count(*) FROM pgqueuer")
    done, last = await setup.fetchrow(
        "SELECT count(*), extract(epoch FROM max(created))::float8 FROM pgqueuer_log WHERE status = 'successful'")
    await setup.close()
    if left:
        print(f"pgqueuer: {left} jobs still in its queue table", file=sys.stderr)
    report("pgqueuer", "pgqueuer", submit_api="Queries.enqueue with lists (one statement)",
           jobs=args.jobs, submit_seconds=submit_seconds, stamps=stamps, concurrency=f"batch_size {BATCH}",
           recorded_end=last, completed=done)


if __name__ == "__main__":
    asyncio.run(main())
