"""Write an SVG of every TUI screen into screenshots/, from the snapshot tests' fixtures.

    python screenshots/make.py

Each screen is reached by the same scene the snapshot tests use
(tests/tui_app.py) on the same fixture database (tests/tui_fixtures.py), at
160x50 with a frozen clock, so the pictures match the snapshots.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from tui_app import SCENES, fixture_copy, make_app  # noqa: E402
from tui_fixtures import SIZE  # noqa: E402


async def shoot(name: str, out: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await SCENES[name](pilot)
        await pilot.pause()
        svg = app.export_screenshot(title=f"queuetop · {name.replace('_', ' ')}")
    out.write_text(svg, encoding="utf-8")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cwd = os.getcwd()
        os.chdir(work)  # the header shows the database path: keep it short and fixed
        try:
            for name in SCENES:
                (work / "cache").mkdir(exist_ok=True)
                fixture_copy(work / "cache", work)
                target = HERE / f"{name}.svg"
                asyncio.run(shoot(name, target))
                print(target.relative_to(HERE.parent))
        finally:
            os.chdir(cwd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
