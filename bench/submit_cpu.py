"""CPU per job of ``Queue.submit_many`` on PostgreSQL: this process's and the server backends'.

    python bench/submit_cpu.py --db postgresql://... [--jobs 5000] [--rounds 5] [--json]

Each round makes a fresh schema, opens a Queue (its connections named by
``application_name``), submits ``--jobs`` one-chunk no-op jobs in one
``submit_many`` call and reads, around that call only: the wall time, this
process's CPU (``time.process_time``) and the CPU of every server backend
with that application name (user + system, from ``/proc/<pid>/stat``; the
server must run on this machine). CPU per job is steadier than jobs per
second on a machine whose cores are shared. Prints medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drain_cpu import cpu_seconds  # noqa: E402
from throughput import _connect, database  # noqa: E402

from queuetop.engine.api import Queue  # noqa: E402


def backends(admin: object, name: str) -> dict[int, float]:
    """CPU seconds so far of each backend whose application_name is ``name``."""
    pids = [row[0] for row in admin.execute(  # type: ignore[attr-defined]
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)).fetchall()]
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:
            pass
    return found


async def one_round(db: str, jobs: int, admin: object) -> dict[str, float]:
    name = f"qt_submit_cpu_{os.getpid()}"
    os.environ["PGAPPNAME"] = name
    queue = await Queue.open(db)
    try:
        items = [{"intent": "demo.noop"} for _ in range(jobs)]
        before = backends(admin, name)
        cpu, wall = time.process_time(), time.perf_counter()
        await queue.submit_many(items)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = backends(admin, name)
    finally:
        await queue.close()
    server = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return {"jobs_per_s": jobs / wall, "client_us": cpu / jobs * 1e6, "server_us": server / jobs * 1e6,
            "wall_us": wall / jobs * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a postgresql:// URL")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    admin = _connect(args.db)
    rounds = []
    for n in range(args.rounds):
        with database(args.db, Path(f"submit{n}")) as db:
            rounds.append(asyncio.run(one_round(db, args.jobs, admin)))
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    if args.json:
        print(json.dumps({"medians": medians, "rounds": rounds}))
        return
    print(f"submit_many of {args.jobs} one-chunk jobs, {args.rounds} rounds, medians:")
    print(f"  {medians['jobs_per_s']:>9,.0f} jobs/s   wall {medians['wall_us']:6.1f} us/job   "
          f"client CPU {medians['client_us']:5.1f} us/job   server CPU {medians['server_us']:5.1f} us/job")


if __name__ == "__main__":
    main()
