"""The ``queuetop`` command: a thin layer over :class:`queuetop.engine.api.Queue`.

Every command takes ``--db`` and ``--config``. Bad input gets one line on
stderr and exit status 2, never a traceback. With no command, ``queuetop``
opens the TUI; ``queuetop --engine-only`` runs the engine headless. This
module imports nothing from Textual: the TUI is imported only when opened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuetop.engine import config as config_module
from queuetop.engine.model.display import ago, clip, duration, next_run, printable, table, timestamp
from queuetop.engine.model.exceptions import QueuetopError, UsageError
from queuetop import cli_args, cli_hints, cli_signals

# A command imports the engine when it runs, and only what it needs (the runner, workers, schedules and the
# event store stay out of `queuetop jobs`): scripts call this in loops, and every import is paid on every call.
if TYPE_CHECKING:
    from queuetop.engine.api import Queue
    from queuetop.engine.model.results import SubmitResult

log = logging.getLogger("queuetop.engine")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


async def cmd_submit(queue: Queue, args: argparse.Namespace) -> int:
    chunks = _read_chunks(args.chunks) if args.chunks is not None else None
    result = await queue.submit(
        args.intent, chunks=chunks, date_range=args.date_range, chunk_days=args.chunk_days, params=args.params,
        dedupe_key=args.dedupe_key, max_retries=args.max_retries, priority=args.priority, timeout=args.timeout,
        on_finalize=args.on_finalize, max_chunks=args.max_chunks, queue=args.queue)
    if args.json:
        _print_json({"job_id": result.job_id, "created": result.created})
    else:
        print(result.job_id)
        if not result.created:  # its --dedupe-key matched (--json says "created": false)
            print(f"queuetop: job {result.job_id} is unfinished with that dedupe key: nothing submitted", file=sys.stderr)
    await cli_hints.warn_unrunnable(queue, {args.intent} if result.created else set())
    return 0


async def cmd_submit_many(queue: Queue, args: argparse.Namespace) -> int:
    items, lines = [], []
    for number, line in enumerate(_read_text(args.file, "jobs file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{args.file} line {number}: invalid JSON: {exc.msg} at column {exc.colno}") from None
        lines.append(number)
        if number % 2000 == 0:
            await asyncio.sleep(0)  # a Ctrl+C (the task's cancel) lands here, while the file is read
    written: list[int] = []  # job ids of the batches committed so far

    def committed(batch: list[SubmitResult]) -> None:
        written.extend(r.job_id for r in batch)

    try:
        results = await queue.submit_many(items, on_batch=committed)
    except asyncio.CancelledError:
        # Ctrl+C between or inside batches: a batch being written commits or rolls back whole; on_batch
        # was told of every one that committed. Say which lines those were, or a second run would repeat them.
        if not written:
            sys.stderr.write(f"queuetop: interrupted: nothing from {args.file} was submitted\n")
        elif len(written) < len(lines):
            sys.stderr.write(f"queuetop: interrupted: lines {lines[0]}-{lines[len(written) - 1]} of {args.file} "
                             f"were submitted (jobs {min(written)}-{max(written)}), lines from "
                             f"{lines[len(written)]} on were not\n")
        raise
    except UsageError as exc:
        # "item N: ..." from the API: say which line of the file that was
        text = str(exc)
        if text.startswith("item "):
            position, _, rest = text[5:].partition(": ")
            if position.isdigit():
                text = f"{args.file} line {lines[int(position) - 1]}: {rest}"
        raise UsageError(text) from None
    if args.json:
        _print_json([{"job_id": r.job_id, "created": r.created} for r in results])
    else:
        made = sum(r.created for r in results)
        print(f"{made} job(s) made" + (f", {len(results) - made} matched an unfinished job by dedupe key"
                                         if made != len(results) else ""))
    await cli_hints.warn_unrunnable(queue, {item.get("intent") for item in items if isinstance(item, dict)})
    return 0


def _read_text(path: str, what: str) -> str:
    """A UTF-8 file (``-``: stdin) as text, or a one-line UsageError."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None


def _read_chunks(path: str) -> list[Any]:
    text = _read_text(path, "chunks file")
    try:
        chunks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"chunks file {path}: invalid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(chunks, list):
        raise UsageError(f"chunks file {path}: expected a JSON list of objects")
    return chunks


async def cmd_jobs(queue: Queue, args: argparse.Namespace) -> int:
    where = " ".join(part for part in (args.where, args.status and f"state:{args.status}") if part)
    found = await queue.find_jobs(where, sort=args.sort, limit=args.limit)
    jobs = found.jobs
    waiting = await queue.unrunnable_intents()
    if args.json:
        _print_json([{**job.as_dict(), "waiting_for_handler": job.intent in waiting and not job.status.finished}
                     for job in jobs])
        return 0
    now = queue.clock.now()
    print(table(["ID", "INTENT", "STATUS", "DONE", "FAILED", "TOTAL", "LOGS", "AGE"], [
        [j.id, j.intent, j.status.value + (" (waiting)" if j.intent in waiting and not j.status.finished else ""),
         j.chunks_completed, j.chunks_failed, j.chunks_total, j.log_count, ago(now - j.created_at)] for j in jobs]))
    if args.where:
        print(f"{found.matched:,}{'' if found.exact else '+'} of {found.total:,} jobs match {found.query}"
              + (f" (the first {len(jobs):,} shown)" if found.matched > len(jobs) else ""))
    for intent, count in waiting.items():
        print(f"waiting: no worker can run intent {intent} ({count} job{'s' if count != 1 else ''})")
    if not waiting:
        await cli_hints.say_if_no_engine(queue)
    return 0


async def cmd_chunks(queue: Queue, args: argparse.Namespace) -> int:
    chunks = await queue.chunks(args.job)
    attempts = await queue.attempts(args.job)
    if args.json:
        by_chunk: dict[int, list[dict[str, Any]]] = {}
        for attempt in attempts:
            by_chunk.setdefault(attempt.chunk_index, []).append(dict(attempt.__dict__))
        _print_json([{**c.as_dict(), "attempts": by_chunk.get(c.chunk_index, [])} for c in chunks])
        return 0
    print(table(["#", "PARAMS", "STATUS", "ATTEMPT", "WORKER", "DURATION", "LAST ERROR"], [
        [c.chunk_index, clip(json.dumps(c.params), 40), c.status.value, c.attempt, c.worker_id,
         duration(c.finished_at - c.claimed_at) if c.finished_at and c.claimed_at else None,
         clip(c.last_error, 60)] for c in chunks]))
    if attempts:
        print("\nFailed attempts:")
        print(table(["#", "ATTEMPT", "OUTCOME", "AT", "WORKER", "ERROR"], [
            [a.chunk_index, a.attempt, a.outcome, timestamp(a.ended_at), a.worker_id, a.error] for a in attempts]))
    return 0


async def cmd_logs(queue: Queue, args: argparse.Namespace) -> int:
    await queue.job(args.job)
    lines = await queue.job_logs(args.job, limit=args.limit)
    if args.json:
        _print_json([line.as_dict() for line in lines])
    else:
        for line in lines:
            print(f"{timestamp(line.ts)} {printable(line.level):<7} {printable(line.message)}")
    return 0


async def cmd_workers(queue: Queue, args: argparse.Namespace) -> int:
    workers = await queue.workers()
    now = queue.clock.now()
    if args.json:
        _print_json([{**w.as_dict(), "shown_state": w.shown_state(now, queue.stale_display_after).value}
                     for w in workers])
        return 0
    print(table(["ID", "STATE", "HEARTBEAT", "DONE", "FAILED", "CURRENT", "ABANDONED"], [
        [w.id, w.shown_state(now, queue.stale_display_after).value, ago(now - w.last_heartbeat) + " ago",
         w.chunks_done, w.chunks_failed, w.current,
         f"{w.abandoned} abandoned thread{'s' if w.abandoned != 1 else ''}" if w.abandoned else None]
        for w in workers]))
    return 0


async def cmd_circuits(queue: Queue, args: argparse.Namespace) -> int:
    circuits = await queue.circuits()
    if args.json:
        _print_json([c.as_dict() for c in circuits])
        return 0
    now = queue.clock.now()
    print(table(["HOST", "STATE", "FAILURES", "OPENED", "PROBE AT", "COOLDOWN", "OPENS", "LAST ERROR"], [
        [c.host, c.state.value, c.failures,
         ago(now - c.opened_at) + " ago" if c.opened_at else None,
         timestamp(c.half_open_at) if c.state.value == "open" else None, duration(c.cooldown), c.opens,
         (c.last_error or "")[:60]] for c in circuits]))
    return 0


async def cmd_alerts(queue: Queue, args: argparse.Namespace) -> int:
    found = await queue.alerts(status=args.status, limit=args.limit)
    if args.json:
        _print_json([a.as_dict() for a in found])
        return 0
    now = queue.clock.now()
    print(table(["ID", "KIND", "STATUS", "TRIES", "RAISED", "REPEATS", "TO", "SUMMARY", "LAST ERROR"], [
        [a.id, a.kind.value, a.status.value, a.attempts, ago(now - a.created_at) + " ago", a.repeats or None,
         " + ".join(filter(None, [a.webhook, a.submit and f"submit {a.submit}"])), a.summary[:60],
         (a.last_error or "")[:50]] for a in found]))
    return 0


async def cmd_schedules(queue: Queue, args: argparse.Namespace) -> int:
    schedules = await queue.schedules()
    if args.json:
        _print_json([s.as_dict() for s in schedules])
        return 0
    now, grace = queue.clock.now(), queue.settings.misfire_grace
    print(table(["NAME", "CRON", "TZ", "INTENT", "ACTIVE", "NEXT RUN (UTC)", "LAST RUN (UTC)", "LAST", "MISSED",
                 "ERROR"], [
        [s.name, s.cron, s.tz, s.intent, "yes" if s.active else "no", next_run(s.next_run_at, now, grace),
         timestamp(s.last_run_at), s.last_status, s.missed or None, s.last_error] for s in schedules]))
    return 0


async def _schedule_next(queue: Queue, args: argparse.Namespace) -> int:
    from queuetop.engine.model.cron import local_text, utc_text, zone as cron_zone

    schedule = await queue.schedule(args.name)
    after = args.after
    if after is not None:
        if after.tzinfo is None:  # a local time of the schedule's zone
            after = after.replace(tzinfo=cron_zone(schedule.tz))
        after = after.timestamp()
    times = await queue.schedule_next(args.name, count=args.count, after=after)
    if args.json:
        _print_json({"schedule": schedule.name, "cron": schedule.cron, "tz": schedule.tz,
                     "next": [{"at": t, "local": local_text(t, schedule.tz), "utc": utc_text(t)} for t in times]})
        return 0
    print(f"{schedule.name}: {schedule.cron} in {schedule.tz}")
    print(table(["#", f"LOCAL ({schedule.tz})", "UTC"],
                [[n, local_text(t, schedule.tz), utc_text(t)] for n, t in enumerate(times, 1)]))
    return 0


async def cmd_schedule(queue: Queue, args: argparse.Namespace) -> int:
    if args.action == "add":
        if not args.cron or not args.intent:
            raise UsageError("schedule add needs NAME CRON INTENT")
        result: Any = await queue.add_schedule(args.name, args.cron, args.intent, args.params,
                                               replace=args.replace, tz=args.tz, catch_up=args.catch_up,
                                               max_catch_up=args.max_catch_up, queue=args.queue)
    elif args.action in ("enable", "disable"):
        result = await queue.set_schedule_active(args.name, args.action == "enable")
    elif args.action == "run":
        result = await queue.run_schedule_now(args.name)
    elif args.action == "next":
        return await _schedule_next(queue, args)
    elif args.action == "runs":
        runs = await queue.schedule_runs(args.name)
        if args.json:
            _print_json([r.as_dict() for r in runs])
        else:
            print(table(["SCHEDULED FOR", "STATUS", "JOB", "ERROR"],
                        [[timestamp(r.scheduled_for), r.status, r.job_id, r.error] for r in runs]))
        return 0
    else:
        await queue.remove_schedule(args.name)
        print(f"schedule {args.name} removed")
        return 0
    if args.json:
        _print_json(result.as_dict())
    else:
        print(f"schedule {args.name}: {args.action} ok")
    return 0


async def cmd_action(queue: Queue, args: argparse.Namespace) -> int:
    if args.command == "retry":
        result = await queue.retry(args.job, args.chunk)
    elif args.command == "cancel":
        result = await queue.cancel(args.job, args.chunk)
    else:
        if args.chunk is not None:
            raise UsageError("finalize ends a whole job; use 'cancel JOB --chunk N' to end one chunk")
        result = await queue.finalize(args.job)
    if args.json:
        _print_json(result.as_dict())
    else:
        print(result.message)
    return 0


async def cmd_pause(queue: Queue, args: argparse.Namespace) -> int:
    result = await (queue.pause(by="cli", queue=args.queue, new=args.new) if args.command == "pause"
                    else queue.resume(queue=args.queue))
    if args.json:
        _print_json(result.as_dict())
    else:
        print(result.message)
    return 0


async def cmd_queues(queue: Queue, args: argparse.Namespace) -> int:
    from queuetop.engine.model.display import QUEUE_HEADERS, queue_columns

    found = await queue.queues()
    if args.json:
        _print_json([info.as_dict() for info in found])
    else:
        now = queue.clock.now()
        print(table(QUEUE_HEADERS, [queue_columns(info, now) for info in found]))
    return 0


def _event_line(event: Any) -> list[object]:
    data = event.data if isinstance(event.data, dict) else {}
    parts = []
    if data.get("fromAgent") or data.get("toAgent"):
        parts.append(f"{data.get('fromAgent') or '?'}->{data.get('toAgent') or '?'}")
    text = data.get("message") or data.get("replyPreview") or data.get("outcome") or ""
    parts.append(" ".join(str(text).split()))
    return [event.id, timestamp(event.ts), event.type, event.agent_id, event.session_id, event.category,
            " ".join(parts)[:70]]


_EVENT_HEADERS = ["ID", "TIME", "TYPE", "AGENT", "SESSION", "CATEGORY", "SUMMARY"]


async def cmd_events(queue: Queue, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.stats:
        stats = await queue.event_files()
        if args.json:
            _print_json([s.as_dict() for s in stats])
            return 0
        print(table(["FILE", "STATE", "OFFSET", "SIZE", "LINES", "EVENTS", "DUPLICATES", "BAD", "LAST BAD",
                     "RESTARTS", "READ"], [
            [s.path, s.state, s.read_offset, s.size_seen, s.lines_read, s.events_stored, s.duplicates, s.bad_lines,
             f"{s.last_bad_reason} at byte {s.last_bad_offset}" if s.last_bad_reason else None,
             f"{s.generation} ({s.last_reset_reason})" if s.generation else 0,
             ago(queue.clock.now() - s.last_read_at) + " ago" if s.last_read_at else None] for s in stats]))
        for s in stats:
            if s.bad_by_reason:
                print(f"{s.path}: bad lines " + ", ".join(f"{n} {reason}" for reason, n in sorted(s.bad_by_reason.items())))
        return 0
    if args.since is not None:
        after = args.since
    elif args.session is not None:
        newest = await queue.session_events(args.session, limit=args.limit)
        after = newest[-1].id - 1 if newest else await queue.latest_event_id()
    else:
        after = max(0, await queue.latest_event_id() - args.limit)
    first = True
    while True:
        batch = await queue.events_since(after, limit=args.limit if not args.follow else 500,
                                         session_id=args.session)
        if args.json and not args.follow:
            _print_json([e.as_dict() for e in batch])
        elif args.json:
            for e in batch:
                print(json.dumps(e.as_dict(), default=str), flush=True)
        elif batch or first:
            text = table(_EVENT_HEADERS, [_event_line(e) for e in batch])
            print(text if first else "\n".join(text.splitlines()[1:]), flush=True)
        first = False
        if batch:
            after = batch[-1].id
        if not args.follow:
            return 0
        if len(batch) < 500:
            await asyncio.sleep(0.25)


async def cmd_sessions(queue: Queue, args: argparse.Namespace) -> int:
    found = await queue.sessions(status=args.status, search=args.search, limit=args.limit)
    if args.json:
        _print_json([s.as_dict() for s in found])
        return 0
    now = queue.clock.now()
    print(table(["SESSION", "STATUS", "CATEGORY", "EVENTS", "THREADS", "AGENTS", "LAST EVENT", "OUTCOME", "LAST"], [
        [s.id, s.status.value, s.category, s.event_count, s.thread_count, ",".join(s.agents)[:40],
         s.last_event_type, s.last_outcome, ago(now - s.last_at) + " ago"] for s in found]))
    return 0


async def cmd_demo_events(queue: Queue | None, args: argparse.Namespace) -> int:
    """Writes a file only: no database is opened (or created) for it."""

    if args.count is not None and args.count < 0:
        raise UsageError("--count cannot be negative")
    from queuetop.engine.api import write_demo_events
    from queuetop.engine.model.clock import SystemClock

    stop = threading.Event()
    try:
        written = await asyncio.to_thread(write_demo_events, args.path, rate=args.rate, count=args.count,
                                          seed=args.seed, clock=SystemClock(), stop=stop)
    except OSError as exc:
        raise UsageError(f"cannot write {args.path}: {exc.strerror}") from None
    finally:
        stop.set()  # Ctrl-C cancels the await; this ends the writer thread too
    print(f"{written} events appended to {args.path}")
    return 0


async def run_engine(args: argparse.Namespace, cfg: config_module.Config, db_path: Path | str) -> int:
    from queuetop.engine.api import Queue, Runner, install_signal_handlers

    queue = await Queue.open(db_path, cfg, writes=True)
    try:
        if queue.handler_problems:
            # A headless engine that cannot run what it was configured for is
            # a deployment mistake: say so now, not when chunks fail.
            raise config_module.ConfigError(str(queue.handler_problems[0]) + (
                f" (and {len(queue.handler_problems) - 1} more)" if len(queue.handler_problems) > 1 else ""))
        stop = asyncio.Event()
        # Gone within grace + 5 s of SIGTERM, whatever the database does.
        install_signal_handlers(stop, deadline=cfg.engine.grace_period + 4.5)
        paths = list(args.events) or list(cfg.events.get("paths", []))
        await Runner(queue, workers=args.workers, concurrency=args.concurrency, event_paths=paths,
                     metrics_port=args.metrics_port or cfg.engine.metrics_port,
                     metrics_host=args.metrics_host or cfg.engine.metrics_host).run(stop)
    finally:
        await queue.close()
    return 0


# -- entry point -----------------------------------------------------------------


class _OneLineFormatter(logging.Formatter):
    """One line per event: a message's control characters (a handler's error) are escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("queuetop")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def _settings_overrides(args: argparse.Namespace, cfg: config_module.Config) -> config_module.Config:
    changes = {}
    if getattr(args, "workers", None):  # 0 (TUI: run none) is not a worker count to configure
        changes["workers"] = args.workers
    if getattr(args, "concurrency", None) is not None:
        changes["concurrency"] = args.concurrency
    return cfg.with_engine(**changes) if changes else cfg


async def _run_command(args: argparse.Namespace, cfg: config_module.Config, db_path: Path | str) -> int:
    if not args.needs_db:
        return await args.handler(None, args)
    from queuetop.engine.api import Queue

    queue = await Queue.open(db_path, cfg, create=not args.reads, writes=_writes(args))
    cli_signals.cancel_on_sigterm()
    try:
        return await args.handler(queue, args)
    finally:
        await queue.close()


def _leave_stuck_handlers(code: int) -> int:
    """Exit now if sync handlers are still running after the engine stopped.

    A sync handler that outlives the grace period cannot be killed: its
    chunk has been released, the log buffer flushed and the worker marked
    offline, but its thread is not a daemon, so the interpreter would wait
    for it at exit however long it takes, and a stopped engine would linger.
    """

    from queuetop.engine.api import HANDLER_THREAD_PREFIX

    deadline = time.monotonic() + 0.5  # idle pool threads take a moment to notice the shutdown
    stuck = [t for t in threading.enumerate() if t.name.startswith(HANDLER_THREAD_PREFIX)]
    for thread in stuck:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in stuck if t.is_alive()]
    if not stuck:
        return code
    log.warning("%d sync handler(s) still running after the grace period; exiting without waiting for them",
                len(stuck))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _writes(args: argparse.Namespace) -> bool:
    """Whether the command changes the queue (it needs a database it may write)."""
    if args.command == "schedule" and args.action in ("runs", "next"):
        return False
    return bool(args.command) and not args.reads


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flag combinations that would do something other than what they say."""
    cli_args.check_text(args)
    if args.read_only and _writes(args):
        raise UsageError(f"--read-only cannot be used with '{args.command}', which changes the queue")
    if args.demo and (args.command or args.engine_only):
        raise UsageError("--demo opens the TUI on a throwaway database; it cannot be combined with "
                         + (f"'{args.command}'" if args.command else "--engine-only"))
    if args.engine_only:
        if args.command:
            raise UsageError(f"--engine-only runs the engine; it cannot be combined with '{args.command}'")
        for flag, given in (("--read-only", args.read_only), ("--no-workers", args.no_workers),
                            ("--workers 0", args.workers == 0)):
            if given:
                raise UsageError(f"--engine-only runs workers; {flag} would leave it doing nothing")
    if (args.metrics_port is not None or args.metrics_host is not None) and not args.engine_only:
        raise UsageError("--metrics-port and --metrics-host are for --engine-only")
    if args.command and (args.no_workers or args.workers is not None or args.concurrency is not None
                         or args.events):
        raise UsageError(f"--workers, --no-workers, --concurrency and --events are for the TUI and "
                         f"--engine-only, not '{args.command}'")


def build_parser(argv: list[str] | None = None) -> cli_args.Parser:
    """The command line parser, each subcommand bound to its function here
    (with ``argv``: only the subcommand it names, see :func:`cli_args.build_parser`)."""
    return cli_args.build_parser(COMMANDS, argv)


# What each subcommand runs, by the name build_parser knows it under.
COMMANDS = {
    "cmd_action": cmd_action,
    "cmd_alerts": cmd_alerts,
    "cmd_chunks": cmd_chunks,
    "cmd_circuits": cmd_circuits,
    "cmd_demo_events": cmd_demo_events,
    "cmd_events": cmd_events,
    "cmd_jobs": cmd_jobs,
    "cmd_logs": cmd_logs,
    "cmd_pause": cmd_pause,
    "cmd_queues": cmd_queues,
    "cmd_schedule": cmd_schedule,
    "cmd_schedules": cmd_schedules,
    "cmd_sessions": cmd_sessions,
    "cmd_submit": cmd_submit,
    "cmd_submit_many": cmd_submit_many,
    "cmd_workers": cmd_workers,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``queuetop`` console script."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # `queuetop jobs | head`: the reader left; that is not an error. Point
        # stdout at /dev/null so the interpreter's final flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        _check_flags(args)
        config_path = getattr(args, "config", None)
        cfg = config_module.load(config_path, required=config_path is not None)
        cfg = _settings_overrides(args, cfg)
        db_path = config_module.resolve_db(getattr(args, "db", None))
        if args.command:
            return asyncio.run(_run_command(args, cfg, db_path))
        if args.engine_only:
            _setup_logging(args.verbose)
            return _leave_stuck_handlers(asyncio.run(run_engine(args, cfg, db_path)))
        from queuetop.tui.launch import launch  # Textual is imported only here

        return launch(args, cfg, db_path)
    except QueuetopError as exc:
        sys.stderr.write(f"queuetop: error: {exc}\n")
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:  # ctrl+c; SIGTERM to a command (cli_signals)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143


if __name__ == "__main__":
    raise SystemExit(main())
