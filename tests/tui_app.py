"""Making the TUI app on a fixture database, the same way for tests and screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from queuetop.engine.clock import FrozenClock
from queuetop.tui.app import QueuetopApp

from tui_fixtures import NOW, build, fixture_config

DB_NAME = "queuetop.db"  # relative: the header shows it, so it must not vary


def fixture_copy(cache: Path, workdir: Path) -> Path:
    """A fresh copy of the fixture database in ``workdir`` (built once into ``cache``)."""
    source = cache / "fixture.db"
    if not source.exists():
        build(source)
    target = workdir / DB_NAME
    shutil.copyfile(source, target)
    return target


def make_app(db: Path | str = DB_NAME, **kwargs: Any) -> QueuetopApp:
    """The app as a snapshot sees it: frozen clock, no engine, no animation, no blinking."""
    app = QueuetopApp(Path(db), fixture_config(), clock=FrozenClock(NOW), **kwargs)
    app.animation_level = "none"
    return app
