"""Circuit breakers per remote host, kept in the database.

The systems queuetop replaces went down because their clients kept calling a
server that was already failing (seed 003). A breaker stops that: after
``failure_threshold`` consecutive transient failures a host's circuit
*opens*. While it is open nothing is sent to the host: the pending chunks of
the intents that call it have their run time moved to when it half-opens (so
they are not claimed), and a chunk claimed anyway is handed back with
:class:`~queuetop.engine.model.exceptions.Deferred`, its attempt refunded. When the
cooldown ends, exactly one attempt gets the *probe* (a compare-and-set on the
row): an answer from the host closes the circuit, another failure opens it
again with the cooldown doubled, up to ``max_cooldown``.

State lives in the ``circuits`` table, not in memory, so every engine process
sharing the database and ``queuetop circuits`` see the same state. Times come
from the engine's clock. Reading a closed circuit costs one read; writes
happen only on failures and state changes.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from queuetop.engine.store import queries
from queuetop.engine.model.changes import CHUNKS, CIRCUITS, ChangeBus, Change
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.model.display import timestamp
from queuetop.engine.model.exceptions import ConfigError, Deferred
from queuetop.engine.model.states import CircuitState

SQL = queries.load("circuits")
log = logging.getLogger("queuetop.engine")

# Losing the compare-and-set for the probe re-reads the row; after this many
# rounds (only under a storm of transitions) the attempt is simply deferred.
ADMIT_ROUNDS = 3
# A deferral whose row vanished or changed under us retries this soon.
SHORT_DEFERRAL = 1.0


@dataclass(frozen=True)
class BreakerSettings:
    """When a host's circuit opens and how long it stays open."""

    failure_threshold: int = 5   # consecutive transient failures that open it
    cooldown: float = 30.0       # seconds open before the first probe
    max_cooldown: float = 600.0  # each failed probe doubles the cooldown up to this

    def __post_init__(self) -> None:
        if isinstance(self.failure_threshold, bool) or not isinstance(self.failure_threshold, int) \
                or self.failure_threshold < 1:
            raise ConfigError(f"failure_threshold must be a whole number >= 1, got {self.failure_threshold!r}")
        for name in ("cooldown", "max_cooldown"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_cooldown < self.cooldown:
            raise ConfigError(f"max_cooldown ({self.max_cooldown:g}) is shorter than cooldown ({self.cooldown:g})")


@dataclass(frozen=True)
class Circuit:
    """One host's breaker, as ``queuetop circuits`` and the TUI show it."""

    host: str
    state: CircuitState
    failures: int               # consecutive transient failures
    opened_at: float | None
    cooldown: float             # seconds the current (or next) opening lasts
    half_open_at: float | None  # when the next probe may go
    probe_in_flight: bool
    probe_deadline: float | None
    opens: int                  # times opened, reopenings included
    last_error: str | None      # redacted before it was stored
    last_error_at: float | None
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Circuit":
        data = dict(row)
        data["state"] = CircuitState(data["state"])
        data["probe_in_flight"] = bool(data["probe_in_flight"])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["state"] = self.state.value
        return out


async def list_circuits(db: Database) -> list[Circuit]:
    """Every host that has had a failure, open circuits first.

    A host with no row has never failed: its circuit is closed.
    """
    return [Circuit.from_row(row) for row in await db.fetchall(SQL["list_circuits"])]


@dataclass(frozen=True)
class Admission:
    """Leave to send one request to a host.

    ``probe_token`` is set when this request is the half-open probe: its
    result decides the circuit, and only the holder of the token may do so.
    """

    host: str
    probe_token: str | None = None

    @property
    def is_probe(self) -> bool:
        return self.probe_token is not None


@dataclass(frozen=True)
class FailureRecorded:
    """What one transient failure did to its host's circuit."""

    open_until: float | None  # when the circuit half-opens, if it is open now
    opened_now: bool = False  # this failure opened it from closed


class Breaker:
    """The circuit breakers of one database, for every host."""

    def __init__(self, db: Database, clock: Clock, changes: ChangeBus | None = None, *,
                 opened_hooks: Sequence[Callable[[Any, str, str, float], Awaitable[None]]] = ()) -> None:
        self.db = db
        self.clock = clock
        self.changes = changes
        # Run inside the transaction that opens a circuit from closed (the engine's alerts).
        self.opened_hooks = tuple(opened_hooks)

    async def admit(self, host: str, *, probe_window: float) -> Admission:
        """Leave to call ``host`` now, or :class:`Deferred` until it may be called.

        ``probe_window`` is how long a probe may take before another attempt
        may take it over (its holder may have died with it).
        """
        for _ in range(ADMIT_ROUNDS):
            row = await self.db.fetchone(SQL["get_circuit"], {"host": host})
            now = self.clock.now()
            if row is None or row["state"] == CircuitState.CLOSED.value:
                return Admission(host)
            if row["state"] == CircuitState.OPEN.value and now < row["half_open_at"]:
                raise Deferred(f"circuit for {host} is open until {timestamp(row['half_open_at'])}",
                               row["half_open_at"])
            if row["state"] == CircuitState.HALF_OPEN.value and now < row["probe_deadline"]:
                raise Deferred(f"circuit for {host} is half-open: waiting for its probe",
                               row["probe_deadline"])
            token = secrets.token_hex(8)
            async with self.db.transaction() as conn:
                async with conn.execute(SQL["take_probe"], {
                    "host": host, "token": token, "deadline": now + probe_window, "now": now,
                }) as cur:
                    won = await cur.fetchone() is not None
            if won:
                log.info("circuit for %s half-open: sending one probe", host)
                self._publish()
                return Admission(host, token)
            # Another attempt (maybe in another process) moved the circuit
            # first: read it again and decide on what it is now.
        raise Deferred(f"circuit for {host} is changing state", self.clock.now() + SHORT_DEFERRAL)

    async def succeeded(self, admission: Admission, settings: BreakerSettings) -> bool:
        """The host answered. Returns True when this closed its circuit."""
        now = self.clock.now()
        if admission.is_probe:
            async with self.db.transaction() as conn:
                async with conn.execute(SQL["close_circuit"], {
                    "host": admission.host, "token": admission.probe_token, "cooldown": settings.cooldown,
                    "now": now,
                }) as cur:
                    closed = await cur.fetchone() is not None
            if closed:
                log.info("circuit for %s closed: the probe got an answer", admission.host)
                self._publish()
            return closed
        # The hot path: a read, and a write only when there is a run of
        # failures to end (most successes change nothing).
        row = await self.db.fetchone(SQL["get_circuit"], {"host": admission.host})
        if row is not None and row["state"] == CircuitState.CLOSED.value and row["failures"] > 0:
            async with self.db.transaction() as conn:
                await conn.execute(SQL["reset_failures"], {"host": admission.host, "now": now})
            self._publish()
        return False

    async def failed(self, admission: Admission, settings: BreakerSettings, error: str, *,
                     intents: Sequence[str], not_before: float | None = None) -> float | None:
        """Count a transient failure of the host; open its circuit at the threshold.

        Returns the time the circuit half-opens when it is open after this
        failure, else None (see :meth:`record_failure`).
        """
        return (await self.record_failure(admission, settings, error, intents=intents,
                                          not_before=not_before)).open_until

    async def record_failure(self, admission: Admission, settings: BreakerSettings, error: str, *,
                             intents: Sequence[str], not_before: float | None = None) -> "FailureRecorded":
        """Count a transient failure of the host; open its circuit at the threshold.

        ``error`` must already be redacted. ``intents`` are the intent keys
        that call this host: when the circuit opens, their pending chunks are
        held until it half-opens. ``not_before`` (a Retry-After time) keeps
        the circuit open at least that long. Says when the circuit half-opens
        if it is open after this failure, and whether this failure is the one
        that opened it from closed (the others land on a circuit already open
        or are a failed probe: the outage's, not the chunk's).
        """
        now = self.clock.now()
        floor = not_before or 0.0  # SQLite's max() of anything and NULL is NULL
        opened: sqlite3.Row | None = None
        held = 0
        async with self.db.transaction() as conn:
            async with conn.execute(SQL["record_failure"], {
                "host": admission.host, "cooldown": settings.cooldown, "error": error, "now": now,
            }) as cur:
                recorded = await cur.fetchone()
            if admission.is_probe:
                async with conn.execute(SQL["probe_failed"], {
                    "host": admission.host, "token": admission.probe_token, "max_cooldown": settings.max_cooldown,
                    "not_before": floor, "now": now,
                }) as cur:
                    opened = await cur.fetchone()
            elif recorded["state"] == CircuitState.CLOSED.value:
                async with conn.execute(SQL["open_circuit"], {
                    "host": admission.host, "threshold": settings.failure_threshold, "cooldown": settings.cooldown,
                    "not_before": floor, "now": now,
                }) as cur:
                    opened = await cur.fetchone()
            if opened is not None:
                # In the same transaction as the opening: no worker can claim
                # these chunks between the circuit opening and their hold.
                cur = await conn.execute(SQL["hold_chunks"], {
                    "until": opened["half_open_at"], "intents": json.dumps(list(intents)),
                })
                held = cur.rowcount
                if not admission.is_probe:
                    for hook in self.opened_hooks:
                        await hook(conn, admission.host, error, now)
        if opened is not None:
            log.warning("circuit for %s %s after %d consecutive failure(s): no requests until %s "
                        "(cooldown %gs); %d pending chunk(s) held; last error: %s", admission.host,
                        "reopened" if admission.is_probe else "opened", recorded["failures"],
                        timestamp(opened["half_open_at"]), opened["cooldown"], held, error)
            self._publish(chunks=held > 0)
            return FailureRecorded(float(opened["half_open_at"]), opened_now=not admission.is_probe)
        if recorded["state"] == CircuitState.OPEN.value:
            # A request sent before the circuit opened, failing late.
            return FailureRecorded(float(recorded["half_open_at"]))
        return FailureRecorded(None)

    async def abandon(self, admission: Admission) -> None:
        """A probe that got no answer (cancelled): let the next attempt probe at once."""
        if not admission.is_probe:
            return
        async with self.db.transaction() as conn:
            await conn.execute(SQL["release_probe"], {"host": admission.host, "token": admission.probe_token,
                                                      "now": self.clock.now()})
        self._publish()

    def _publish(self, *, chunks: bool = False) -> None:
        if self.changes is not None:
            topics = (CIRCUITS, CHUNKS) if chunks else (CIRCUITS,)
            self.changes.publish(Change.of(*topics, source="circuit"))
