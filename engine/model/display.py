"""Turning stored values into what an operator reads: times, ages, tables, and how states look."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any


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


# Control characters (C0, DEL, C1) as the escapes Python writes them: text a
# handler handed back must not move a terminal's cursor, clear its screen or
# split a line.
_ESCAPES = {c: ("\\n" if c == 10 else "\\r" if c == 13 else "\\t" if c == 9 else f"\\x{c:02x}")
            for c in [*range(0x20), *range(0x7f, 0xa0)]}


def printable(text: str) -> str:
    """``text`` with every control character written as its escape (``\\x1b``, ``\\n``), on one line."""
    return text.translate(_ESCAPES) if not text.isprintable() else text


ELLIPSIS = "\u2026"


def clip(text: object, width: int, cells: Callable[[str], int] = len) -> str:
    """``text`` on one line, cut to ``width`` cells (as ``cells`` counts them) with ``…`` when it does not fit."""
    if text is None or text == "":
        return ""
    line = " ".join(str(text).split())
    if cells(line) <= width:
        return line
    room, used, out = width - 1, 0, []
    for char in line:
        size = cells(char)
        if used + size > room:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + ELLIPSIS if width > 0 else ""


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns padded to their widest cell; control characters escaped."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else printable(str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


# How every state looks, defined once for the TUI and the CLI: a colour and a
# glyph each, so states stay apart without colour (NO_COLOR) and cancelled
# never reads as pending.
STATE_LOOKS: dict[str, tuple[str, str]] = {
    # jobs and chunks
    "pending": ("grey70", "○"),
    "running": ("dodger_blue1", "▶"),
    "processing": ("dodger_blue1", "▶"),
    "completed": ("green3", "✓"),
    "partial": ("dark_orange", "◐"),
    "failed": ("red1", "✗"),
    "cancelled": ("orchid", "⊘"),
    # workers
    "online": ("green3", "●"),
    "stopping": ("yellow", "◌"),
    "offline": ("grey50", "◦"),
    "stale": ("red1", "⚠"),
    # work sessions
    "ACTIVE": ("green3", "●"),
    "QUIET": ("yellow", "◐"),
    "ARCHIVED": ("grey50", "◦"),
    # circuit breakers
    "open": ("red1", "✗"),
    "half_open": ("yellow", "◐"),
    "closed": ("green3", "✓"),
    # schedule runs
    "ok": ("green3", "✓"),
    "error": ("red1", "✗"),
    # queues ("running" as above)
    "paused": ("yellow", "‖"),
    # alerts ("pending" and "failed" as above)
    "delivering": ("dodger_blue1", "▶"),
    "delivered": ("green3", "✓"),
}


def state_colour(name: str) -> str:
    """The colour of a state name; ``white`` for a name without one."""
    return STATE_LOOKS.get(name, ("white", ""))[0]


def state_glyph(name: str) -> str:
    """The glyph of a state name; ``·`` for a name without one."""
    return STATE_LOOKS.get(name, ("", "·"))[1]


def job_outcome(status: str, completed: int, failed: int, cancelled: int, total: int) -> str:
    """A job's state and, once it ended short of its total, what was cut.

    ``completed · 12/25, 13 cancelled`` for a job finalized at 12 of 25
    chunks; a job still running, or one whose every chunk completed, is
    just its state.
    """
    finished = status in ("completed", "partial", "failed", "cancelled")
    if not finished or completed >= total:
        return status
    parts = [f"{completed}/{total}"]
    if failed:
        parts.append(f"{failed} failed")
    if cancelled:
        parts.append(f"{cancelled} cancelled")
    return f"{status} · " + ", ".join(parts)


def engines_line(engines: int, here: int) -> str:
    """What the header says about engines alive (fresh heartbeats), here and elsewhere."""
    if not engines:
        return "no engine online: work is not running"
    return f"{engines} engine{'s' if engines != 1 else ''} online, {here} in this process"


def next_start(at: float | None, now: float) -> str:
    """When a rate-limited queue may next start a chunk: ``now`` or ``in 0.25s``."""
    return "now" if at is None or at <= now else f"in {duration(at - now)}"


def queue_columns(info: Any, now: float) -> list[object]:
    """A queue (a :class:`~queuetop.engine.model.queues.QueueInfo`) as the CLI's and the TUI's table show it,
    under :data:`QUEUE_HEADERS`."""
    return [info.name, "paused" if info.paused else "running", info.pending, info.running, info.completed,
            info.failed, info.limit, info.local_limit, None if info.rate is None else str(info.rate),
            None if info.rate is None else next_start(info.next_start_at, now)]


QUEUE_HEADERS = ("QUEUE", "STATE", "PENDING", "RUNNING", "DONE 1H", "FAILED 1H", "LIMIT", "LOCAL", "RATE",
                 "NEXT START")
