"""Named queues: names, rates, the ``[queues.NAME]`` settings and what ``Queue.queues()`` returns.

Every job belongs to one queue (``default`` unless given, or routed there by
a ``[queues.NAME] intents`` pattern). A queue may have a global limit (chunks
processing at once across every process on the database), a local limit
(per process), a rate (chunk starts per window, as a token bucket in the
database) and its own pause; see ``schema.sql`` ("Queues") for how the claim
enforces them.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_QUEUE = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # whole names only (fullmatch: `$` allowed a final \n)
INTENT_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")  # what an intent key may be (reports.collect)
HANDLER_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # what a handler target may be (pkg.mod:function)


def is_intent_key(key: object) -> bool:
    """Whether ``key`` is a well-formed intent key (``reports.collect``)."""
    return isinstance(key, str) and len(key) <= 200 and INTENT_KEY.fullmatch(key) is not None
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*(s|sec|second|m|min|minute|h|hr|hour)\s*$")
_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
            "h": 3600.0, "hr": 3600.0, "hour": 3600.0}
MAX_LIMIT = 1_000_000
MAX_RATE = 1_000_000


def is_queue_name(name: object) -> bool:
    """A queue name: 1 to 64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or digit."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def queue_name_problem(name: object) -> str | None:
    """Why ``name`` is not a queue name, or None when it is."""
    if is_queue_name(name):
        return None
    return (f"queue {name!r} is not a valid queue name (1 to 64 letters, digits, '_', '.', '-', "
            "starting with a letter or digit)")


@dataclass(frozen=True)
class Rate:
    """At most ``count`` chunk starts in any ``period`` seconds."""

    count: int
    period: float

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.period)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.period:g}s"


def parse_rate(text: object) -> Rate:
    """``"10/s"``, ``"600/min"``, ``"100/h"`` (also ``"5/10s"``) as a :class:`Rate`; ValueError says why not."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"a rate is COUNT/PERIOD such as \"10/s\", \"600/min\" or \"100/h\", got {text!r}")
    count, multiple, unit = int(match.group(1)), match.group(2), match.group(3)
    period = _PERIODS[unit] * (float(multiple) if multiple not in ("", ".") else 1.0)
    if not 1 <= count <= MAX_RATE or not math.isfinite(period) or period <= 0:
        raise ValueError(f"a rate needs a count from 1 to {MAX_RATE:,} and a period above 0, got {text!r}")
    return Rate(count, period)


@dataclass(frozen=True)
class QueueSpec:
    """One ``[queues.NAME]`` table of the config."""

    name: str
    intents: tuple[str, ...] = ()   # globs: jobs of these intents go to this queue unless given another
    limit: int | None = None        # chunks processing at once across every process
    local_limit: int | None = None  # chunks processing at once in one process
    rate: Rate | None = None        # chunk starts per window, across every process


_SPEC_KEYS = ("intents", "limit", "local_limit", "rate")


def parse_queue_spec(name: str, table: object, where: str) -> QueueSpec:
    """Check one ``[queues.NAME]`` table, naming the bad key (raises ValueError with the message)."""
    here = f"{where}: [queues.{name}]"
    problem = queue_name_problem(name)
    if problem:
        raise ValueError(f"{where}: [queues.{name}]: {problem}")
    if not isinstance(table, dict):
        raise ValueError(f"{here} must be a table")
    unknown = set(table) - set(_SPEC_KEYS)
    if unknown:
        raise ValueError(f"{here}: unknown key(s): {', '.join(sorted(unknown))} (known: {', '.join(_SPEC_KEYS)})")
    intents = table.get("intents", [])
    if not isinstance(intents, list) or not all(isinstance(i, str) and i.strip() for i in intents):
        raise ValueError(f"{here} intents must be a list of intent patterns such as \"reports.*\", got {intents!r}")
    limits: dict[str, int | None] = {}
    for key in ("limit", "local_limit"):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= MAX_LIMIT):
            raise ValueError(f"{here} {key} must be an integer from 1 to {MAX_LIMIT:,}, got {value!r}")
        limits[key] = value
    rate = None
    if "rate" in table:
        try:
            rate = parse_rate(table["rate"])
        except ValueError as exc:
            raise ValueError(f"{here} rate: {exc}") from None
    return QueueSpec(name, tuple(intents), limits["limit"], limits["local_limit"], rate)


class QueueRoutes:
    """Which queue a job of an intent goes to when its submitter names none: the first
    ``[queues.NAME]`` whose ``intents`` pattern matches, else ``default``."""

    def __init__(self, specs: Sequence[QueueSpec] = ()) -> None:
        self._patterns = [(pattern, spec.name) for spec in specs for pattern in spec.intents]
        self._cache: dict[str, str] = {}

    def route(self, intent: str) -> str:
        if not self._patterns:
            return DEFAULT_QUEUE
        found = self._cache.get(intent)
        if found is None:
            found = next((name for pattern, name in self._patterns if fnmatch.fnmatchcase(intent, pattern)),
                         DEFAULT_QUEUE)
            if len(self._cache) < 10_000:
                self._cache[intent] = found
        return found


@dataclass(frozen=True)
class QueueInfo:
    """One queue as ``Queue.queues()``, ``queuetop queues`` and the TUI's queues view show it.

    ``pending`` and ``running`` count chunks; ``completed`` and ``failed``
    count jobs that ended in the last hour (``failed`` includes partial
    ones). ``next_start_at`` is when a rate-limited queue may next start a
    chunk (None: at once, or no rate).
    """

    name: str
    pending: int
    running: int
    completed: int
    failed: int
    limit: int | None
    local_limit: int | None
    rate: Rate | None
    paused: bool
    paused_at: float | None
    paused_by: str | None
    next_start_at: float | None

    @property
    def held(self) -> bool:
        """Claimed under its row's lock: limited, rate-limited or paused."""
        return self.paused or self.limit is not None or self.local_limit is not None or self.rate is not None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["rate"] = None if self.rate is None else str(self.rate)
        return out
