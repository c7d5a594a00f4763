"""Snapshots of every TUI screen on a fixture database built by code.

The database comes from tests/tui_fixtures.py (frozen clock, fixed ids); the
app runs with the same frozen clock, no workers, no animation, at 160x50 (and the
main screens at 80x24 and 120x40).
Each scene (tests/tui_app.py, shared with screenshots/make.py) drives the app
and waits with ``app.settle()`` (pending loads and one refresh cycle), never
with a sleep.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_app import SCENES, db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import SIZE


@pytest.mark.parametrize("scene", list(SCENES))
def test_screen(scene: str, db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=SCENES[scene])


# The main screens on smaller terminals: 80x24 (one pane at a time) and 120x40 (Jobs and one more).
SMALL_SCENES = ("dashboard", "job_detail", "chunk_detail", "session_detail", "queues", "schedules")


def test_alert_detail_at_80x24(db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=SCENES["alert_detail"])


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("scene", SMALL_SCENES)
def test_screen_small(scene: str, size: tuple[int, int], db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=SCENES[scene])
