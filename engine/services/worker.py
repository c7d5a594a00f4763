"""A worker: claims chunks in batches, runs their handlers, settles them.

One worker is one task inside an engine process, with an id that is never
reused (host, pid, random suffix). It registers once, then heartbeats with a
single UPDATE of its own row. On stop it claims nothing more, lets in-flight
chunks finish within the grace period, gives the rest back without spending
their attempt, and marks itself offline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from queuetop.engine.services import claims
from queuetop.engine.store import queries
from queuetop.engine.model.changes import CHUNKS, JOBS, WORKERS, Change
from queuetop.engine.services.claims import Claim, JobSpec, Outcome
from queuetop.engine.handlers.context import ChunkContext, ChunkLogger
from queuetop.engine.handlers.registry import HandlerUnavailable
from queuetop.engine.model.exceptions import Deferred, PermanentError, RetryAt
from queuetop.engine.model.states import ChunkState, WorkerState

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

SQL = queries.load("workers")
log = logging.getLogger("queuetop.engine")

# At most this many outcomes are written in one settle transaction.
SETTLE_BATCH = 1000
# Names of the threads sync handlers run on (see Worker._threads).
HANDLER_THREAD_PREFIX = "handler-"


def new_worker_id() -> str:
    """host-pid-suffix: unique across hosts, restarts and worker tasks."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    """Runs chunks from ``queue`` until told to stop."""

    def __init__(self, queue: "Engine", *, concurrency: int | None = None, worker_id: str | None = None) -> None:
        self.queue = queue
        settings = queue.settings
        self.concurrency = concurrency or settings.concurrency
        self.id = worker_id or new_worker_id()
        self._inflight: dict[int, tuple[Claim, asyncio.Task[None], ChunkContext]] = {}
        self._outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._check_leases = asyncio.Event()
        self._shutting_down = False
        # Sync handlers get threads of their own, one per slot: on the shared
        # default executor (6 threads on 2 cores) they would queue behind each
        # other and spend their timeout waiting.
        self._threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"{HANDLER_THREAD_PREFIX}{self.id}")
        self._unsubscribe = queue.changes.subscribe(self._on_change)
        self.claimed = 0
        self._intents_recorded = "[]"  # what the worker row says this process can run

    # -- lifecycle -----------------------------------------------------------

    async def register(self) -> None:
        now = self.queue.clock.now()
        self._intents_recorded = json.dumps(self.queue.registry.runnable())
        async with self.queue.db.transaction() as conn:
            await conn.execute(SQL["register"], {"id": self.id, "host": socket.gethostname(), "pid": os.getpid(),
                                                 "concurrency": self.concurrency, "now": now,
                                                 "intents": self._intents_recorded})
        log.info("worker %s online (concurrency %d)", self.id, self.concurrency)
        self.queue.changes.publish(Change.of(WORKERS, source="worker"))

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then shut down gracefully."""
        await self.register()
        settler = asyncio.create_task(self._settle_loop(), name=f"settle-{self.id}")
        heart_stop = asyncio.Event()
        heart = asyncio.create_task(self._heartbeat_loop(heart_stop), name=f"heartbeat-{self.id}")
        try:
            await self._claim_loop(stop)
        finally:
            try:
                await self._shutdown()
            finally:
                await self._outcomes.put(None)
                await settler
                heart_stop.set()
                await heart
                await self._set_status(WorkerState.OFFLINE)
                self._unsubscribe()
                self._threads.shutdown(wait=False, cancel_futures=True)
                log.info("worker %s offline", self.id)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        settings = self.queue.settings
        backoff = 0.0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._inflight)
                got = 0
                if free > 0:
                    try:
                        batch, specs = await claims.claim(self.queue.db, self.id, free, self.queue.clock.now(),
                                                          self.queue.registry.runnable())
                        backoff = 0.0
                    except self.queue.db.Error as exc:
                        # Back off instead of hammering a database that errors.
                        backoff = min(5.0, max(0.1, backoff * 2))
                        log.warning("worker %s: claim failed (%s); retrying in %.1fs", self.id, exc, backoff)
                        await asyncio.wait({stopping}, timeout=backoff)
                        continue
                    for claim in batch:
                        self._start(claim, specs[claim.job_id])
                    got = len(batch)
                    if got:
                        self.claimed += got
                        self.queue.changes.publish(Change.of(JOBS, CHUNKS, job_ids=specs, source="claim"))
                if got and got == free:
                    await asyncio.sleep(0)  # let the handlers start before claiming again
                    continue
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waker, stopping}, timeout=settings.poll_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                self._wake.clear()
        finally:
            stopping.cancel()

    async def _shutdown(self) -> None:
        """Stop claiming; let in-flight chunks finish in the grace period; release the rest."""
        self._shutting_down = True
        if not self._inflight:
            return
        await self._set_status(WorkerState.STOPPING)
        tasks = [task for _, task, _ in self._inflight.values()]
        if not tasks:  # they finished while the status was written
            return
        log.info("worker %s stopping: %d chunk(s) in flight, grace %gs",
                 self.id, len(tasks), self.queue.settings.grace_period)
        _, pending = await asyncio.wait(tasks, timeout=self.queue.settings.grace_period)
        for task in pending:
            task.cancel()  # _execute turns this into a release of the chunk
        if pending:
            await asyncio.wait(pending)

    async def _set_status(self, status: WorkerState) -> None:
        try:
            async with self.queue.db.transaction() as conn:
                await conn.execute(SQL["set_status"], {"id": self.id, "status": status.value,
                                                       "now": self.queue.clock.now()})
        except self.queue.db.Error as exc:
            log.error("worker %s: cannot record status %s: %s", self.id, status.value, exc)
        self.queue.changes.publish(Change.of(WORKERS, source="worker"))

    # -- running chunks --------------------------------------------------------

    def _start(self, claim: Claim, spec: JobSpec) -> None:
        ctx = ChunkContext(
            intent=spec.intent, job_id=claim.job_id, chunk_index=claim.chunk_index, attempt=claim.attempt,
            params=claim.params, job_params=spec.params, worker_id=self.id,
            log=ChunkLogger(self.queue.logs, claim.job_id, claim.chunk_id, self.id),
        )
        task = asyncio.create_task(self._execute(claim, spec, ctx))
        self._inflight[claim.chunk_id] = (claim, task, ctx)

    async def _execute(self, claim: Claim, spec: JobSpec, ctx: ChunkContext) -> None:
        queue = self.queue
        outcome: Outcome | None
        try:
            handler = queue.registry.resolve(spec.intent)
            if handler.is_async:
                call = handler.function(ctx)
            else:
                call = asyncio.get_running_loop().run_in_executor(self._threads, handler.function, ctx)
            timer = asyncio.timeout(spec.timeout)
            try:
                async with timer:
                    result = await call
            except TimeoutError:
                if not timer.expired():
                    raise
                ctx.cancel()  # a sync handler's thread cannot be killed; ask it to stop
                outcome = self._failure(claim, spec, f"timed out after {spec.timeout:g}s", kind="timed_out")
            else:
                outcome = claims.success(claim, self.id, result, queue.clock.now())
        except asyncio.CancelledError:
            ctx.cancel()
            # Cancelled by an operator (the chunk already ended in the
            # database) or by a lost lease: nothing to write. At shutdown:
            # give the chunk back without spending its attempt.
            outcome = claims.release(claim, queue.clock.now()) if self._shutting_down else None
        except HandlerUnavailable as exc:
            # The module is there but does not load here: not the chunk's
            # fault. Give it back unspent for a process that can run it.
            if spec.intent in queue.registry.runnable():
                log.warning("%s; this process stops claiming intent %r", exc, spec.intent)
                queue.registry.disable(spec.intent, str(exc))
            outcome = claims.release(claim, queue.clock.now())
        except Deferred as exc:
            outcome = Outcome(claim.chunk_id, claim.lease_token, ChunkState.PENDING, claim.attempt,
                              run_after=exc.until, refund=True)
            log.info("job %d chunk %d deferred: %s", claim.job_id, claim.chunk_index, exc)
        except RetryAt as exc:
            outcome = self._failure(claim, spec, str(exc), retry_at=exc.at)
        except PermanentError as exc:
            outcome = self._failure(claim, spec, str(exc) or type(exc).__name__, permanent=True)
        except Exception as exc:  # any other error is transient by definition
            outcome = self._failure(claim, spec, f"{type(exc).__name__}: {exc}")
        finally:
            self._inflight.pop(claim.chunk_id, None)
            self._wake.set()
        if outcome is not None:
            self._outcomes.put_nowait(outcome)

    def _failure(self, claim: Claim, spec: JobSpec, error: str, **kw: Any) -> Outcome:
        outcome = claims.failure(claim, self.id, error, max_retries=spec.max_retries, now=self.queue.clock.now(),
                                 policy=self.queue.retry_policy, permanent=kw.pop("permanent", False), **kw)
        if outcome.status is ChunkState.FAILED:
            log.warning("job %d chunk %d failed (attempt %d): %s", claim.job_id, claim.chunk_index,
                        claim.attempt, error)
        else:
            log.info("job %d chunk %d attempt %d: %s; retry in %.1fs", claim.job_id, claim.chunk_index,
                     claim.attempt, error, (outcome.run_after or 0) - self.queue.clock.now())
        return outcome

    async def _settle_loop(self) -> None:
        """Write outcomes in batches: under load many per transaction, idle at once."""
        done = False
        while not done:
            first = await self._outcomes.get()
            batch = [] if first is None else [first]
            done = first is None
            while len(batch) < SETTLE_BATCH and not self._outcomes.empty():
                item = self._outcomes.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            delay = 0.05
            while batch:
                try:
                    settled = await self.queue.settle(batch)
                    break
                except self.queue.db.Error as exc:  # keep the batch; the database may come back
                    log.warning("worker %s: settle failed (%s); retrying in %.1fs", self.id, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(5.0, delay * 2)
            else:
                continue
            if settled.fenced_out:
                log.info("worker %s: %d result(s) discarded: lease lost (cancelled or rescued)",
                         self.id, settled.fenced_out)

    # -- heartbeats and leases ---------------------------------------------------

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        interval = self.queue.settings.heartbeat_interval
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            checker = asyncio.ensure_future(self._check_leases.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({checker, stopper}, timeout=max(0.0, last + interval - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
            checker.cancel()
            stopper.cancel()
            if stop.is_set():
                return
            self._check_leases.clear()
            try:
                if loop.time() - last >= interval:
                    last = loop.time()
                    await self._heartbeat()
                await self._drop_lost_leases()
            except self.queue.db.Error as exc:
                log.warning("worker %s: heartbeat failed: %s", self.id, exc)

    async def _heartbeat(self) -> None:
        async with self.queue.db.transaction() as conn:
            cur = await conn.execute(SQL["heartbeat"], {"id": self.id, "now": self.queue.clock.now()})
            alive = cur.rowcount
            intents = json.dumps(self.queue.registry.runnable())
            if alive and intents != self._intents_recorded:  # an intent failed to import since
                await conn.execute(SQL["set_intents"], {"id": self.id, "intents": intents})
                self._intents_recorded = intents
        if alive:
            return
        # Marked offline while we were silent: our chunks went back to
        # pending. Drop them and carry on under a new id (ids are never reused).
        log.error("worker %s was marked offline (heartbeat too late); re-registering", self.id)
        for _, task, _ in list(self._inflight.values()):
            task.cancel()
        self.id = new_worker_id()
        await self.register()

    async def _drop_lost_leases(self) -> None:
        held = [claim for claim, _, _ in self._inflight.values()]
        if not held:
            return
        current = await claims.still_held(self.queue.db, held)
        for claim in held:
            if claim.chunk_id not in current and claim.chunk_id in self._inflight:
                log.info("job %d chunk %d: lease gone (cancelled or rescued); stopping it",
                         claim.job_id, claim.chunk_index)
                _, task, ctx = self._inflight[claim.chunk_id]
                ctx.cancel()
                task.cancel()

    def _on_change(self, change: Change) -> None:
        if change.source in ("submit", "retry", "resume", "schedule", "notify"):
            self._wake.set()
        elif change.source in ("cancel", "finalize", "rescue") and self._inflight:
            self._check_leases.set()
