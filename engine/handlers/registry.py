"""Handler registry: intent key -> handler, imported the first time it runs.

Only keys in the registry run. A target is a ``"package.module:function"``
string from the config (or a callable given by the decorator); the module is
imported when its intent first runs, never at start-up, and never from a
string that came from job data: job data only ever names a *key*.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from queuetop.engine.model.exceptions import ConfigError, UnknownIntent

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

# Handlers that ship with queuetop.
BUILTIN: dict[str, str] = {
    "demo.noop": "queuetop.engine.handlers.demo:noop",
    "demo.sync_noop": "queuetop.engine.handlers.demo:sync_noop",
    "demo.sleep": "queuetop.engine.handlers.demo:sleep",
    "demo.flaky": "queuetop.engine.handlers.demo:flaky",
    "demo.log": "queuetop.engine.handlers.demo:log_lines",
    "demo.report": "queuetop.engine.handlers.demo:report",
}


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
        if not isinstance(key, str) or not _KEY.match(key):
            raise ConfigError(f"handler key {key!r} is not a valid intent key")
        if isinstance(target, str):
            if not _TARGET.match(target):
                raise ConfigError(f"handler {key!r}: target {target!r} is not 'package.module:function'")
        elif not callable(target):
            raise ConfigError(f"handler {key!r}: target must be 'module:function' or a callable")
        self._targets[key] = target
        self._resolved.pop(key, None)

    def handler(self, key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@registry.handler("reports.collect")``."""

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.add(key, function)
            return function

        return register

    def keys(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, key: object) -> bool:
        return key in self._targets

    def resolve(self, key: str) -> Handler:
        """The handler for ``key``, importing its module on first use.

        Raises :class:`UnknownIntent` (a permanent error) for a key that is not
        registered, or whose target cannot be imported.
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
            except (ImportError, AttributeError) as exc:
                raise UnknownIntent(f"intent {key!r}: cannot load handler {target}: {exc}") from None
        else:
            function = target
        found = Handler(key, function, inspect.iscoroutinefunction(function))
        self._resolved[key] = found
        return found
