"""Alert detail: what was raised, where it goes (webhook redacted) and every delivery attempt."""

from __future__ import annotations

from queuetop.engine.model.changes import ALERTS
from queuetop.engine.model.display import state_glyph, timestamp
from queuetop.engine.model.records import AlertDelivery

from .detail import DetailScreen, Section, fields


class AlertDetailScreen(DetailScreen):
    """One alert, live while it is delivered."""

    TOPICS = frozenset({ALERTS})

    def __init__(self, alert_id: int) -> None:
        super().__init__()
        self.alert_id = alert_id

    async def load(self) -> tuple[str, list[Section]]:
        a = await self.queue.alert(self.alert_id)
        status = a.status.value
        pending = status in ("pending", "delivering")
        deliveries = [line for d in a.deliveries for line in _delivery(d)]
        submit = a.submit and (f"{a.submit} (job {a.submitted_job_id})" if a.submitted_job_id else a.submit)
        return f"Alert {a.id} · {a.kind.value} · {status}", [
            Section("Alert", fields(
                ("kind", a.kind.value), ("state", f"{state_glyph(status)} {status}"), ("subject", a.subject),
                ("repeats", a.repeats), ("created", timestamp(a.created_at)), ("last seen", timestamp(a.last_seen_at)),
                ("delivered", timestamp(a.delivered_at)),
                ("next attempt", timestamp(a.next_attempt_at) if pending else None),
                ("attempts", a.attempts), ("webhook", a.webhook), ("submit", submit),
                ("rule", f"[[alerts]] #{a.rule}"))),
            Section("Summary", a.summary),
            Section(f"Deliveries ({len(a.deliveries)})", "\n".join(deliveries) or "none yet"),
            Section("About", fields(("job", a.job_id), ("schedule", a.schedule), ("host", a.host),
                                    ("worker", a.worker_id), ("intent", a.intent))),
            Section("Last error", a.last_error or "-", "red1" if a.last_error else "dim"),
        ]


def _delivery(d: AlertDelivery) -> list[str]:
    """One delivery attempt: a line of what and when, then its error (indented) if it failed."""
    outcome = f"{state_glyph('delivered')} ok" if d.ok else f"{state_glyph('failed')} failed"
    answer = f" · HTTP {d.status_code}" if d.status_code is not None else ""
    line = (f"attempt {d.attempt} · {d.target} · {outcome}{answer} · {timestamp(d.at)}"
            f" · worker {d.worker_id or '-'}")
    if d.ok and not d.error:
        return [line]
    return [line, "  " + (d.error or "-").replace("\n", "\n  ")]
