"""The ``queuetop`` console script.

It is its own module, importing nothing, so that ctrl+c while queuetop is
still importing ends it as ctrl+c does later: exit status 130, no traceback.
"""

from __future__ import annotations


def main() -> int:
    """Run the command line; ctrl+c at any point of it exits 130."""
    try:
        from queuetop.cli import main as run

        return run()
    except KeyboardInterrupt:
        return 130
