"""Delivering alerts: the outbox's other half, in every engine process that runs workers.

:class:`AlertDelivery` claims due alerts under a lease in one transaction
(one engine of many delivers each row), makes the ``submit`` job in a
transaction fenced by that lease (so it is made once), POSTs the webhook and
records every attempt in ``alert_deliveries``. A failed attempt is retried
with exponential back-off until ``alert_attempts`` are spent; a delivery
whose engine died is taken over when its lease runs out (and recorded as
interrupted). It also looks for backlogs every ``backlog_check_interval``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from queuetop.engine.model.changes import ALERTS, JOBS, Change
from queuetop.engine.model.records import Submission
from queuetop.engine.model.states import AlertKind
from queuetop.engine.model.text import describe, redact_url
from queuetop.engine.services.alert_rules import SQL, payload
from queuetop.engine.services.jobs import insert_job

if TYPE_CHECKING:
    from queuetop.engine.services.engine import Engine

log = logging.getLogger("queuetop.engine")

CLAIM_BATCH = 20


class AlertDelivery:
    """Delivers due alerts for one engine process (see the module docstring)."""

    def __init__(self, queue: "Engine") -> None:
        self.queue = queue
        self.settings = queue.settings
        self.delivered = 0
        self._client: Any = None
        self._next_backlog = 0.0

    @property
    def lease(self) -> float:
        """How long a claimed delivery is this process's: the call's timeout, twice, and a second."""
        return 2 * self.settings.alert_timeout + 1.0

    def backoff(self, attempts: int) -> float:
        return min(self.settings.alert_retry_cap, self.settings.alert_retry_base * 2 ** max(0, attempts - 1))

    async def tick(self) -> int:
        """Take over abandoned deliveries, then deliver what is due; returns how many were delivered."""
        queue = self.queue
        now = queue.clock.now()
        if queue.alert_rules.wants(AlertKind.BACKLOG) and now >= self._next_backlog:
            self._next_backlog = now + self.settings.backlog_check_interval
            await queue.alert_rules.check_backlog(queue.db, now)
        if await queue.db.fetchone(SQL["any_due"], {"now": now}) is None:
            return 0
        async with queue.db.transaction() as conn:
            async with conn.execute(SQL["release_expired"], {"now": now}) as cur:
                lost = await cur.fetchall()
            if lost:
                await conn.executemany(SQL["record_delivery"], [{
                    "alert_id": row["id"], "attempt": row["attempts"],
                    "target": "webhook" if row["webhook"] else "submit", "ok": 0, "status_code": None,
                    "error": "interrupted: the engine delivering it stopped before it ended", "at": now,
                    "worker_id": None} for row in lost])
            token = secrets.token_hex(12)
            async with conn.execute(SQL["claim"], {"now": now, "until": now + self.lease, "token": token,
                                                   "limit": CLAIM_BATCH}) as cur:
                claimed = await cur.fetchall()
        done = 0
        for row in claimed:
            done += await self._deliver(row, token)
        if claimed:
            queue.changes.publish(Change.of(ALERTS, source="alert"))
        self.delivered += done
        return done

    async def _deliver(self, row: Any, token: str) -> int:
        queue = self.queue
        body = payload(row)
        error: str | None = None
        if row["submit"] and row["submitted_job_id"] is None:
            error = await self._submit(row, token, body)
        if error is None and row["webhook"]:
            error = await self._post(row, token, body)
        now = queue.clock.now()
        async with queue.db.transaction() as conn:
            if error is None:
                cur = await conn.execute(SQL["delivered"], {"id": row["id"], "token": token, "now": now})
                ok = bool(await cur.fetchall())
                if ok:
                    log.info("alert %d (%s) delivered", row["id"], row["kind"])
                return int(ok)
            async with conn.execute(SQL["retry_later"], {
                "id": row["id"], "token": token, "next": now + self.backoff(row["attempts"]), "error": error,
                "max_attempts": self.settings.alert_attempts,
            }) as cur:
                state = await cur.fetchone()
        if state is not None and state[0] == "failed":
            log.error("alert %d (%s): giving up after %d attempt(s): %s", row["id"], row["kind"], row["attempts"], error)
        else:
            log.warning("alert %d (%s): attempt %d failed: %s", row["id"], row["kind"], row["attempts"], error)
        return 0

    async def _submit(self, row: Any, token: str, body: dict[str, Any]) -> str | None:
        """Make the alert's job once, fenced by the lease; None when made (or made before)."""
        queue = self.queue
        now = queue.clock.now()
        record = {"alert_id": row["id"], "attempt": row["attempts"], "target": "submit",
                  "status_code": None, "at": now, "worker_id": queue.process_id}
        try:
            async with queue.db.transaction(wake=True) as conn:
                async with conn.execute(SQL["held_submit"], {"id": row["id"], "token": token}) as cur:
                    held = await cur.fetchone()
                if held is None or held[0] is not None:
                    return None if held is not None else "lease lost"
                job_id, _ = await insert_job(conn, Submission(
                    intent=row["submit"], params=body, max_retries=queue.settings.max_retries,
                    timeout=queue.settings.chunk_timeout), now)
                await conn.execute(SQL["set_submitted"], {"id": row["id"], "token": token, "job_id": job_id})
                await conn.execute(SQL["record_delivery"], {**record, "ok": 1, "error": None})
        except queue.db.Error as exc:
            error = f"submit {row['submit']} failed: {describe(exc)}"
            async with queue.db.transaction() as conn:
                await conn.execute(SQL["record_delivery"], {**record, "ok": 0, "error": error})
            return error
        queue.changes.publish(Change.of(JOBS, job_ids=[job_id], source="submit"))
        return None

    async def _post(self, row: Any, token: str, body: dict[str, Any]) -> str | None:
        """POST the alert to its webhook; None on a 2xx answer. Every attempt is recorded."""
        import httpx

        queue = self.queue
        url = row["webhook"]
        status: int | None = None
        error: str | None = None
        try:
            if self._client is None:
                self._client = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "queuetop"})
            response = await self._client.post(url, json=body, timeout=self.settings.alert_timeout,
                                               headers={"X-Queuetop-Alert": str(row["id"])})
            status = response.status_code
            if not 200 <= status < 300:
                error = f"{redact_url(url)} answered HTTP {status}"
        except httpx.HTTPError as exc:
            # The exception's text may quote the URL: its secret parts never reach the database.
            text = describe(exc).replace(url, redact_url(url) or "")
            error = f"cannot send to {redact_url(url)}: {text}"
        async with queue.db.transaction() as conn:
            await conn.execute(SQL["record_delivery"], {
                "alert_id": row["id"], "attempt": row["attempts"], "target": "webhook", "ok": int(error is None),
                "status_code": status, "error": error, "at": queue.clock.now(), "worker_id": queue.process_id})
        return error

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; database errors back off instead of ending the loop."""
        interval = self.settings.alert_interval
        backoff = interval
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                    backoff = interval
                except Exception as exc:  # the database or a bug: say so, keep delivering later
                    backoff = min(60.0, backoff * 2)
                    log.warning("alert delivery: %s; next try in %.0fs", describe(exc), backoff)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except TimeoutError:
                    pass
        finally:
            if self._client is not None:
                await self._client.aclose()
