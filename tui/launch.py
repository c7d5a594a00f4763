"""Opening the TUI from the command line (placeholder until the TUI lands)."""

from __future__ import annotations

import argparse
from pathlib import Path

from queuetop.engine.config import Config


def launch(args: argparse.Namespace, config: Config, db_path: Path) -> int:
    """Run the Textual app; returns the process exit status."""
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Placeholder(App[None]):
        BINDINGS = [("q", "quit", "Quit")]

        def compose(self):  # type: ignore[no-untyped-def]
            yield Header()
            yield Static(f"queuetop: {db_path}")
            yield Footer()

    Placeholder().run()
    return 0
