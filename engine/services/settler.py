"""A worker's outcomes on their way to the database: queued, batched, written, and claimed with.

Each ended attempt's :class:`~queuetop.engine.services.claims.Outcome` is put
here; one loop writes them in batches (many per transaction under load, one
at once when idle), with the starts of the jobs the worker claimed without
starting them. Where the worker allows it, the transaction that settles a
batch also claims for the slots its chunks freed (see
:func:`~queuetop.engine.services.claims.settle`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from queuetop.engine.model import text
from queuetop.engine.model.states import ChunkState, OutcomeKind
from queuetop.engine.services.claims import Claim, JobSpec, NextClaim, Outcome

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

log = logging.getLogger("queuetop.engine")

# At most this many outcomes are written in one settle transaction.
SETTLE_BATCH = 1000
# After a settle asked to go in one round trip had to go in two (a job it ended needed what
# follows its end), this long in seconds before the next one asks again: where every job has
# an on-finalize intent, most settles would otherwise be written twice.
ONE_TRIP_PAUSE = 1.0
# Put in the queue after a claim whose jobs the next settle starts: wakes the loop.
_JOBS_CLAIMED = "jobs claimed"

#: (chunk id, lease token): one attempt's outcome, whichever it is.
Key = tuple[int, str]


class Settler:
    """The settle side of one worker (see the module docstring).

    ``name`` gives the worker's id for log lines (it changes when the worker
    registers again); ``next_claim`` what to claim with a settle about to be
    written (None: nothing); ``started`` takes what such a claim got;
    ``wake`` wakes the worker's claim loop; ``monotonic`` times the pause
    after a refused one-trip settle (tests step it).
    """

    def __init__(self, queue: "Engine", *, name: Callable[[], str], next_claim: Callable[[], NextClaim | None],
                 started: Callable[[list[Claim], dict[int, JobSpec]], None], wake: Callable[[], None],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.queue = queue
        self._monotonic = monotonic
        self._name = name
        self._next_claim = next_claim
        self._started = started
        self._wake = wake
        self._outcomes: asyncio.Queue[Outcome | str | None] = asyncio.Queue()
        # Jobs claimed but not yet started (job id -> claim time), where the
        # backend leaves that to the next settle (claims.defers_job_starts):
        # written with the next batch of outcomes, which wakes for them.
        self._starts: dict[int, float] = {}
        self._fresh_claims = False  # claims made since the loop last looked (see run)
        #: True from the moment the loop takes something to write until the write is over.
        self.settling = False
        # Outcomes queued or being written: on their way.
        self._unsettled: set[Key] = set()
        # Outcomes the database refused in every form: left to the stuck-chunk rescue,
        # which spends the attempt (see _poisoned).
        self._unwritable: set[Key] = set()
        #: Monotonic time after which outcomes that cannot be written are dropped (set at shutdown).
        self.give_up_at: float | None = None
        self._one_trip_from = 0.0  # monotonic time from which settles ask for one round trip again

    @property
    def busy(self) -> bool:
        """A settle is being written or outcomes wait for one."""
        return self.settling or not self._outcomes.empty()

    def put(self, outcome: Outcome) -> None:
        """Queue an attempt's outcome for the next settle."""
        self._unsettled.add((outcome.chunk_id, outcome.lease_token))
        self._outcomes.put_nowait(outcome)

    def claimed(self, batch: Iterable[Claim]) -> None:
        """A claim left its jobs pending: the next settle starts them (before any outcome of theirs)."""
        for claim in batch:
            self._starts.setdefault(claim.job_id, claim.claimed_at)
        self._outcomes.put_nowait(_JOBS_CLAIMED)
        self._fresh_claims = True

    def on_its_way(self, key: Key) -> bool:
        """Whether this attempt's outcome is queued, being written, or known to be unwritable."""
        return key in self._unsettled or key in self._unwritable

    def still_held(self, keys: Iterable[Key]) -> None:
        """Forget unwritable outcomes of chunks the database no longer says are held."""
        self._unwritable.intersection_update(keys)

    async def close(self) -> None:
        """Have :meth:`run` write what is queued and return."""
        await self._outcomes.put(None)

    async def run(self) -> None:
        """Write outcomes in batches until :meth:`close`."""
        done = False
        while not done:
            first = await self._outcomes.get()
            self.settling = True  # from here the claim loop leaves its free slots to this settle
            batch = [first] if isinstance(first, Outcome) else []
            done = first is None
            if self._fresh_claims:
                # Chunks were claimed since the last settle (maybe by it): let their
                # handlers take their first step, so chunks that end at once (a quick
                # async handler) are settled with their jobs' start, one write per job,
                # not two.
                self._fresh_claims = False
                await asyncio.sleep(0)
            while len(batch) < SETTLE_BATCH and not self._outcomes.empty():
                item = self._outcomes.get_nowait()
                if item is None:
                    done = True
                    break
                if isinstance(item, Outcome):
                    batch.append(item)
            # Every job of these outcomes is among the starts or was started before.
            starts, self._starts = self._starts, {}
            claimed = False
            try:
                claimed = await self.write(batch, starts, claim=True)
            finally:
                self.settling = False
                self._unsettled.difference_update((outcome.chunk_id, outcome.lease_token) for outcome in batch)
                if not claimed:  # the claim loop left its free slots to this settle: they are its again
                    self._wake()

    async def write(self, batch: list[Outcome], starts: dict[int, float] | None = None, *,
                     claim: bool = False) -> bool:
        """Settle ``batch``; a poisoned outcome fails only its own chunk, and nothing retries forever.

        ``claim``: claim for the worker's free slots in the same transaction
        (``next_claim``). Returns whether a claim was made with it.

        A batch the database refuses as data (PostgreSQL cannot store a NUL,
        say) is written one outcome at a time, so the good ones land and the
        bad one fails its chunk with the storage error as its error. A
        database that is down is retried with back-off until it answers, or,
        once the worker is stopping, until the grace period is over: then the
        outcomes are left to the lease fence and the stuck-chunk rescue.
        """
        queue = self.queue
        delay = 0.05
        while batch or starts:
            next_claim = self._next_claim() if claim else None
            one_trip = self._monotonic() >= self._one_trip_from
            try:
                settled = await queue.settle(batch, starts, next_claim, one_trip=one_trip)
            except queue.db.DataError as exc:
                if len(batch) == 1:
                    batch = self._poisoned(batch[0], exc)
                else:
                    log.warning("worker %s: a settle of %d outcomes was refused (%s); writing them one by one",
                                self._name(), len(batch), text.describe(exc, 300))
                    await self.write([], starts)
                    for outcome in batch:
                        await self.write([outcome])
                    return False
                continue
            except Exception as exc:
                # The database may come back: keep the batch. Anything else is
                # said with its traceback and tried again the same way: ending
                # the settle loop would hold these chunks processing, and every
                # chunk after them, until the rescue.
                trace = not isinstance(exc, queue.db.Error)
                if self.give_up_at is not None and time.monotonic() > self.give_up_at:
                    log.error("worker %s: %d outcome(s) not written before shutdown (%s); their chunks go back "
                              "to pending through the lease fence and the stuck-chunk rescue",
                              self._name(), len(batch), text.describe(exc, 300), exc_info=trace)
                    return False
                log.warning("worker %s: settle failed (%s); retrying in %.1fs", self._name(),
                            text.describe(exc, 300), delay, exc_info=trace)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            if settled.refused_one_trip:
                self._one_trip_from = self._monotonic() + ONE_TRIP_PAUSE
            if settled.fenced_out:
                log.info("worker %s: %d result(s) discarded: lease lost (cancelled or rescued)",
                         self._name(), settled.fenced_out)
            if settled.claimed:
                self._started(settled.claimed, settled.specs)
            if any(outcome.status is ChunkState.PENDING for outcome in batch):
                # A retry or a release: the claim loop may have looked while the
                # chunk was in flight and found nothing due; it looks again.
                self._wake()
            return next_claim is not None
        return False

    def _poisoned(self, outcome: Outcome, exc: BaseException) -> list[Outcome]:
        """What to write instead of an outcome the database refused: its chunk failed, with why."""
        if outcome.kind is OutcomeKind.PERMANENT and outcome.result is None and outcome.error is not None \
                and outcome.error.startswith("the database refused this chunk's outcome"):
            log.error("worker %s: chunk %d's outcome cannot be written at all (%s); left to the stuck-chunk rescue",
                      self._name(), outcome.chunk_id, text.describe(exc, 300))
            # Not an orphan to give back unspent: it would run and be refused again, forever.
            self._unwritable.add((outcome.chunk_id, outcome.lease_token))
            return []
        error = ("the database refused this chunk's outcome: "
                 + text.describe(exc, 500).encode("ascii", "backslashreplace").decode("ascii"))
        log.warning("worker %s: chunk %d: %s", self._name(), outcome.chunk_id, error)
        return [Outcome(outcome.chunk_id, outcome.lease_token, ChunkState.FAILED, outcome.attempt,
                        outcome.worker_id, outcome.started_at, OutcomeKind.PERMANENT, error,
                        finished_at=outcome.finished_at or self.queue.clock.now())]
