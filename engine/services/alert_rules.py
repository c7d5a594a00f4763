"""Alerts: raised in the transaction of what caused them (delivered by alert_delivery.py).

``[[alerts]]`` rules (:class:`~queuetop.engine.config.AlertRule`) name the
kinds they want (``job.failed``, ``schedule.failed``, ``circuit.open``, …),
an optional intent glob and where an alert goes: a webhook (an HTTP POST of
a JSON object) and/or ``submit`` (a job of that intent with the alert as
params). :class:`Alerts` writes one ``alerts`` row per matching rule inside
the transaction that ended the job, recorded the run's error, opened the
circuit or rescued the stale worker's chunks: an outbox, so nothing is lost
when an engine dies between the two. Repeats of one rule, kind and subject
(intent, schedule, host) within the rule's ``cooldown`` are collapsed into
the alert already raised (a compare-and-set on ``alert_marks``).

:class:`~queuetop.engine.services.alert_delivery.AlertDelivery` runs in every engine process that runs workers. It
claims due alerts under a lease in one transaction (one engine of many
delivers each row), makes the ``submit`` job in a transaction fenced by that
lease (so it is made once), POSTs the webhook, and records every attempt in
``alert_deliveries``. A failed attempt is retried with exponential back-off
until ``alert_attempts`` are spent; a delivery whose engine died is taken
over when its lease runs out. It also looks for backlogs every
``backlog_check_interval``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from queuetop.engine.config import AlertRule
from queuetop.engine.model.changes import ALERTS, Change, ChangeBus
from queuetop.engine.model.records import Alert, AlertDelivery, MissedRuns, Submission
from queuetop.engine.model.states import AlertKind
from queuetop.engine.model.text import clean
from queuetop.engine.store import queries
from queuetop.engine.store.protocol import Backend, Connection

SQL = queries.load("alerts")
log = logging.getLogger("queuetop.engine")

#: Called inside the transaction in which a schedule's due times were found
#: missed: ``hook(conn, missed, now)``.
ScheduleMissedHook = Callable[[Connection, MissedRuns, float], Awaitable[None]]
#: Called inside the transaction that opened a host's circuit: ``hook(conn, host, error, now)``.
CircuitOpenedHook = Callable[[Connection, str, str, float], Awaitable[None]]

SUMMARY_LIMIT = 500


class Alerts:
    """The ``[[alerts]]`` rules of one engine, and the hooks that raise alerts by them."""

    def __init__(self, rules: tuple[AlertRule, ...], changes: ChangeBus | None = None) -> None:
        self.rules = rules
        self.changes = changes
        self.kinds = frozenset(kind for rule in rules for kind in rule.on)

    def wants(self, kind: AlertKind | str) -> bool:
        """Whether any rule raises alerts of ``kind`` (cheap: hooks return at once when not)."""
        return str(kind) in self.kinds

    async def raise_alert(self, conn: Connection, kind: AlertKind | str, *, subject: str, summary: str,
                          now: float, job_id: int | None = None, schedule: str | None = None,
                          host: str | None = None, worker_id: str | None = None,
                          intent: str | None = None) -> list[int]:
        """Write an alert for every rule that wants it, inside the caller's transaction.

        Returns the ids of the alerts written (a repeat within a rule's
        cooldown writes none: it counts on the alert already raised).
        """
        kind = AlertKind(kind)
        made = []
        for number, rule in enumerate(self.rules, 1):
            if kind.value not in rule.on:
                continue
            if rule.intent is not None and (intent is None or not fnmatch.fnmatchcase(intent, rule.intent)):
                continue
            key = {"rule": number, "kind": kind.value, "subject": subject}
            if rule.cooldown > 0:
                # (With no cooldown nothing collapses: not even two engines' alerts whose
                # clocks, read before their transactions began, came out of order.)
                async with conn.execute(SQL["take_mark"], {**key, "now": now, "cooldown": rule.cooldown}) as cur:
                    fresh = await cur.fetchone() is not None
                if not fresh:
                    await conn.execute(SQL["repeat"], {**key, "now": now})
                    continue
            async with conn.execute(SQL["insert"], {
                **key, "summary": clean(summary, SUMMARY_LIMIT), "job_id": job_id, "schedule": schedule,
                "host": host, "worker_id": worker_id, "intent": intent, "webhook": rule.webhook,
                "submit": rule.submit, "now": now,
            }) as cur:
                alert_id = (await cur.fetchone())[0]
            if rule.cooldown > 0:
                await conn.execute(SQL["set_mark"], {**key, "alert_id": alert_id})
            made.append(alert_id)
        if made:
            log.warning("alert %s: %s", kind.value, summary)
            if self.changes is not None:
                self.changes.publish(Change.of(ALERTS, source="alert"))
        return made

    # -- the hooks handed to the services that see things happen ------------------------

    async def job_ended(self, conn: Connection, job: dict[str, Any], now: float) -> None:
        """A job ended (a JobEndedHook): ``job.failed``/``job.partial``, and ``schedule.failed``."""
        status = job["status"]
        kind = {"failed": AlertKind.JOB_FAILED, "partial": AlertKind.JOB_PARTIAL}.get(status)
        scheduled = job.get("schedule_id") is not None and status != "completed"
        if not ((kind and self.wants(kind)) or (scheduled and self.wants(AlertKind.SCHEDULE_FAILED))):
            return
        async with conn.execute(SQL["job_intent"], {"job_id": job["id"]}) as cur:
            row = await cur.fetchone()
        intent = row[0] if row else None
        counts = (f"{job['chunks_completed']} of {job['chunks_total']} chunk(s) completed, "
                  f"{job['chunks_failed']} failed")
        if kind is not None:
            await self.raise_alert(conn, kind, subject=intent or "?", now=now, job_id=job["id"], intent=intent,
                                   summary=f"job {job['id']} ({intent}) ended {status}: {counts}")
        if scheduled:
            async with conn.execute(SQL["schedule_name"], {"schedule_id": job["schedule_id"]}) as cur:
                found = await cur.fetchone()
            name = found[0] if found else f"#{job['schedule_id']}"
            await self.raise_alert(conn, AlertKind.SCHEDULE_FAILED, subject=name, now=now, job_id=job["id"],
                                   schedule=name, intent=intent,
                                   summary=f"schedule {name}: job {job['id']} ended {status}: {counts}")

    async def schedule_failed(self, conn: Connection, name: str, intent: str | None, error: str, now: float) -> None:
        """A schedule's run recorded an error (inside the transaction that records it)."""
        if self.wants(AlertKind.SCHEDULE_FAILED):
            await self.raise_alert(conn, AlertKind.SCHEDULE_FAILED, subject=name, now=now, schedule=name,
                                   intent=intent, summary=f"schedule {name} failed: {error}")

    async def schedule_missed(self, conn: Connection, missed: MissedRuns, now: float) -> None:
        """A schedule's due times passed while nothing ran them (a ``schedule_missed_hooks`` entry)."""
        if not self.wants(AlertKind.SCHEDULE_MISSED):
            return
        what = f"{'at least ' if missed.capped else ''}{missed.count} run(s)"
        await self.raise_alert(conn, AlertKind.SCHEDULE_MISSED, subject=missed.schedule, now=now,
                               schedule=missed.schedule, intent=missed.intent,
                               summary=f"schedule {missed.schedule} missed {what} while nothing ran it")

    async def circuit_opened(self, conn: Connection, host: str, error: str, now: float) -> None:
        """A host's circuit opened (inside the transaction that opened it)."""
        if self.wants(AlertKind.CIRCUIT_OPEN):
            await self.raise_alert(conn, AlertKind.CIRCUIT_OPEN, subject=host, now=now, host=host,
                                   summary=f"circuit for {host} opened; last error: {error}")

    async def worker_stale(self, conn: Connection, worker_id: str, host: str, rescued: int, now: float) -> None:
        """A silent worker was marked offline (inside the rescue's transaction)."""
        if self.wants(AlertKind.WORKER_STALE):
            await self.raise_alert(conn, AlertKind.WORKER_STALE, subject=host, now=now, host=host,
                                   worker_id=worker_id,
                                   summary=f"worker {worker_id} went silent; marked offline, "
                                           f"{rescued} chunk(s) rescued")

    async def check_backlog(self, db: Backend, now: float) -> int:
        """Raise ``backlog`` for intents whose pending chunks have waited too long; returns how many."""
        rules = [rule for rule in self.rules if "backlog" in rule.on and rule.backlog_seconds]
        if not rules:
            return 0
        longest_wanted = min(rule.backlog_seconds or 0.0 for rule in rules)
        rows = await db.fetchall(SQL["backlog"], {"cutoff": now - longest_wanted})
        raised = 0
        for row in rows:
            intent, chunks, oldest = row["intent"], row["chunks"], row["oldest"]
            waited = now - oldest
            wanted = [r for r in rules if waited >= (r.backlog_seconds or 0.0)
                      and (r.intent is None or fnmatch.fnmatchcase(intent, r.intent))]
            if not wanted:
                continue
            async with db.transaction() as conn:
                raised += len(await self.raise_alert(
                    conn, AlertKind.BACKLOG, subject=intent, now=now, intent=intent,
                    summary=f"backlog: {chunks} pending chunk(s) of {intent}, the oldest due {waited:.0f}s ago"))
        return raised


def _field(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value if name == "name" else None
    if isinstance(value, dict):
        return value.get(name)
    try:
        return value[name] if not hasattr(value, name) else getattr(value, name)
    except (KeyError, IndexError, TypeError):
        return None


def payload(row: Any) -> dict[str, Any]:
    """What a webhook receives and a ``submit`` job gets as params."""
    return {
        "kind": row["kind"], "summary": row["summary"], "at": row["created_at"], "alert_id": row["id"],
        "repeats": row["repeats"], "job_id": row["job_id"], "schedule": row["schedule"], "host": row["host"],
        "worker_id": row["worker_id"], "intent": row["intent"],
    }


async def list_alerts(db: Backend, *, status: str | None = None, limit: int = 50) -> list[Alert]:
    """Alerts, newest first, each with its delivery attempts."""
    rows = await db.fetchall(SQL["list"], {"status": status, "limit": limit})
    by_alert: dict[int, list[AlertDelivery]] = {}
    if rows:
        for d in await db.fetchall(SQL["deliveries"], {"alert_ids": json.dumps([row["id"] for row in rows])}):
            by_alert.setdefault(d["alert_id"], []).append(AlertDelivery.from_row(d))
    return [Alert.from_row(row, by_alert.get(row["id"], ())) for row in rows]


async def get_alert(db: Backend, alert_id: int) -> Alert | None:
    """One alert with every delivery attempt, or None."""
    row = await db.fetchone(SQL["get"], {"alert_id": alert_id})
    if row is None:
        return None
    deliveries = await db.fetchall(SQL["deliveries"], {"alert_ids": json.dumps([alert_id])})
    return Alert.from_row(row, [AlertDelivery.from_row(d) for d in deliveries])


async def counts(db: Backend, since: float) -> tuple[int, int]:
    """(undelivered, raised since ``since``): index lookups only."""
    return (int(await db.scalar(SQL["undelivered_count"]) or 0),
            int(await db.scalar(SQL["recent_count"], {"since": since}) or 0))
