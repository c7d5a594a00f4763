"""The layout's promises: no import cycle, arrows one way, the TUI on the API only, small modules."""

from __future__ import annotations

import pytest

from .imports import LAYERS, REPO, find_cycle, graph, layer_of, modules

MAX_LINES = 600


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_cycle_finder_finds_one() -> None:
    """The check above can fail: a made-up graph with a circle is caught."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_layers_only_import_downward() -> None:
    upward = []
    for module, targets in graph().items():
        rank = layer_of(module)
        for target in targets:
            target_rank = layer_of(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                upward.append(f"{module} ({LAYERS[rank][0]}) imports {target} ({LAYERS[target_rank][0]})")
    assert upward == []


def test_the_tui_imports_only_the_engine_api_and_model() -> None:
    allowed = ("queuetop.engine.api", "queuetop.engine.model")
    reaching = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items() if module.startswith("queuetop.tui")
        for target in targets
        if target.startswith("queuetop.") and not target.startswith("queuetop.tui")
        and not any(target == a or target.startswith(a + ".") for a in allowed)
    )
    assert reaching == []


@pytest.mark.parametrize("word", ["sqlite3", "aiosqlite", "psycopg", ".db.", ".conn", "SELECT ", "type: ignore"])
def test_the_tui_holds_no_sql_driver_or_database_handle(word: str) -> None:
    offenders = [str(path.relative_to(REPO)) for name, path in modules().items()
                 if name.startswith("queuetop.tui") and word in path.read_text("utf-8")]
    assert offenders == []


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {str(path.relative_to(REPO)): len(path.read_text("utf-8").splitlines()) for path in modules().values()}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_no_module_silences_the_type_checker() -> None:
    """A ``type: ignore`` hides an untyped object instead of typing it: none anywhere."""
    marker = "type: " + "ignore"  # spelled apart so this file does not match itself
    offenders = [str(path.relative_to(REPO)) for path in modules().values() if marker in path.read_text("utf-8")]
    assert offenders == []
