"""Where a command prints its progress and results: the protocol the CLI's ``Console`` meets.

The command handlers of :mod:`microcalc.checks` and :mod:`microcalc.robustness` take any object with a
``say`` method, so they can be run from a notebook or a test with their own printer.
"""

from __future__ import annotations

from typing import Protocol


class Output(Protocol):
    """Where a command prints its progress and results (the CLI's ``Console``)."""

    def say(self, text: str = "") -> None:
        """Print a progress or result line (unless the command line is quiet)."""
