"""queuetop: a local job-queue monitor with its queue engine inside.

The names most code needs are importable from here::

    from queuetop import Queue              # the async API (engine, CLI and TUI use it)
    import queuetop; queuetop.connect(db)   # a synchronous client for sync code

They load on first use, so importing a submodule (a worker process, the
CLI's ``--help``) does not pay for the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module that defines it
_EXPORTS = {
    "Queue": "queuetop.engine.api",
    "Config": "queuetop.engine.api",
    "SubmitResult": "queuetop.engine.api",
    "Totals": "queuetop.engine.api",
    "LogLine": "queuetop.engine.api",
    "Job": "queuetop.engine.model.records",
    "Chunk": "queuetop.engine.model.records",
    "Attempt": "queuetop.engine.model.records",
    "Schedule": "queuetop.engine.model.records",
    "ScheduleRun": "queuetop.engine.model.records",
    "WorkerInfo": "queuetop.engine.model.records",
    "JobState": "queuetop.engine.model.states",
    "ChunkState": "queuetop.engine.model.states",
    "WorkerState": "queuetop.engine.model.states",
    "SessionState": "queuetop.engine.model.states",
    "ChunkContext": "queuetop.engine.handlers.context",
    "Registry": "queuetop.engine.handlers.registry",
    "PermanentError": "queuetop.engine.model.exceptions",
    "RetryAt": "queuetop.engine.model.exceptions",
    "QueuetopError": "queuetop.engine.model.exceptions",
    "NotFound": "queuetop.engine.model.exceptions",
    "UsageError": "queuetop.engine.model.exceptions",
    "ActionRefused": "queuetop.engine.model.exceptions",
    "Client": "queuetop.client",
    "connect": "queuetop.client",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from queuetop.client import Client, connect
    from queuetop.engine.api import Config, LogLine, Queue, SubmitResult, Totals
    from queuetop.engine.handlers.context import ChunkContext
    from queuetop.engine.handlers.registry import Registry
    from queuetop.engine.model.exceptions import (ActionRefused, NotFound, PermanentError, QueuetopError, RetryAt,
                                                  UsageError)
    from queuetop.engine.model.records import Attempt, Chunk, Job, Schedule, ScheduleRun, WorkerInfo
    from queuetop.engine.model.states import ChunkState, JobState, SessionState, WorkerState


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'queuetop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
