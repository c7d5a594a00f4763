"""Fixture databases for the TUI's snapshots, pilots and screenshots, built by code.

Everything runs through the engine's own functions (submit, claim, settle,
actions, schedules, the log buffer) against a :class:`FrozenClock`, with fixed
worker ids, hosts and pids, so a database built here is the same on every run
and machine: job ids, times, attempts and counters never vary.

Used by tests/test_tui_snapshots.py, tests/test_tui_pilot.py and
screenshots/make.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from queuetop.engine.services import claims

from queuetop.engine.services import scheduler as periodic
from queuetop.engine.services.claims import Claim
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.config import MAINTENANCE_CRONS, Config
from queuetop.engine.api import Queue
from queuetop.engine.model.queues import QueueSpec, Rate
from queuetop.engine.model.states import WorkerState
from queuetop.engine.services import queues as named_queues
from queuetop.engine.services.worker import Worker

# The story opens a circuit and fails chunks on purpose: keep the engine's
# warnings about it out of test and screenshot output.
logging.getLogger("queuetop").addHandler(logging.NullHandler())

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: the frozen "now" of every fixture
SIZE = (160, 50)        # terminal size of every snapshot and screenshot

WORKERS = {  # id: (host, pid)
    "ops-1-4101-a1": ("ops-1", 4101),
    "ops-1-4101-b2": ("ops-1", 4101),
    "ops-2-5120-c3": ("ops-2", 5120),
    "ops-2-5033-d4": ("ops-2", 5033),
}
ALPHA, BRAVO, CHARLIE, DELTA = WORKERS


INTENTS = ("ads.collect.meta", "ads.collect.google", "notify.guardians_late", "notify.digest")


# The ads API allows 30 calls a minute and four at once; notifications go one per process.
QUEUES = (QueueSpec("ads", intents=("ads.*",), limit=4, rate=Rate(30, 60.0)),
          QueueSpec("notify", intents=("notify.*",), local_limit=2))


def fixture_config() -> Config:
    """Default engine settings; the story's intents run the demo no-op handler; ads.* and notify.* have queues."""
    return Config(handlers={intent: "queuetop.engine.handlers.demo:noop" for intent in INTENTS}, queues=QUEUES)


@contextmanager
def _as_host(host: str, pid: int) -> Iterator[None]:
    """Register a worker as if on ``host`` with ``pid`` (fixed ids for snapshots)."""
    with mock.patch("queuetop.engine.services.worker.socket.gethostname", return_value=host), \
            mock.patch("queuetop.engine.services.worker.os.getpid", return_value=pid):
        yield


class Builder:
    """Drives the engine through a story at chosen times."""

    def __init__(self, queue: Queue, clock: FrozenClock) -> None:
        self.queue = queue
        self.clock = clock
        self.rng = random.Random(1)
        self.workers: dict[str, Worker] = {}

    def at(self, seconds_before_now: float) -> float:
        self.clock.set(NOW - seconds_before_now)
        return self.clock.now()

    async def worker(self, worker_id: str, *, at: float) -> Worker:
        self.at(at)
        host, pid = WORKERS[worker_id]
        worker = Worker(self.queue, worker_id=worker_id, concurrency=4)
        with _as_host(host, pid):
            await worker.register()
        worker._unsubscribe()  # a record only: it never runs
        self.workers[worker_id] = worker
        return worker

    async def heartbeat(self, worker_id: str, *, at: float) -> None:
        self.at(at)
        await self.workers[worker_id]._heartbeat()

    async def claim(self, worker_id: str, n: int, *, at: float) -> list[Claim]:
        got, _ = await claims.claim(self.queue.db, worker_id, n, self.at(at))
        assert len(got) == n, f"expected {n} claim(s), got {len(got)}"
        return got

    async def succeed(self, claim: Claim, worker_id: str, *, at: float, result: Any = None) -> None:
        now = self.at(at)
        await claims.settle(self.queue.db, [claims.success(claim, worker_id, result or {"rows": 100 + claim.chunk_index},
                                                           now)], now,
                            on_job_ended=self.queue.job_ended_hooks)

    async def fail(self, claim: Claim, worker_id: str, error: str, *, at: float, permanent: bool = False,
                   max_retries: int = 3) -> None:
        now = self.at(at)
        outcome = claims.failure(claim, worker_id, error, permanent=permanent, max_retries=max_retries, now=now,
                                 rng=self.rng)
        await claims.settle(self.queue.db, [outcome], now, on_job_ended=self.queue.job_ended_hooks)

    async def log(self, job_id: int, chunk_index: int | None, worker_id: str | None, level: str, message: str, *,
                  at: float) -> None:
        self.at(at)
        chunk_id = None
        if chunk_index is not None:
            chunk_id = (await self.queue.chunk(job_id, chunk_index)).id
        self.queue.logs.add(job_id, chunk_id, worker_id, level, message)


async def build_dashboard_db(path: Path | str) -> None:
    """A queue with every job state, a stale and an offline worker, logs and schedules.

    Jobs, newest first: 7 pending (fired by a schedule), 6 pending, 5 running
    (completed, failed after retries, processing, back-off and pending chunks),
    4 cancelled, 3 failed, 2 partial, 1 completed.
    """
    clock = FrozenClock(NOW - 4000)
    queue = await Queue.open(path, fixture_config(), clock=clock)
    b = Builder(queue, clock)
    try:
        await periodic.sync(queue.db, clock, (), dict(MAINTENANCE_CRONS))
        for worker_id, at in ((DELTA, 3900), (CHARLIE, 3800), (ALPHA, 3700), (BRAVO, 3700)):
            await b.worker(worker_id, at=at)

        # 1: completed, two years in 90-day chunks.
        b.at(3600)
        job1 = (await queue.submit("ads.collect.meta", date_range="2024-01-01..2025-12-31", chunk_days=90,
                                   params={"account": "act_1001"})).job_id
        for n, c in enumerate(await b.claim(ALPHA, 9, at=3590)):
            await b.succeed(c, ALPHA, at=3500 - n * 10)
            await b.log(job1, c.chunk_index, ALPHA, "info", f"chunk {c.chunk_index}: 1,2{n}0 rows stored", at=3500 - n * 10)

        # 2: partial: two chunks rejected by the upstream.
        b.at(3000)
        job2 = (await queue.submit("ads.collect.google", chunks=[{"page": n} for n in range(8)],
                                   params={"customer": "883-120-4411"})).job_id
        for c in await b.claim(BRAVO, 8, at=2990):
            if c.chunk_index in (3, 6):
                await b.fail(c, BRAVO, f"HTTP 400: invalid page token for page {c.chunk_index}", at=2950,
                             permanent=True)
                await b.log(job2, c.chunk_index, BRAVO, "error", f"page {c.chunk_index}: HTTP 400, not retried",
                            at=2950)
            else:
                await b.succeed(c, BRAVO, at=2940)

        # 3: failed: every chunk permanent.
        b.at(2500)
        job3 = (await queue.submit("notify.guardians_late", chunks=[{"class": k} for k in ("3A", "3B", "4A")],
                                   max_retries=0)).job_id
        for c in await b.claim(ALPHA, 3, at=2490):
            await b.fail(c, ALPHA, "unknown template 'late_notice_v2'", at=2480, permanent=True)
        del job3

        # 4: cancelled by an operator after two chunks.
        b.at(2000)
        job4 = (await queue.submit("demo.flaky", chunks=[{"n": n} for n in range(6)])).job_id
        for c in await b.claim(BRAVO, 2, at=1990):
            await b.succeed(c, BRAVO, at=1980)
        b.at(1900)
        await queue.cancel(job4)

        # 5: running: completed, failed after retries, processing, back-off, pending.
        b.at(300)
        job5 = (await queue.submit("ads.collect.meta", date_range="2025-01-01..2025-12-31", chunk_days=30,
                                   params={"account": "act_2002"})).job_id
        first = await b.claim(ALPHA, 6, at=290)
        for c in first[:5]:
            await b.succeed(c, ALPHA, at=280 - c.chunk_index)
            await b.log(job5, c.chunk_index, ALPHA, "info", f"chunk {c.chunk_index}: stored {800 + 7 * c.chunk_index} rows",
                        at=280 - c.chunk_index)
        await b.fail(first[5], ALPHA, "TimeoutError: graph.facebook.com read timed out", at=270)
        await b.log(job5, 5, ALPHA, "warning", "chunk 5 attempt 1: read timed out; retrying", at=270)
        for attempt, at in ((2, 200), (3, 150), (4, 120)):
            (c,) = await b.claim(BRAVO, 1, at=at)
            assert c.chunk_index == 5 and c.attempt == attempt
            error = "HTTP 503: service unavailable" if attempt < 4 else "HTTP 503: service unavailable (retries spent)"
            await b.fail(c, BRAVO, error, at=at - 5)
            await b.log(job5, 5, BRAVO, "warning" if attempt < 4 else "error", f"chunk 5 attempt {attempt}: {error}",
                        at=at - 5)
        (c,) = await b.claim(BRAVO, 1, at=100)
        await b.fail(c, BRAVO, "ConnectionResetError: connection reset by peer", at=95)
        (c6,) = await b.claim(ALPHA, 1, at=40)
        (c7,) = await b.claim(BRAVO, 1, at=38)
        assert (c6.chunk_index, c7.chunk_index) == (6, 7)
        await b.log(job5, 6, ALPHA, "info", "chunk 6 attempt 2: working", at=40)
        await b.log(job5, 7, BRAVO, "info", "chunk 7 attempt 1: working", at=38)

        # 6: pending, nothing claimed yet.
        b.at(20)
        await queue.submit("demo.sleep", chunks=[{"seconds": 2}] * 3, priority=-1)

        # Schedules: one of ours fired now and then (job 7), one switched off,
        # one in Kolkata that nothing has run for an hour (overdue).
        b.at(3950)
        await queue.add_schedule("nightly-ads", "0 2 * * *", "ads.collect.meta", {"account": "act_1001"},
                                 tz="Europe/Berlin")
        await queue.add_schedule("hourly-digest", "0 * * * *", "notify.digest", active=False)
        await queue.add_schedule("quarter-rollup", "*/15 * * * *", "ads.rollup", tz="Asia/Kolkata",
                                 catch_up="once")
        b.at(10)
        await queue.run_schedule_now("nightly-ads")

        # the event file the tailer read goes beside a SQLite file, or in the working directory
        events_file = (path.with_name(path.name + ".events.ndjson") if isinstance(path, Path)
                       else Path("fixture.events.ndjson"))
        await add_events(queue, clock, events_file)
        await add_circuits(queue, clock)

        # The queues' limits and rate, written now that the story's claims are made (those claims
        # go round them); the ads bucket took its last token 0.4 s ago; an operator paused notify.
        b.at(1)
        await named_queues.configure(queue.db, clock, QUEUES)
        async with queue.db.transaction() as conn:
            await conn.execute(named_queues.SQL["take_tokens"], {"name": "ads", "tokens": 0.0, "now": NOW - 0.4})
        await queue.pause(by="ops", queue="notify")

        await b.heartbeat(ALPHA, at=2)
        await b.heartbeat(BRAVO, at=4)
        # CHARLIE stays silent (stale); DELTA stopped.
        b.at(3000)
        await b.workers[DELTA]._set_status(WorkerState.OFFLINE)
        b.at(0)
        await queue.logs.flush()
    finally:
        await queue.close()


async def add_events(queue: Queue, clock: FrozenClock, events_path: Path, count: int = 160) -> None:
    """Coordination events over the last half hour, stored by the engine's tailer.

    Skipped (the session panes stay empty) in a build without the tailer.
    """
    try:
        import orjson

        from queuetop.engine.events.demo import demo_events
        from queuetop.engine.events.tail import Tailer
    except ImportError:
        return
    stream = demo_events(seed=3, start_ms=int((NOW - 1800) * 1000), gap_ms=(1_000, 20_000))
    with open(events_path, "wb") as out:
        for _ in range(count):
            out.write(orjson.dumps(next(stream)) + b"\n")
    tailer = Tailer(queue.db, clock, [str(events_path)])
    try:
        await tailer.poll_once()
    finally:
        tailer.close()
    events_path.unlink()


async def add_circuits(queue: Queue, clock: FrozenClock) -> None:
    """One host whose breaker opened after five timeouts, one that failed once; none without breakers."""
    try:
        from queuetop.engine.handlers.circuits import BreakerSettings, Breaker
    except ImportError:
        return
    breaker = Breaker(queue.db, clock)
    settings = BreakerSettings(failure_threshold=5, cooldown=30.0)
    clock.set(NOW - 20)
    for _ in range(5):
        admission = await breaker.admit("graph.facebook.com", probe_window=60.0)
        await breaker.failed(admission, settings, "ReadTimeout: graph.facebook.com read timed out", intents=())
    clock.set(NOW - 100)
    admission = await breaker.admit("googleads.googleapis.com", probe_window=60.0)
    await breaker.failed(admission, settings, "HTTP 503: service unavailable", intents=())


def build(path: Path | str) -> Path | str:
    """Build the dashboard fixture at ``path``, a file or a postgresql:// URL (from sync code)."""
    asyncio.run(build_dashboard_db(path))
    return path


# -- alerts (not in the dashboard fixture: the header's alert badge would show in every snapshot) --

ALERT_WEBHOOK = "https://hooks.example.com/services/T0/B0/Xq81SECRET?token=abc"


async def add_alerts(queue: Queue) -> None:
    """Two alerts, raised and delivered the way the engine does, at fixed times before ``NOW``.

    Alert 1: the circuit of graph.facebook.com opened; its webhook answered
    503, then timed out: failed after two attempts. Alert 2: job 3 failed
    (twice more within the cooldown: two repeats); delivered on its third
    attempt after a 503 and a timeout.
    """
    from queuetop.engine.config import parse_alert
    from queuetop.engine.services.alert_rules import Alerts
    from queuetop.engine.store import queries

    sql = queries.load("alerts")
    rules = Alerts((parse_alert({"on": ["job.failed", "circuit.open"], "webhook": ALERT_WEBHOOK,
                                 "cooldown": 3600}, 1, "queuetop.toml"),))
    shown = "https://hooks.example.com/…"
    answered = f"{shown} answered HTTP 503"
    timed_out = f"cannot send to {shown}: ReadTimeout: timed out"

    async def attempt(at: float, ok: bool, status: int | None, error: str | None, last: int = 5) -> None:
        async with queue.db.transaction() as conn:
            async with conn.execute(sql["claim"], {"now": NOW - at, "until": NOW - at + 60, "token": "fixture",
                                                   "limit": 1}) as cur:
                (row,) = await cur.fetchall()
            await conn.execute(sql["record_delivery"], {
                "alert_id": row["id"], "attempt": row["attempts"], "target": "webhook", "ok": int(ok),
                "status_code": status, "error": error, "at": NOW - at + 1, "worker_id": ALPHA})
            if ok:
                end = conn.execute(sql["delivered"], {"id": row["id"], "token": "fixture", "now": NOW - at + 1})
            else:
                end = conn.execute(sql["retry_later"], {"id": row["id"], "token": "fixture", "next": NOW - at + 30,
                                                        "error": error, "max_attempts": last})
            async with end as cur:
                assert len(await cur.fetchall()) == 1

    async def raise_(at: float, kind: str, **fields: Any) -> None:
        async with queue.db.transaction() as conn:
            await rules.raise_alert(conn, kind, now=NOW - at, **fields)

    await raise_(3460, "circuit.open", subject="graph.facebook.com", host="graph.facebook.com",
                 summary="circuit for graph.facebook.com opened after 5 failures: HTTP 503: service unavailable")
    await attempt(3455, False, 503, answered, last=2)
    await attempt(3420, False, None, timed_out, last=2)
    job = {"subject": "notify.guardians_late", "job_id": 3, "intent": "notify.guardians_late",
           "summary": "job 3 (notify.guardians_late) failed: 3 of 3 chunks failed: unknown template 'late_notice_v2'"}
    await raise_(2480, "job.failed", **job)
    await attempt(2475, False, 503, answered)
    await attempt(2440, False, None, timed_out)
    await attempt(2400, True, 200, None)
    await raise_(1200, "job.failed", **job)
    await raise_(600, "job.failed", **job)


async def add_long_alert(queue: Queue) -> None:
    """An alert with the longest kind and state: a missed schedule's, being delivered now (claimed)."""
    from queuetop.engine.config import parse_alert
    from queuetop.engine.services.alert_rules import Alerts
    from queuetop.engine.store import queries

    sql = queries.load("alerts")
    rules = Alerts((parse_alert({"on": ["schedule.missed"], "webhook": ALERT_WEBHOOK}, 1, "queuetop.toml"),))
    async with queue.db.transaction() as conn:
        await rules.raise_alert(conn, "schedule.missed", now=NOW - 30, subject="quarter-rollup",
                                schedule="quarter-rollup", summary="schedule quarter-rollup missed 4 runs")
    async with queue.db.transaction() as conn:
        async with conn.execute(sql["claim"], {"now": NOW - 20, "until": NOW + 3600, "token": "fixture",
                                               "limit": 1}) as cur:
            assert len(await cur.fetchall()) == 1
