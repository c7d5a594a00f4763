"""huey on SQLite (SqliteHuey): enqueue with task.map, drain with one consumer of worker threads.

huey's SQLite storage runs in WAL mode at SQLite's default synchronous=FULL;
queuetop runs WAL at synchronous=NORMAL, so huey's connections are given
NORMAL too: both then sync the WAL at checkpoints, not at every commit.
With ``--as-shipped`` huey keeps its own FULL, which syncs the WAL at every
commit: every enqueue is a commit of its own, as a user's loop of task calls is.
"""

from __future__ import annotations

import logging
import time

from common import Stamps, arguments, report
from huey import SqliteHuey
from huey.storage import SqliteStorage

args = arguments(__doc__)
stamps = Stamps()


class NormalSyncStorage(SqliteStorage):
    """SqliteStorage with queuetop's durability: WAL, synchronous=NORMAL."""

    def _create_connection(self):  # type: ignore[no-untyped-def]
        conn = super()._create_connection()
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn


huey = SqliteHuey("bench", filename=args.path, storage_class=SqliteStorage if args.as_shipped else NormalSyncStorage)


@huey.task()
def noop() -> None:
    stamps.record(time.time())


def main() -> None:
    logging.getLogger("huey").setLevel(logging.WARNING)
    started = time.perf_counter()
    noop.map(() for _ in range(args.jobs))  # huey's many-at-once call: one enqueue per task
    submit_seconds = time.perf_counter() - started
    consumer = huey.create_consumer(workers=args.concurrency, worker_type="thread", periodic=False,
                                    check_worker_health=False)
    consumer.start()
    try:
        stamps.wait(args.jobs, args.timeout)
    finally:
        consumer.stop(graceful=True)
    report("huey", "huey", submit_api="task.map() (one INSERT per task; huey has no batch enqueue)",
           jobs=args.jobs, submit_seconds=submit_seconds, stamps=stamps,
           concurrency=f"{args.concurrency} worker threads", completed=args.jobs - huey.pending_count())


if __name__ == "__main__":
    main()
