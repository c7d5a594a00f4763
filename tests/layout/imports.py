"""Reading queuetop's import graph from its source files (no import is run)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where each top-level package of queuetop lives in the repository.
ROOTS = {"queuetop.engine": REPO / "engine", "queuetop.tui": REPO / "tui", "queuetop": REPO / "front"}


def modules() -> dict[str, Path]:
    """Every queuetop module by dotted name."""
    found: dict[str, Path] = {}
    for prefix, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The queuetop modules ``module`` imports anywhere in its text: top level,
    inside functions and under ``if TYPE_CHECKING`` alike."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import module` names a module; `from module import name` does not.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "queuetop":
                continue
            target = _resolve(name, known)
            if target is not None and target != module:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


# The layers, bottom first. A module may import its own layer or any below it, never one above.
LAYERS = [
    ("model", ("queuetop.engine.model", "queuetop.engine.config")),
    ("store", ("queuetop.engine.store",)),
    ("events and handlers", ("queuetop.engine.events", "queuetop.engine.handlers")),
    ("services", ("queuetop.engine.services",)),
    ("api", ("queuetop.engine.api",)),
    ("cli and tui", ("queuetop.entry", "queuetop.cli", "queuetop.cli_args", "queuetop.cli_hints",
                      "queuetop.cli_signals", "queuetop.tui")),
    ("package", ("queuetop.client", "queuetop")),
]


def layer_of(module: str) -> int | None:
    if module == "queuetop.engine":
        return None  # the engine package's __init__ is a docstring
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix == "queuetop" and module != "queuetop":
                continue
            if module == prefix or module.startswith(prefix + "."):
                return rank
    raise AssertionError(f"{module} belongs to no layer")
