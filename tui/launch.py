"""Opening the TUI from the command line: ``queuetop`` with no command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from queuetop.engine.api import Config, Queue


async def _check_database(db_path: Path | str, config: Config, *, read_only: bool) -> None:
    """Open and close the database before the screen takes over the terminal.

    A file that is not queuetop's, a folder that cannot be created, a file
    only ``--read-only`` can open or a PostgreSQL server that does not answer
    is then one line on stderr. ``--read-only`` writes nothing, so it creates
    no database either: a missing file is ``no database at PATH``.
    """
    queue = await Queue.open(db_path, config, create=not read_only, writes=not read_only)
    await queue.close()


def quiet_engine_logs() -> None:
    """Engine log lines must not be written over the screen; task logs are in the database."""
    logger = logging.getLogger("queuetop")
    logger.handlers[:] = [logging.NullHandler()]
    logger.propagate = False


def launch(args: argparse.Namespace, config: Config, db_path: Path | str) -> int:
    """Run the Textual app; returns the process exit status.

    The engine (workers, schedules, tailer) runs inside the app's event loop
    unless ``--no-workers``, ``--workers 0`` or ``--read-only`` is given, or
    (without ``--workers N``) other processes' workers are already online.
    ``--demo`` uses a temporary database, demo jobs, in-process workers and a
    demo event file. A start-up error is one line on stderr and status 2.
    """
    from .app import QueuetopApp
    from .demo import Demo, DemoWorkspace

    quiet_engine_logs()
    demo = workspace = None
    event_paths = list(args.events) or list(config.events.get("paths", []))
    engine = not args.no_workers and not args.read_only and args.workers != 0
    workers = args.workers or None
    if args.demo:
        workspace = DemoWorkspace()
        config = workspace.config(config)
        db_path = workspace.db_path
        event_paths = [str(workspace.events_path)]
        demo = Demo(workspace)
        engine = not args.no_workers
        workers = workers or 2
    else:
        asyncio.run(_check_database(db_path, config, read_only=args.read_only))
    app = QueuetopApp(db_path, config, read_only=args.read_only, engine=engine, workers=workers,
                      concurrency=args.concurrency, event_paths=event_paths, demo=demo)
    try:
        status = app.run()
    finally:
        if workspace is not None:
            workspace.remove()
    if app.startup_error is not None:
        sys.stderr.write(f"queuetop: error: {app.startup_error}\n")
        return 2
    return status or 0
