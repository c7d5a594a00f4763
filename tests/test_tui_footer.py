"""The footer at every width: the keys that fit, each whole, beside the palette key; ``q`` and ``?`` always.

At 80 columns the job detail footer read ``… R Retry all  c Can▏^p palette``:
Textual's footer lays its keys out in one row and the palette key, docked
right, covered whatever did not fit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.widgets._footer import FooterKey

from queuetop.tui.widgets.key_footer import KeyFooter

from tui_app import SCENES, db, fixture_cache, make_app  # noqa: F401 (fixtures)


def _keys(footer: KeyFooter) -> tuple[list[FooterKey], FooterKey | None]:
    keys = list(footer.query(FooterKey))
    palette = next((key for key in keys if key.has_class("-command-palette")), None)
    return [key for key in keys if key is not palette], palette


@pytest.mark.parametrize("scene", ["dashboard", "job_detail", "chunk_detail", "worker_detail", "schedules", "queues"])
@pytest.mark.parametrize("size", [(60, 24), (80, 24), (160, 50)], ids=["60x24", "80x24", "160x50"])
async def test_every_key_in_the_footer_is_whole_and_quit_and_help_lead(db: Path, scene: str,
                                                                       size: tuple[int, int]) -> None:
    app = make_app(db)
    async with app.run_test(size=size) as pilot:
        await SCENES[scene](pilot)
        await pilot.pause()
        footer = app.screen.query_one(KeyFooter)
        keys, palette = _keys(footer)
        assert palette is not None
        assert [key.description for key in keys[:2]] == ["Quit", "Help"]
        for key in keys:  # whole, on screen, clear of the palette key
            assert key.region.width == key.get_content_width(key.region.size, key.region.size), key.description
            assert key.region.right <= palette.region.x, (key.description, key.region, palette.region)
        # Left out are the last keys, whole, and only when the first of them would not fit.
        order = [binding for _, binding, _, _ in app.screen.active_bindings.values()
                 if binding.show and binding.key != palette.key]
        descriptions = list(dict.fromkeys(binding.description for binding in order))
        shown = [key.description for key in keys]
        assert set(shown) <= set(descriptions)
        left_out = [binding for binding in order if binding.description not in shown]
        if left_out:
            room = palette.region.x - keys[-1].region.right
            first = left_out[0]
            assert room < cell_len(app.get_key_display(first)) + cell_len(first.description) + 3, (room, first)
        if scene == "job_detail" and size[0] >= 160:
            assert not left_out


async def test_a_resize_brings_back_the_keys_that_fit_and_leaves_out_those_that_do_not(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=(160, 50)) as pilot:
        await SCENES["chunk_detail"](pilot)  # its keys do not change with the width (job detail's `l` does)
        wide = [key.description for key in _keys(app.screen.query_one(KeyFooter))[0]]
        await pilot.resize_terminal(70, 24)
        await pilot.pause()
        await pilot.pause()
        narrow = [key.description for key in _keys(app.screen.query_one(KeyFooter))[0]]
        assert narrow == wide[:len(narrow)] and 2 <= len(narrow) < len(wide)
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        await pilot.pause()
        assert [key.description for key in _keys(app.screen.query_one(KeyFooter))[0]] == wide
