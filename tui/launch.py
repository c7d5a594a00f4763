"""Opening the TUI from the command line: ``queuetop`` with no command."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from queuetop.engine.api import Config


def quiet_engine_logs() -> None:
    """Engine log lines must not be written over the screen; task logs are in the database."""
    logger = logging.getLogger("queuetop")
    logger.handlers[:] = [logging.NullHandler()]
    logger.propagate = False


def launch(args: argparse.Namespace, config: Config, db_path: Path) -> int:
    """Run the Textual app; returns the process exit status.

    The engine (workers, schedules, tailer) runs inside the app's event loop
    unless ``--no-workers`` or ``--read-only`` is given. ``--demo`` uses a
    temporary database, demo jobs, in-process workers and a demo event file.
    """
    from .app import QueuetopApp
    from .demo import Demo, DemoWorkspace

    quiet_engine_logs()
    demo = workspace = None
    event_paths = list(args.events) or list(config.events.get("paths", []))
    engine = not args.no_workers and not args.read_only
    workers = args.workers
    if args.demo:
        workspace = DemoWorkspace()
        config = workspace.config(config)
        db_path = workspace.db_path
        event_paths = [str(workspace.events_path)]
        demo = Demo(workspace)
        engine = not args.no_workers
        workers = workers or 2
    app = QueuetopApp(db_path, config, read_only=args.read_only, engine=engine, workers=workers,
                      concurrency=args.concurrency, event_paths=event_paths, demo=demo)
    try:
        status = app.run()
    finally:
        if workspace is not None:
            workspace.remove()
    return status or 0
