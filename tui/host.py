"""What screens and widgets may ask of the app they run in, typed.

Textual types ``widget.app`` as a plain ``App``; :func:`host` gives it back
as the :class:`Host` protocol (the queue, the header totals, actions), so a
widget's use of the queue is type-checked instead of waved through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from textual.dom import DOMNode
from textual.screen import Screen

from queuetop.engine.api import Queue, Totals

from .live import LiveUpdates


class Host(Protocol):
    """The parts of :class:`~queuetop.tui.app.QueuetopApp` screens and widgets use."""

    queue: Queue
    totals: Totals | None
    read_only: bool
    live: LiveUpdates | None

    def act(self, what: str, steps: Sequence[Callable[[], Awaitable[Any]]], *,
            confirm: str | Callable[[int], str] | None = None, after: Callable[[], None] | None = None,
            checks: Sequence[Callable[[], Awaitable[str | None]]] | None = None) -> Any: ...

    def open_screen(self, screen: Screen[Any]) -> None: ...

    def request_refresh(self, topics: Iterable[str] = ..., *, urgent: bool = ...) -> None: ...

    def engine_label(self) -> str: ...


def host(node: DOMNode) -> Host:
    """The app ``node`` runs in, as a :class:`Host`."""
    return cast(Host, node.app)
