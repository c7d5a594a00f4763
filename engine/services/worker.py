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
import time
from typing import TYPE_CHECKING, Any

from queuetop.engine.services import claims
from queuetop.engine.services.queues import HeldClaimer
from queuetop.engine.store import queries
from queuetop.engine.model.changes import CHUNKS, JOBS, WORKERS, Change
from queuetop.engine.services.claims import Claim, JobSpec, Outcome
from queuetop.engine.services.deadline import Deadline
from queuetop.engine.services.handler_threads import HandlerThreads
from queuetop.engine.services.settler import Settler
from queuetop.engine.services.startup import until_written
from queuetop.engine.handlers.context import ChunkContext, ChunkLogger
from queuetop.engine.handlers.registry import Handler, HandlerUnavailable
from queuetop.engine.model.exceptions import Deferred, PermanentError, RetryAt
from queuetop.engine.model import text
from queuetop.engine.model.states import ChunkState, WorkerState
from queuetop.engine.model.text import Unstorable

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

SQL = queries.load("workers")
log = logging.getLogger("queuetop.engine")

# The longest an idle worker waits between looks where other processes'
# submits wake it anyway (see Worker._idle_wait).
IDLE_POLL_CAP = 5.0


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
        self._defer_starts = claims.defers_job_starts(queue.db)
        self._wake = asyncio.Event()
        self._check_leases = asyncio.Event()
        # Chunks the database says this worker holds but no task of it runs:
        # (chunk id, lease token) -> monotonic time first seen (see _reconcile).
        self._orphans: dict[tuple[int, str], float] = {}
        self._shutting_down = False
        # A worker refills the slots its ended chunks free in the transaction that settles
        # them (claims.settle's then_claim): while a settle is on its way or outcomes wait
        # for one, the claim loop leaves the claiming to it; while the claim loop claims,
        # a settle claims nothing. Both flags are set before any await.
        self._settler = Settler(queue, name=lambda: self.id, next_claim=self._next_claim,
                                started=self._started, wake=self._wake.set)
        self._claiming = False
        self._stop: asyncio.Event | None = None
        # Sync handlers get threads of their own, one per slot; those left
        # behind by timeouts are counted there (shown in the worker's row).
        self._threads = HandlerThreads(self.concurrency, self.id, self._wake.set)
        # Past this many abandoned threads, the worker stops claiming: a handler
        # that hangs every time would otherwise leave a thread behind per chunk.
        self.abandoned_limit = self.concurrency
        self._held_back = False
        self._abandoned_recorded = 0
        self._unsubscribe = queue.changes.subscribe(self._on_change)
        self.claimed = 0
        self._intents_recorded = "[]"  # what the worker row says this process can run
        # queues with a limit, a rate or a pause are claimed apart (services/queues.py)
        self._held = HeldClaimer(queue.db, settings.poll_interval)

    @property
    def abandoned(self) -> int:
        """Sync handler threads still running after their chunk timed out."""
        return self._threads.abandoned

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
        self._stop = stop
        if not await until_written(self.queue.db, stop, f"worker {self.id}", self.register):
            # stopped before the database let it register: it holds nothing
            self._unsubscribe()
            self._threads.shutdown()
            return
        settler = asyncio.create_task(self._settler.run(), name=f"settle-{self.id}")
        heart_stop = asyncio.Event()
        heart = asyncio.create_task(self._heartbeat_loop(heart_stop), name=f"heartbeat-{self.id}")
        try:
            await self._claim_loop(stop)
        finally:
            try:
                await self._shutdown()
            finally:
                await self._settler.close()
                await settler
                heart_stop.set()
                await heart
                await self._leave()
                self._unsubscribe()
                self._threads.shutdown()

    async def _leave(self) -> None:
        """Offline, unless the database says chunks are still held: then left as it is.

        A stop that was cut short (a second ctrl+c in the TUI cancels the
        engine mid-shutdown) can end with chunks neither finished nor
        released. Marked offline, their worker was past the stale-worker
        rescue, which looks only at workers that went silent, and the chunks
        waited out their timeout. Left ``stopping`` (or ``online``), the
        silent worker is rescued after ``stale_after``, as a killed one is.
        """
        try:
            held = await self.queue.db.scalar(SQL["held_count"], {"id": self.id})
        except self.queue.db.Error as exc:
            log.error("worker %s: cannot tell what it still holds (%s): left to the stale-worker rescue",
                      self.id, text.describe(exc, 300))
            return
        if held:
            log.warning("worker %s stopped holding %d chunk(s): the stale-worker rescue gives them back "
                        "once it has been silent for stale_after", self.id, held)
            return
        await self._set_status(WorkerState.OFFLINE)
        log.info("worker %s offline", self.id)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        settings = self.queue.settings
        backoff = 0.0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._inflight)
                if self.abandoned > self.abandoned_limit:
                    # Each left-behind thread holds memory and maybe a lock;
                    # past the bound, stop taking work until some end.
                    if not self._held_back:
                        log.warning("worker %s: %d abandoned handler thread(s) still running (more than %d); "
                                    "not claiming until some finish", self.id, self.abandoned, self.abandoned_limit)
                        self._held_back = True
                    free = 0
                elif self._held_back:
                    log.info("worker %s: abandoned threads ended; claiming again", self.id)
                    self._held_back = False
                got = 0
                if free > 0 and self._settle_claims() and self._settler.busy:
                    # The settle on its way claims for these slots (see _next_claim); it wakes
                    # this loop when it could not. Which queues are held is still read as often
                    # as when this loop claims: a queue another process limits meanwhile is left
                    # out of the settles' claims, and only this loop claims it.
                    free = 0
                    try:
                        await self._held.refresh(time.monotonic())
                    except self.queue.db.Error as exc:
                        log.debug("worker %s: cannot read the held queues: %s", self.id, exc)
                elif free > 0:
                    self._claiming = True
                    try:
                        # held queues first: a busy ordinary queue must not starve them
                        held = await self._held.claim(self.id, free, self.queue.clock.now(), time.monotonic(),
                                                      self.queue.registry.runnable(), start=not self._defer_starts)
                        if held is not None and held.claims:
                            self._started(held.claims, held.specs)
                            got = len(held.claims)
                        batch: list[Claim] = []
                        specs: dict[int, JobSpec] = {}
                        if free > got:
                            batch, specs = await claims.claim(self.queue.db, self.id, free - got,
                                                              self.queue.clock.now(), self.queue.registry.runnable(),
                                                              start=not self._defer_starts)
                        backoff = 0.0
                    except self.queue.db.Error as exc:
                        # Back off instead of hammering a database that errors.
                        backoff = min(5.0, max(0.1, backoff * 2))
                        log.warning("worker %s: claim failed (%s); retrying in %.1fs", self.id, exc, backoff)
                        await asyncio.wait({stopping}, timeout=backoff)
                        continue
                    finally:
                        self._claiming = False
                    if batch:
                        self._started(batch, specs)
                        got += len(batch)
                if got and got == free:
                    await asyncio.sleep(0)  # let the handlers start before claiming again
                    continue
                wait = settings.poll_interval if got or free <= 0 else await self._idle_wait()
                held_wait = self._held.next_try(time.monotonic()) if self._held.queues else None
                if held_wait is not None and free > got:  # a rate's next token, a held queue to ask again
                    wait = min(wait, held_wait)
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waker, stopping}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                self._wake.clear()
        finally:
            stopping.cancel()

    def _started(self, batch: list[Claim], specs: dict[int, JobSpec]) -> None:
        if self._defer_starts:  # before any of their outcomes can be queued
            self._settler.claimed(batch)
        # One timer per claim batch and timeout, not one asyncio.timeout per
        # chunk: the async chunks of a batch start together, so those of the
        # same timeout share a deadline (see Deadline). Sync handlers keep
        # their own timeout, counted once their thread has started.
        registry = self.queue.registry
        deadlines: dict[float, Deadline] = {}
        for claim in batch:
            spec = specs[claim.job_id]
            handler: Handler | None = registry.resolved(spec.intent)  # None: _execute imports it off the loop
            deadline = None
            if handler is not None and handler.is_async:
                deadline = deadlines.get(spec.timeout)
                if deadline is None:
                    deadline = deadlines[spec.timeout] = Deadline()
            task = self._start(claim, spec, handler, deadline)
            if deadline is not None:
                deadline.tasks.append(task)
        if deadlines:
            loop = asyncio.get_running_loop()
            now = loop.time()
            for timeout, deadline in deadlines.items():
                deadline.left = len(deadline.tasks)
                deadline.handle = loop.call_at(now + timeout, deadline.expire)
        self.claimed += len(batch)
        self.queue.changes.publish(Change.of(JOBS, CHUNKS, job_ids=specs, source="claim"))

    def _settle_claims(self) -> bool:
        """Whether a settle may claim for this worker's free slots (see _next_claim)."""
        # Only where one connection writes at a time (SQLite): there a settle and a claim
        # apart wait for each other anyway. On PostgreSQL they run side by side on two
        # connections, the claim while the settle's commit waits for the disk; joined,
        # the drain of small jobs went from 14,800 to 8,200 a second.
        # Held queues are claimed under their queue's row by the claim loop, before the
        # others, so that a busy ordinary queue does not starve them: not by a settle.
        return not (self.queue.db.concurrent_writes or self._held.queues
                    or self.abandoned > self.abandoned_limit  # held back (see _claim_loop), asked now
                    or self._shutting_down or (self._stop is not None and self._stop.is_set()))

    def _next_claim(self) -> claims.NextClaim | None:
        """The claim a settle about to be written makes for this worker's free slots, if any."""
        if self._claiming or not self._settle_claims():
            return None
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return None
        return claims.NextClaim(self.id, free, self.queue.registry.runnable())

    async def _idle_wait(self) -> float:
        """How long a worker that found nothing to claim waits before it looks again.

        Where every process's submits wake this one (PostgreSQL), it needs
        to look only when a pending chunk falls due (a back-off ends), and
        at least every IDLE_POLL_CAP in case a wake-up was lost; elsewhere
        polling is how other processes' submits are seen.
        """
        poll = self.queue.settings.poll_interval
        if not self.queue.db.wakes_across_processes:
            return poll
        try:
            due = await claims.next_due(self.queue.db)
        except self.queue.db.Error:
            return poll
        until = IDLE_POLL_CAP if due is None else due - self.queue.clock.now()
        return min(max(poll, until), max(poll, IDLE_POLL_CAP))

    async def _shutdown(self) -> None:
        """Stop claiming; let in-flight chunks finish in the grace period; release the rest."""
        self._shutting_down = True
        # Outcomes that cannot be written by then are left to the lease fence.
        self._settler.give_up_at = time.monotonic() + self.queue.settings.grace_period + 2
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

    def _start(self, claim: Claim, spec: JobSpec, handler: Handler | None = None,
               deadline: Deadline | None = None) -> asyncio.Task[None]:
        # A handler reads one dict: the job's params with the chunk's own over them, so a job
        # submitted with --params and no chunks (one empty chunk) still finds them in ctx.params.
        params = {**spec.params, **claim.params} if spec.params else claim.params
        ctx = ChunkContext(
            intent=spec.intent, job_id=claim.job_id, chunk_index=claim.chunk_index, attempt=claim.attempt,
            params=params, job_params=spec.params, chunk_params=claim.params, worker_id=self.id,
            log=ChunkLogger(self.queue.logs, claim.job_id, claim.chunk_id, self.id),
        )
        task = asyncio.create_task(self._execute(claim, spec, ctx, handler, deadline))
        self._inflight[claim.chunk_id] = (claim, task, ctx)
        return task

    async def _execute(self, claim: Claim, spec: JobSpec, ctx: ChunkContext, handler: Handler | None = None,
                       deadline: Deadline | None = None) -> None:
        queue = self.queue
        outcome: Outcome | None
        try:
            if handler is None:  # its module's import may be slow (or never end): off the loop
                handler = queue.registry.resolved(spec.intent) or await asyncio.to_thread(
                    queue.registry.resolve, spec.intent)
                if handler.is_async:  # its timeout counts from now, as a batch's does from its start
                    deadline = Deadline.own(spec.timeout)
            timed_out = False
            if handler.is_async:
                try:
                    result = await handler.function(ctx)
                except asyncio.CancelledError:
                    # Timed out: its batch's deadline cancelled it (see Deadline.expire)
                    # and nothing else did (decided as asyncio.timeout decides).
                    task = asyncio.current_task()
                    if deadline is None or task not in deadline.expired or (task is not None and task.uncancel()):
                        raise
                    timed_out = True
            else:
                # shielded: the timeout must not cancel the future, which
                # stays pending (counted as abandoned) until the thread returns
                thread_call = await self._threads.start(handler.function, ctx)
                timer = asyncio.timeout(spec.timeout)
                try:
                    async with timer:
                        result = await asyncio.shield(thread_call)
                except TimeoutError:
                    if not timer.expired():
                        raise
                    timed_out = True
            if timed_out:
                ctx.cancel()  # async: cancelled outright; sync: asked to stop, and abandoned
                if not handler.is_async:
                    self._threads.abandon(thread_call, f"job {claim.job_id} chunk {claim.chunk_index}")
                outcome = self._failure(claim, spec, f"timed out after {spec.timeout:g}s", kind="timed_out")
            else:
                try:
                    outcome = claims.success(claim, self.id, result, queue.clock.now(),
                                             limit=queue.settings.max_result_chars)
                except Unstorable as exc:
                    outcome = self._failure(claim, spec, str(exc), permanent=True)
        except asyncio.CancelledError:
            ctx.cancel()
            # Cancelled by an operator (the chunk already ended in the
            # database) or by a lost lease: nothing to write. At shutdown:
            # give the chunk back without spending its attempt. Raised by
            # the handler while nobody cancelled this task: its failure.
            task = asyncio.current_task()
            if task is not None and not task.cancelling():
                outcome = self._failure(claim, spec, "CancelledError")
            else:
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
            log.info("job %d chunk %d deferred: %s", claim.job_id, claim.chunk_index, text.message(exc))
        except RetryAt as exc:
            outcome = self._failure(claim, spec, text.message(exc), retry_at=exc.at)
        except PermanentError as exc:
            outcome = self._failure(claim, spec, text.message(exc), permanent=True)
        except BaseException as exc:  # any other error is transient; SystemExit and
            # KeyboardInterrupt from a handler fail its chunk, never end the engine
            outcome = self._failure(claim, spec, text.describe(exc))
        finally:
            self._inflight.pop(claim.chunk_id, None)
            self._held.ended(claim.chunk_id)
            self._wake.set()
            if deadline is not None:
                deadline.left -= 1
                if not deadline.left and deadline.handle is not None:
                    deadline.handle.cancel()  # every chunk of the batch ended in time
        if outcome is not None:
            self._settler.put(outcome)

    def _failure(self, claim: Claim, spec: JobSpec, error: str, **kw: Any) -> Outcome:
        outcome = claims.failure(claim, self.id, error, max_retries=spec.max_retries, now=self.queue.clock.now(),
                                 policy=self.queue.retry_policy, permanent=kw.pop("permanent", False),
                                 error_limit=self.queue.settings.max_error_chars, **kw)
        if outcome.status is ChunkState.FAILED:
            log.warning("job %d chunk %d failed (attempt %d): %s", claim.job_id, claim.chunk_index,
                        claim.attempt, error)
        else:
            log.info("job %d chunk %d attempt %d: %s; retry in %.1fs", claim.job_id, claim.chunk_index,
                     claim.attempt, error, (outcome.run_after or 0) - self.queue.clock.now())
        return outcome

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
                await self._reconcile()
            except Exception as exc:
                # Not even what is not the database's doing may end the loop: a
                # worker that stops heartbeating is marked offline and its
                # chunks run twice. That is said with its traceback.
                log.warning("worker %s: heartbeat failed: %s", self.id, exc,
                            exc_info=not isinstance(exc, self.queue.db.Error))

    async def _heartbeat(self) -> None:
        # What the row is to say is read once, before any await: a thread abandoned while the
        # write was on its way was once taken as written, and the row kept the count before it.
        # It counts as written once committed.
        intents = json.dumps(self.queue.registry.runnable())
        abandoned = self.abandoned
        async with self.queue.db.transaction() as conn:
            cur = await conn.execute(SQL["heartbeat"], {"id": self.id, "now": self.queue.clock.now()})
            alive = cur.rowcount
            if alive and intents != self._intents_recorded:  # an intent failed to import since
                await conn.execute(SQL["set_intents"], {"id": self.id, "intents": intents})
            if alive and abandoned != self._abandoned_recorded:
                await conn.execute(SQL["set_abandoned"], {"id": self.id, "abandoned": abandoned})
        if alive:
            self._intents_recorded, self._abandoned_recorded = intents, abandoned
            return
        # Marked offline while we were silent: our chunks went back to
        # pending. Drop them and carry on under a new id (ids are never reused).
        log.error("worker %s was marked offline (heartbeat too late); re-registering", self.id)
        for _, task, _ in list(self._inflight.values()):
            task.cancel()
        self.id = new_worker_id()
        await self.register()

    async def _reconcile(self) -> None:
        """Make what this worker runs and what the database says it holds agree.

        An in-flight chunk whose lease is gone (cancelled, finalized, rescued)
        is stopped. A chunk the database has processing under this worker
        that no task of it runs, and whose outcome is not on its way, is an
        orphan: nothing would end it before its timeout (an hour, by
        default) while this worker heartbeats. Seen so for a whole heartbeat
        interval, it is given back unspent, and said at WARNING: it means an
        outcome was lost, a defect to find.

        Only claims in flight both before and after the read are judged: a
        chunk claimed while the read was on its way may be missing from it,
        and one settled and claimed again meanwhile is a new claim (judging
        it by chunk id alone once stopped a re-claimed chunk as if its new
        lease were the old one, and left it processing with no task).
        """
        before = {chunk_id: entry[0] for chunk_id, entry in self._inflight.items()}
        held = await claims.held_by(self.queue.db, self.id)
        leases = {claim.chunk_id: claim.lease_token for claim in held}
        for chunk_id, claim in before.items():
            entry = self._inflight.get(chunk_id)
            if entry is None or entry[0] is not claim or leases.get(chunk_id) == claim.lease_token:
                continue
            log.info("job %d chunk %d: lease gone (cancelled or rescued); stopping it",
                     claim.job_id, claim.chunk_index)
            _, task, ctx = entry
            ctx.cancel()
            task.cancel()
        now = time.monotonic()
        interval = self.queue.settings.heartbeat_interval
        seen: dict[tuple[int, str], float] = {}
        for claim in held:
            key = (claim.chunk_id, claim.lease_token)
            if claim.chunk_id in before or claim.chunk_id in self._inflight or self._settler.on_its_way(key):
                continue
            first = seen[key] = self._orphans.get(key, now)
            if now - first < interval:
                continue
            del seen[key]
            log.warning("worker %s: job %d chunk %d is processing under this worker, but nothing here runs it "
                        "or is settling it (an outcome was lost); giving it back unspent",
                        self.id, claim.job_id, claim.chunk_index)
            self._settler.put(claims.release(claim, self.queue.clock.now()))
        self._orphans = seen
        self._settler.still_held((claim.chunk_id, claim.lease_token) for claim in held)

    def _on_change(self, change: Change) -> None:
        if change.source == "queues":  # this process paused, resumed or configured a queue
            self._held.reread()
            self._wake.set()
        elif change.source in ("submit", "retry", "resume", "schedule", "notify"):
            self._held.wake()
            self._wake.set()
        elif change.source in ("cancel", "finalize", "rescue") and self._inflight:
            self._check_leases.set()
