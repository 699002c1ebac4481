"""The ``microcalc sensitivity`` command's handler, beside the sensitivity analysis it runs.

The handler takes the parsed arguments and the command line's output (anything with ``say``, the
CLI's :class:`microcalc.cli.Console`) and returns the exit status; the parser and the dispatch stay
in :mod:`microcalc.cli`. Heavy libraries are imported inside the handler, as in the CLI.
"""

from __future__ import annotations

import argparse

from microcalc.io.console import Output


def cmd_sensitivity(args: argparse.Namespace, console: Output) -> int:
    """``microcalc sensitivity``: write the prior-sensitivity tables, figures and page of a fit."""
    from microcalc.modelling.fitting import load
    from microcalc.robustness.sensitivity import run_sensitivity

    paths = run_sensitivity(load(args.fit), args.out, extra_scenarios=args.scenarios, say=console.say)
    console.say("Sensitivity written: " + ", ".join(str(p) for p in paths))
    return 0
