"""Demo handlers: what `queuetop --demo` and the benchmarks run."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from queuetop.engine.handlers.context import ChunkContext
from queuetop.engine.model.exceptions import PermanentError


async def noop(ctx: ChunkContext) -> None:
    """Do nothing (benchmarks)."""


def sync_noop(ctx: ChunkContext) -> None:
    """Do nothing, in a thread (benchmarks of sync handlers)."""


async def sleep(ctx: ChunkContext) -> dict[str, Any]:
    """Sleep ``params.seconds`` (chunk first, then job), checking for cancel."""
    seconds = float(ctx.params.get("seconds", ctx.job_params.get("seconds", 0.1)))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ctx.cancelled():
            return {"cancelled": True}
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return {"slept": seconds}


async def flaky(ctx: ChunkContext) -> dict[str, Any]:
    """Random duration; fails transiently or permanently at the job's rates.

    Job params: ``min``/``max`` seconds, ``transient`` and ``permanent`` rates
    (0..1), ``seed`` for repeatable demos.
    """
    p = ctx.job_params
    rng = random.Random(f"{p.get('seed', 0)}:{ctx.job_id}:{ctx.chunk_index}:{ctx.attempt}")
    duration = rng.uniform(float(p.get("min", 0.2)), float(p.get("max", 2.0)))
    ctx.log.info(f"chunk {ctx.chunk_index} attempt {ctx.attempt}: working {duration:.1f}s")
    await asyncio.sleep(duration)
    roll = rng.random()
    if roll < float(p.get("permanent", 0.05)):
        raise PermanentError(f"chunk {ctx.chunk_index}: upstream rejected the request (400)")
    if roll < float(p.get("permanent", 0.05)) + float(p.get("transient", 0.15)):
        raise TimeoutError(f"chunk {ctx.chunk_index}: upstream timed out")
    return {"rows": rng.randint(100, 5000)}


def log_lines(ctx: ChunkContext) -> int:
    """Write ``params.lines`` log lines (tests of the log buffer)."""
    lines = int(ctx.params.get("lines", ctx.job_params.get("lines", 10)))
    for n in range(lines):
        ctx.log.info(f"line {n}")
    hold = float(ctx.job_params.get("hold", 0))
    if hold:
        time.sleep(hold)
    return lines


def report(ctx: ChunkContext) -> dict[str, Any]:
    """An on-finalize target: logs the outcome it was given."""
    ctx.log.info(f"job {ctx.job_params.get('job_id')} ended {ctx.job_params.get('status')}")
    return dict(ctx.job_params)
