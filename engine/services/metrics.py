"""Prometheus metrics of one engine process, served on ``GET /metrics``.

Imported only when ``--metrics-port`` (or ``[engine] metrics_port``) asks
for it, so ``prometheus_client`` is needed only then. Each engine has its own
registry (no process-global state). The exposition format is
``prometheus_client``'s own.

- Gauges (``queuetop_jobs``, ``queuetop_chunks``, ``queuetop_workers``,
  ``queuetop_circuit_open``, ``queuetop_alerts_pending``) come from the
  counters the database keeps (jobs' ``chunks_*`` columns, counts on indexed
  columns), read by the event loop at most every ``metrics_interval``
  seconds; a scrape reads the last reading, never the database.
- Counters and histograms (``queuetop_chunks_processed_total``,
  ``queuetop_chunk_duration_seconds``, ``queuetop_queue_wait_seconds``,
  ``queuetop_events_ingested_total``) count what this process did.

Labels are bounded: states, intents this process can run, hosts, outcome
kinds. No params, errors, URLs or job ids ever become a label.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from queuetop.engine.model.exceptions import ConfigError

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import start_http_server
except ModuleNotFoundError as missing:  # an optional extra: one line, not a traceback
    if missing.name != "prometheus_client":
        raise
    raise ConfigError("--metrics-port needs prometheus_client: pip install 'queuetop[metrics]'") from None

from queuetop.engine.handlers.circuits import list_circuits
from queuetop.engine.model.states import ChunkState, CircuitState, JobState
from queuetop.engine.model.text import describe
from queuetop.engine.services import alert_rules
from queuetop.engine.services.claims import Outcome, Settled
from queuetop.engine.store import queries

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

SQL = queries.load("metrics")
log = logging.getLogger("queuetop.engine")

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21600)


class Metrics:
    """The /metrics endpoint of one engine (started by the runner, stopped with it)."""

    def __init__(self, queue: "Engine", host: str, port: int, *, tailer: Any = None) -> None:
        self.queue = queue
        self.registry = CollectorRegistry(auto_describe=True)
        self.processed = Counter("queuetop_chunks_processed", "Attempts ended by this process, by outcome",
                                 ["intent", "outcome"], registry=self.registry)
        self.duration = Histogram("queuetop_chunk_duration_seconds", "How long attempts ran, claim to end",
                                  ["intent"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.wait = Histogram("queuetop_queue_wait_seconds", "Claim time minus due time, per attempt",
                              buckets=WAIT_BUCKETS, registry=self.registry)
        self.events = Counter("queuetop_events_ingested", "Events this process's tailer stored",
                              registry=self.registry)
        self.gauges: dict[str, Any] = {}
        self.registry.register(_Gauges(self))
        if tailer is not None and hasattr(tailer, "subscribe"):
            tailer.subscribe(lambda batch: self.events.inc(batch.count))
        self.host, self.port = host, port
        self._server: Any = None
        queue.metrics = self

    # -- from the engine's settles -----------------------------------------------------

    async def before_settle(self, db: Any, outcomes: Sequence[Outcome]) -> dict[int, Any]:
        """Intent, due and claim time of the chunks about to be settled (one read by primary key)."""
        ids = [o.chunk_id for o in outcomes]
        if not ids:
            return {}
        try:
            rows = await db.fetchall(SQL["settling"], {"chunk_ids": json.dumps(ids)})
        except db.Error as exc:  # metrics never stop a settle
            log.debug("metrics: %s", describe(exc))
            return {}
        return {row["id"]: row for row in rows}

    def settled(self, outcomes: Sequence[Outcome], settled: Settled, seen: dict[int, Any] | None,
                now: float) -> None:
        """Count the attempts that ``settled`` applied."""
        applied = {chunk_id for chunk_id, _, _ in settled.applied}
        for o in outcomes:
            row = (seen or {}).get(o.chunk_id)
            if o.chunk_id not in applied or row is None:
                continue
            intent = row["intent"]
            if o.refund:
                outcome = "released"
            elif o.status is ChunkState.COMPLETED:
                outcome = "completed"
            else:
                outcome = o.kind.value if o.kind is not None else "deferred"
            self.processed.labels(intent, outcome).inc()
            if o.started_at is not None and not o.refund:
                self.duration.labels(intent).observe(max(0.0, (o.finished_at or now) - o.started_at))
            if row["claimed_at"] is not None and row["run_after"] is not None:
                self.wait.observe(max(0.0, row["claimed_at"] - row["run_after"]))

    # -- the gauges' reading -----------------------------------------------------------

    async def read(self) -> None:
        """Read the gauges' values from the database's counters."""
        queue = self.queue
        db = queue.db
        counts = await queue.state_counts()  # the counters the triggers keep
        workers = await queue.worker_counts()
        self.gauges = {
            "jobs": {state.value: counts["jobs"].get(state.value, 0) for state in JobState},
            "chunks": {state.value: counts["chunks"].get(state.value, 0) for state in ChunkState},
            "workers": {name: workers.get(name, 0) for name in ("online", "stale", "stopping", "offline")},
            "circuits": {c.host: int(c.state is not CircuitState.CLOSED) for c in await list_circuits(db)},
            "alerts_pending": int(await db.scalar(alert_rules.SQL["undelivered_count"]) or 0),
        }

    def start(self) -> None:
        """Bind the port; a port in use is one line, not a traceback."""
        try:
            self._server, _ = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {self.host}:{self.port}: {exc.strerror or exc}") from None
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the gauges' reading fresh until ``stop``; then close the endpoint."""
        try:
            while not stop.is_set():
                try:
                    await self.read()
                except Exception as exc:  # the database failed: keep the last reading
                    log.warning("metrics: %s", describe(exc))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.queue.settings.metrics_interval)
                except TimeoutError:
                    pass
        finally:
            self.queue.metrics = None
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()


class _Gauges:
    """A collector that hands out the last reading (scrapes never touch the database)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        gauges = self.metrics.gauges
        for name, label, text in (("jobs", "state", "Jobs by state"), ("chunks", "state", "Chunks by state"),
                                  ("workers", "state", "Workers by state"),
                                  ("circuits", "host", "1 while a host's circuit is open or half-open")):
            family = GaugeMetricFamily("queuetop_circuit_open" if name == "circuits" else f"queuetop_{name}",
                                       text, labels=[label])
            for key, value in sorted(gauges.get(name, {}).items()):
                family.add_metric([key], value)
            yield family
        yield GaugeMetricFamily("queuetop_alerts_pending", "Alerts not delivered yet",
                                value=gauges.get("alerts_pending", 0))
