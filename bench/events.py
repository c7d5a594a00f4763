"""Benchmark of the event tailer: cold ingest rate, peak memory, append-to-published latency.

    python bench/events.py                  # 1,000,000 events (about 330 MB)
    python bench/events.py --events 100000  # smaller

1. Writes a file of realistic demo events (engine/demo_events.py).
2. Cold ingest: a fresh database, one ``Tailer.poll_once()`` over the whole
   file, sessions and threads included (a backlog this size goes to the
   tailer's bulk workers). Runs in a child process so that its peak RSS and
   its workers' are its own; RSS is also sampled as the ingest progresses,
   to show that it does not grow with the file.
3. Latency: with that database, ``Tailer.run`` follows the file while a
   thread appends events one at a time; each event's time from ``flush()``
   to the subscriber callback that publishes it.

Prints plain ``name: value`` lines. The machine's load average is printed
first: other processes on a small machine move these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from queuetop.engine.events import parse as events_module
from queuetop.engine.events import sessions
from queuetop.engine.model.clock import SystemClock
from queuetop.engine.store.sqlite.backend import Database
from queuetop.engine.events.demo import demo_events
from queuetop.engine.events.tail import EventBatch, Tailer


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def generate(path: Path, count: int, seed: int) -> None:
    # Event times end about now, so that the sessions span every status.
    start_ms = int(time.time() * 1000) - count * 1000
    with open(path, "wb", buffering=1 << 20) as out:
        for event in itertools.islice(demo_events(seed, start_ms=start_ms), count):
            out.write(orjson.dumps(event) + b"\n")


async def ingest(file: Path, db_path: Path, expected: int) -> dict[str, object]:
    db = await Database.open(db_path)
    clock = SystemClock()
    tailer = Tailer(db, clock, [str(file)])
    samples: list[tuple[int, float]] = []
    marks = iter([expected // 10, expected // 2, expected * 9 // 10, 1 << 62])
    mark = next(marks)

    def on_batch(batch: EventBatch) -> None:
        nonlocal mark
        if tailer.events_stored >= mark:
            samples.append((tailer.events_stored, rss_mb()))
            mark = next(marks)

    tailer.subscribe(on_batch)
    rss_before = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    stored = await tailer.poll_once()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    checkpoint = time.perf_counter()
    await asyncio.to_thread(tailer.checkpointed.wait)
    checkpoint = time.perf_counter() - checkpoint
    tailer.close()
    counts = await sessions.counts_by_status(db, clock)
    threads = await db.scalar("SELECT count(*) FROM session_threads")
    await db.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"stored": stored, "wall": wall, "cpu": cpu, "rss_before": rss_before, "samples": samples,
            "checkpoint": checkpoint, "worker_cpu": children.ru_utime + children.ru_stime,
            "sessions": sum(counts.values()), "by_status": {k.value: v for k, v in counts.items()},
            "threads": threads, "batches": tailer.batches,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
            "worker_peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3}


async def latency(file: Path, db_path: Path, count: int, rate: float, seed: int) -> list[float]:
    db = await Database.open(db_path)
    tailer = Tailer(db, SystemClock(), [str(file)])
    first_new = await events_module.latest_event_id(db) + 1
    published: list[tuple[float, int, int]] = []
    done = asyncio.Event()
    seen = 0

    def on_batch(batch: EventBatch) -> None:
        nonlocal seen
        if batch.count:
            published.append((time.perf_counter(), batch.first_id, batch.last_id))  # type: ignore[arg-type]
            seen += batch.count
            if seen >= count:
                done.set()

    tailer.subscribe(on_batch)
    stop = asyncio.Event()
    runner = asyncio.create_task(tailer.run(stop))
    await tailer.poll_once()  # whatever is there already; then only new appends
    await asyncio.sleep(0.5)
    written: dict[int, float] = {}

    def write() -> None:
        stream = demo_events(seed + 1, now_ms=lambda: int(time.time() * 1000))
        interval = 1.0 / rate
        next_at = time.perf_counter()
        with open(file, "ab") as out:
            for seq in range(count):
                event = next(stream)
                event["data"] = {**event["data"], "benchSeq": seq}
                out.write(orjson.dumps(event) + b"\n")
                out.flush()
                written[seq] = time.perf_counter()
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=count / rate + 60)
    finally:
        writer.join()
        stop.set()
        await runner
    seq_of: dict[int, int] = {}
    rows = await db.fetchall("SELECT id, data ->> 'benchSeq' AS seq FROM events WHERE id >= ?", (first_new,))
    for row in rows:
        seq_of[row["id"]] = row["seq"]
    await db.close()
    latencies = []
    for at, first_id, last_id in published:
        for event_id in range(first_id, last_id + 1):
            seq = seq_of.get(event_id)
            if seq is not None:
                latencies.append((at - written[seq]) * 1000)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file (default 1,000,000)")
    parser.add_argument("--latency-events", type=int, default=1000, help="events appended one at a time (default 1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="appends per second in the latency run (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one, removed after)")
    parser.add_argument("--phase", choices=["ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "ingest":  # the child process
        print(json.dumps(asyncio.run(ingest(args.file, args.db, args.events))))
        return

    work = Path(args.dir or tempfile.mkdtemp(prefix="queuetop-bench-events-"))
    work.mkdir(parents=True, exist_ok=True)
    file, db_path = work / "events.ndjson", work / "bench.db"
    for stale in (file, db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    load = os.getloadavg()
    print(f"cpus: {os.cpu_count()}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    started = time.perf_counter()
    generate(file, args.events, args.seed)
    size = file.stat().st_size
    print(f"file: {args.events:,} events, {size / 1e6:.1f} MB ({size / args.events:.0f} bytes/event), "
          f"written in {time.perf_counter() - started:.1f} s")

    child = subprocess.run([sys.executable, __file__, "--phase", "ingest", "--events", str(args.events),
                            "--file", str(file), "--db", str(db_path)], capture_output=True, text=True)
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise SystemExit("ingest failed")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    stored = result["stored"]
    print(f"cold ingest: {stored:,} events in {result['wall']:.2f} s = {stored / result['wall']:,.0f} events/s "
          f"({result['batches']} transactions; cpu: tailer process {result['cpu']:.2f} s, "
          f"bulk workers {result['worker_cpu']:.2f} s)")
    print(f"WAL checkpoint after the ingest, in a background thread: {result['checkpoint']:.2f} s")
    print(f"sessions: {result['sessions']:,} ({', '.join(f'{k} {v:,}' for k, v in result['by_status'].items())}), "
          f"threads: {result['threads']:,}")
    print(f"database: {db_path.stat().st_size / 1e6:.0f} MB")
    print(f"peak RSS: ingest process {result['peak_rss']:.0f} MB, largest bulk worker {result['worker_peak_rss']:.0f} MB")
    print("RSS during ingest: " + ", ".join(f"{n:,} events {mb:.0f} MB"
                                            for n, mb in [(0, result["rss_before"]), *result["samples"]]))
    if stored != args.events:
        print(f"WARNING: stored {stored:,} of {args.events:,} events")

    lat = asyncio.run(latency(file, db_path, args.latency_events, args.rate, args.seed))
    print(f"append-to-published latency ({len(lat):,} events appended one at a time at {args.rate:g}/s): "
          f"p50 {statistics.median(lat):.1f} ms, p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms")

    if args.dir is None:
        for path in (file, db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            path.unlink(missing_ok=True)
        work.rmdir()


if __name__ == "__main__":
    main()
