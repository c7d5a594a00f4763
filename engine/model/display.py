"""Turning stored values into what an operator reads: times, ages, tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def timestamp(ts: float | None) -> str:
    """Epoch seconds as ``2026-01-01 00:00:00`` (UTC), or ``-``."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float | None) -> str:
    """A short age: ``4s``, ``12m``, ``3h``, ``2d``."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def next_run(ts: float | None, now: float, grace: float = 60.0) -> str:
    """A schedule's next run: its time (UTC) while ahead, ``due`` up to ``grace`` seconds after, then ``overdue by 3h``."""
    if ts is None or ts > now:
        return timestamp(ts)
    return "due" if now - ts <= grace else f"overdue by {ago(now - ts)}"


def duration(seconds: float | None) -> str:
    """A duration with sub-second precision where it matters."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    return ago(seconds)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)
