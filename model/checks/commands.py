"""The checking commands of ``microcalc``: ``evaluate``, ``crossval``, ``learning-curve`` and ``literature``.

Each handler takes the parsed arguments and the command line's output (anything with ``say``, the
CLI's :class:`microcalc.cli.Console`) and returns the exit status; the parser and the dispatch stay
in :mod:`microcalc.cli`, which lists these handlers under their command names. They live here,
beside the checks they run, so that the command line holds only what is its own. ``literature``
is here because its prior-data conflict columns are the training counts of
:mod:`microcalc.checks.counts`. Heavy libraries are imported inside each handler, as in the CLI.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from microcalc.io.console import Output
from microcalc.io.errors import LesionInputError

if TYPE_CHECKING:
    import pandas as pd


def training_lesions(args: argparse.Namespace) -> pd.DataFrame:
    """The training lesions the data options name (see :func:`microcalc.io.sources.read_training`)."""
    from microcalc.io.sources import read_training

    return read_training(
        getattr(args, "data", None) or (),
        site=getattr(args, "site", None),
        with_bundled=getattr(args, "with_bundled", False),
        allow_overlap=getattr(args, "allow_overlap", False),
    )


def cmd_evaluate(args: argparse.Namespace, console: Output) -> int:
    """``microcalc evaluate``: score a fit on labelled test lesions and print the metrics.

    Blank sites of the test lesions are taken from ``--population``/``--site`` as in ``predict``.
    """
    from microcalc.checks.evaluation import evaluate_file
    from microcalc.modelling.predict import resolve_population

    metrics = evaluate_file(args.fit, args.test, args.out, site=resolve_population(args.population, args.site))
    console.say(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return 0


def cmd_crossval(args: argparse.Namespace, console: Output) -> int:
    """``microcalc crossval``: cross-validate the model on the training lesions and print the per-fold table."""
    from microcalc.checks.crossval import run_crossval

    table = run_crossval(
        training_lesions(args),
        args.out,
        by=args.by,
        folds=args.folds,
        draws=args.draws,
        seed=args.seed,
        say=console.say,
        site=args.site,
        priors=args.priors,
    )
    console.say(table.to_string(index=False))
    return 0


def cmd_learning_curve(args: argparse.Namespace, console: Output) -> int:
    """``microcalc learning-curve``: literature and vague priors fitted on growing training subsets.

    Prints the table of held-out scores, which shows how many lesions the literature priors are worth.
    """
    from microcalc.checks.learning_curve import run_learning_curve

    table = run_learning_curve(
        training_lesions(args),
        args.out,
        repeats=args.repeats,
        draws=args.draws,
        say=console.say,
        site=args.site,
        priors=args.priors,
    )
    console.say(table.to_string(index=False))
    return 0


def cmd_literature(args: argparse.Namespace, console: Output) -> int:
    """The synthesis on its own; with a fit or data files, the prior-data conflict of each prior too."""
    from microcalc.checks.counts import counts_from_donors, counts_from_frame
    from microcalc.synthesis import run_literature

    if args.fit is not None and (args.data or args.with_bundled):
        raise LesionInputError(
            "--fit",
            "give a fit file or lesion files, not both",
            allowed="--fit FIT.nc, or DATA files and/or --with-bundled",
        )
    counts, source, priors = None, None, None
    if args.priors is not None:
        from microcalc.priors import load_priors

        priors = load_priors(args.priors)
    if args.fit is not None:
        from microcalc.modelling.fitting import load

        fitted = load(args.fit)
        counts, source = counts_from_donors(fitted.donors), f"the training lesions of {args.fit}"
        priors = priors if priors is not None else fitted.priors
    elif args.data or args.with_bundled:
        frame = training_lesions(args)
        names = [str(p) for p in args.data] + (["the bundled DDSM lesions"] if args.with_bundled else [])
        counts, source = counts_from_frame(frame), " + ".join(names)
    paths = run_literature(
        args.out, args.studies, counts=counts, counts_source=source, say=console.say, prior_set=priors
    )
    console.say(f"Literature synthesis written to {args.out}: " + ", ".join(p.name for p in paths))
    return 0
