"""Handler registry: intent key -> handler, imported the first time it runs.

Only keys in the registry run. A target is a ``"package.module:function"``
string from the config (or a callable given by the decorator); the module is
imported when its intent first runs, never at start-up, and never from a
string that came from job data: job data only ever names a *key*.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from queuetop.engine.model.exceptions import ConfigError, UnknownIntent
from queuetop.engine.model.queues import HANDLER_TARGET as _TARGET, INTENT_KEY as _KEY, is_intent_key  # noqa: F401 (the rules live there)

log = logging.getLogger("queuetop.engine")


# Handlers that ship with queuetop.
BUILTIN: dict[str, str] = {
    "demo.noop": "queuetop.engine.handlers.demo:noop",
    "demo.sync_noop": "queuetop.engine.handlers.demo:sync_noop",
    "demo.sleep": "queuetop.engine.handlers.demo:sleep",
    "demo.flaky": "queuetop.engine.handlers.demo:flaky",
    "demo.log": "queuetop.engine.handlers.demo:log_lines",
    "demo.report": "queuetop.engine.handlers.demo:report",
}


class HandlerUnavailable(Exception):
    """A registered handler's module exists but failed to import (or lacks the function).

    Not the chunk's fault: the worker gives the chunk back without spending
    an attempt and stops claiming the intent, so a process that cannot run
    it never burns another process's retries.
    """


@dataclass(frozen=True)
class Problem:
    """Why a configured handler target cannot run in this process."""

    key: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"handler {self.key!r} = {self.target!r}: {self.reason}"


def add_search_path(folders: Iterable[str]) -> None:
    """Make handler modules in ``folders`` importable (the config's folder first).

    They go after the interpreter's own entries, so a project file named like
    a standard module (``queue.py``) never shadows it.
    """
    for folder in folders:
        if folder not in sys.path:
            sys.path.append(folder)


def find_module(name: str, folders: Iterable[str] = ()) -> str | None:
    """Why module ``name`` cannot be found, or None when it can, without running it.

    ``importlib.util.find_spec`` imports a dotted name's parent packages; a
    parent that is not imported yet is looked up on its package's path
    instead, so no user code runs before the intent first runs. A project
    module in ``folders`` that a module of the same name earlier on the path
    hides (``calendar.py``) is named too.
    """
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
        hidden = _hidden(parts[0], spec, folders)
        if hidden is not None:
            origin = spec.origin if spec is not None and spec.has_location else "built in"
            return f"module {parts[0]!r} is Python's own ({origin}), which hides {hidden}: rename that file"
        for depth in range(1, len(parts)):
            if spec is None:
                break
            prefix = ".".join(parts[: depth + 1])
            if ".".join(parts[:depth]) in sys.modules:
                spec = importlib.util.find_spec(prefix)
            elif spec.submodule_search_locations is None:
                return f"{'.'.join(parts[:depth])!r} is a module, not a package"
            else:
                spec = importlib.machinery.PathFinder.find_spec(prefix, list(spec.submodule_search_locations))
    except (ImportError, ValueError) as exc:
        return f"module {name!r} cannot be found: {exc}"
    if spec is None:
        return f"no module named {name!r} (looked in the config's folder, handler_path and sys.path)"
    return None


def _hidden(top: str, spec: Any, folders: Iterable[str]) -> str | None:
    """The project file or package named ``top`` in ``folders`` when ``spec``, found first, is not one."""
    if spec is None:
        return None
    folders = list(folders)
    origin = os.path.realpath(spec.origin) if spec.has_location and spec.origin else ""
    if any(origin.startswith(os.path.join(os.path.realpath(folder), "")) for folder in folders):
        return None
    for folder in folders:
        for candidate in (os.path.join(folder, f"{top}.py"), os.path.join(folder, top, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate.removesuffix(f"{os.sep}__init__.py")
    return None


@dataclass(frozen=True)
class Handler:
    """A resolved handler."""

    key: str
    function: Callable[..., Any]
    is_async: bool


class Registry:
    """Maps intent keys to handlers."""

    def __init__(self, targets: Mapping[str, str] | None = None, *, builtins: bool = True) -> None:
        self._targets: dict[str, str | Callable[..., Any]] = {}
        self._resolved: dict[str, Handler] = {}
        self._unavailable: dict[str, str] = {}  # key -> why this process cannot run it
        if builtins:
            self.update(BUILTIN)
        if targets:
            self.update(targets)

    def update(self, targets: Mapping[str, str]) -> None:
        """Register ``key = "module:function"`` pairs (from ``[handlers]``)."""
        for key, target in targets.items():
            self.add(key, target)

    def add(self, key: str, target: str | Callable[..., Any]) -> None:
        """Register one handler under ``key``."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ConfigError(f"handler key {key!r} is not a valid intent key")
        if isinstance(target, str):
            if not _TARGET.fullmatch(target):
                raise ConfigError(f"handler {key!r}: target {target!r} is not 'package.module:function'")
        elif not callable(target):
            raise ConfigError(f"handler {key!r}: target must be 'module:function' or a callable")
        self._targets[key] = target
        self._resolved.pop(key, None)
        self._unavailable.pop(key, None)

    def handler(self, key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@registry.handler("reports.collect")``."""

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.add(key, function)
            return function

        return register

    def keys(self) -> list[str]:
        return sorted(self._targets)

    def check(self, folders: Iterable[str] = ()) -> list[Problem]:
        """Check every string target without importing it; mark the missing ones unavailable.

        Built-in targets ship with queuetop and are not checked. Returns the
        problems found (the intents this process will not claim).
        """
        problems = []
        for key, target in sorted(self._targets.items()):
            if not isinstance(target, str) or BUILTIN.get(key) == target:
                continue
            reason = find_module(target.partition(":")[0], folders)
            if reason is not None:
                problems.append(Problem(key, target, reason))
                self._unavailable[key] = reason
        return problems

    def runnable(self) -> list[str]:
        """The intents this process can run: registered, found, not failed at import."""
        return sorted(key for key in self._targets if key not in self._unavailable)

    def unavailable(self) -> dict[str, str]:
        """Intents this process will not run, with why."""
        return dict(self._unavailable)

    def disable(self, key: str, reason: str) -> None:
        """Stop running ``key`` in this process (its module failed to import)."""
        self._unavailable[key] = reason

    def __contains__(self, key: object) -> bool:
        return key in self._targets

    def resolved(self, key: str) -> Handler | None:
        """The handler for ``key`` if its module is imported already, else None (nothing is imported)."""
        return self._resolved.get(key)

    def resolve(self, key: str) -> Handler:
        """The handler for ``key``, importing its module on first use.

        Raises :class:`UnknownIntent` (a permanent error) for a key that is not
        registered, and :class:`HandlerUnavailable` when its module fails to
        import or lacks the function.
        """
        found = self._resolved.get(key)
        if found is not None:
            return found
        target = self._targets.get(key)
        if target is None:
            raise UnknownIntent(f"unknown intent {key!r}: no handler is registered under that key")
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                function = getattr(importlib.import_module(module_name), attr)
            except BaseException as exc:  # a broken module raises anything at import time, sys.exit() too
                raise HandlerUnavailable(
                    f"intent {key!r}: cannot load handler {target}: {type(exc).__name__}: {_text(exc)}") from None
            if not callable(function):
                raise HandlerUnavailable(f"intent {key!r}: handler {target} is not callable")
            # A function that cannot take the one context argument (`def collect():`) would fail
            # every chunk, spending each one's retries on the same TypeError: refuse it like one
            # that is not callable. A signature Python cannot read is let through.
            try:
                inspect.signature(function).bind(None)
            except TypeError:
                raise HandlerUnavailable(f"intent {key!r}: handler {target} cannot take the one argument every "
                                         f"handler is given (def {attr}(ctx): ...)") from None
            except ValueError:
                pass
        else:
            function = target
        found = Handler(key, function, inspect.iscoroutinefunction(function))
        self._resolved[key] = found
        return found


def _text(exc: BaseException) -> str:
    """``str(exc)``, or its type name when even that raises."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"
