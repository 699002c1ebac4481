"""The ``microcalc`` command: fit, predict, report, sensitivity, evaluate, crossval, demo, serve, literature.

Heavy libraries are imported inside each command so that ``microcalc --help`` starts fast.
Exit status: 0 success, 2 bad input (one message, nothing written), 3 a fit that did not converge.
Here: the parser, the fitting, prediction, report, demo and serve commands and the dispatch;
the checking commands (evaluate, crossval, learning-curve, literature) are in
:mod:`microcalc.checks.commands` and ``sensitivity`` in :mod:`microcalc.robustness.commands`, beside
what they run, and importable from here too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from microcalc import DISCLAIMER
from microcalc.checks.commands import cmd_crossval, cmd_evaluate, cmd_learning_curve, cmd_literature, training_lesions
from microcalc.io.errors import LesionInputError
from microcalc.robustness.commands import cmd_sensitivity

__all__ = [
    "COMMANDS",
    "COMPARED_PRIORS_HELP",
    "EXIT_BAD_INPUT",
    "EXIT_NOT_CONVERGED",
    "POPULATION_HELP",
    "SITE_HELP_PREDICT",
    "Console",
    "VersionAction",
    "build_parser",
    "cmd_crossval",
    "cmd_demo",
    "cmd_evaluate",
    "cmd_fit",
    "cmd_learning_curve",
    "cmd_literature",
    "cmd_predict",
    "cmd_report",
    "cmd_sensitivity",
    "cmd_serve",
    "main",
    "run",
]

EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3


class Console:
    """Short terminal output; ``quiet`` keeps only warnings and errors."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def say(self, text: str = "") -> None:
        """Print a progress or result line on stdout, unless ``quiet``."""
        if not self.quiet:
            print(text, flush=True)

    def warn(self, text: str) -> None:
        """Print a warning on stderr, even when ``quiet`` (warnings must not be lost)."""
        print(text, file=sys.stderr, flush=True)


SITE_HELP_PREDICT = (
    "site of lesions whose site is blank: a training site uses its effect; any other name: a new "
    "site, integrated over the spread between sites; default: the clinical population "
    "(see --population)"
)


POPULATION_HELP = (
    "who lesions whose site is blank come from: clinical (a new clinical biopsy series, from the "
    "published studies), new-site (a new site like the training sites) or a training site's name "
    "(the same as --site); default: clinical"
)
COMPARED_PRIORS_HELP = (
    "prior file of the 'literature' model compared with the vague priors (default: the bundled "
    "literature priors; e.g. priors/synthesis.toml)"
)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """Training data: one or several lesion files (any format), the site of site-less lesions, the bundled data."""
    p.add_argument(
        "data",
        nargs="*",
        type=Path,
        help="lesion files (CSV/Parquet; canonical, DDSM or CBIS-DDSM; several are fitted together; "
        "default: the bundled DDSM lesions)",
    )
    p.add_argument(
        "--site",
        default=None,
        help="site of lesions whose site is blank (one file: default 'training'; several files: "
        "each file without sites is a site named by its file name)",
    )
    p.add_argument("--with-bundled", action="store_true", help="add the bundled DDSM lesions (sites A-D)")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="combine CBIS-DDSM with DDSM anyway (the same lesions count twice; a warning is printed)",
    )


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=500, help="tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--priors", type=Path, default=None, help="prior file (default: bundled literature priors)")
    p.add_argument("--allow-unconverged", action="store_true", help="exit 0 even if diagnostics fail")


class VersionAction(argparse.Action):
    """--version, looking the version up only when asked (keeps start-up lean)."""

    def __call__(self, parser, namespace, values, option_string=None):
        """Print ``microcalc VERSION`` and exit, importing the version lookup only now."""
        import microcalc

        print(f"microcalc {microcalc.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no heavy imports)."""
    parser = argparse.ArgumentParser(
        prog="microcalc",
        description="Posterior malignancy probabilities for clustered breast microcalcifications. " + DISCLAIMER,
    )
    parser.add_argument("--version", action=VersionAction, nargs=0, help="show the version and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("fit", help="fit the model to lesions with outcomes")
    _add_data_options(p)
    p.add_argument("--out", type=Path, required=True, help="fit file to write (FIT.nc)")
    _add_fit_options(p)

    p = sub.add_parser("predict", help="posterior malignancy probability per lesion")
    p.add_argument("fit", type=Path, help="fit file from `microcalc fit`")
    p.add_argument("cases", type=Path, help="lesion file (CSV or Parquet; outcome not needed)")
    p.add_argument("--out", type=Path, required=True, help="predictions file (.csv or .parquet)")
    p.add_argument("--ci", type=float, default=0.95, help="credible interval mass (default 0.95, equal-tailed)")
    p.add_argument("--dask", metavar="SCHEDULER", default=None, help="score with Dask (address or 'local')")
    p.add_argument("--site", default=None, help=SITE_HELP_PREDICT)
    p.add_argument("--population", default=None, help=POPULATION_HELP)

    p = sub.add_parser("report", help="posterior report (HTML and Markdown)")
    p.add_argument("fit", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for report.html")
    p.add_argument("--format", choices=("html", "md", "both"), default="both")
    p.add_argument(
        "--population",
        default=None,
        help="population of the headline and tables (clinical, new-site or a training site; default: "
        "clinical); a new DDSM-like site is shown beside it",
    )

    p = sub.add_parser("sensitivity", help="prior sensitivity: power-scaling and literature scenarios")
    p.add_argument("fit", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--scenarios", type=Path, nargs="*", default=None, help="extra prior files")

    p = sub.add_parser("evaluate", help="out-of-sample metrics, calibration, ROC, decision curve")
    p.add_argument("fit", type=Path)
    p.add_argument("test", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--site", default=None, help=SITE_HELP_PREDICT)
    p.add_argument("--population", default=None, help=POPULATION_HELP)

    p = sub.add_parser("crossval", help="grouped cross-validation against simpler models")
    _add_data_options(p)
    p.add_argument("--by", choices=("case", "site"), default="case")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--out", type=Path, required=True)
    # 1000 draws per chain: at 500 most fold fits missed R-hat <= 1.01 (1 of 10 literature and vague fits
    # passed, 2026-12-07); at 1000, 9 of 10 literature fits pass (vague's site offsets mix slowly)
    p.add_argument("--draws", type=int, default=1000, help="draws per chain of every fold fit (default 1000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--priors", type=Path, default=None, help=COMPARED_PRIORS_HELP)

    p = sub.add_parser("learning-curve", help="value of the literature priors: held-out log loss vs training size")
    _add_data_options(p)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--priors", type=Path, default=None, help=COMPARED_PRIORS_HELP)

    p = sub.add_parser("demo", help="fit the bundled data and write the report (the README's main job)")
    p.add_argument("--out", type=Path, default=Path("microcalc-report"))
    _add_fit_options(p)
    p.set_defaults(seed=1)  # the demo report is reproducible

    p = sub.add_parser("literature", help="evidence synthesis of the published series: pooled rates, priors, checks")
    p.add_argument(
        "data",
        nargs="*",
        type=Path,
        help="lesion files with outcomes whose counts per level fill the prior-data conflict columns (or use --fit)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for literature.html, the CSV files and plots")
    p.add_argument("--fit", type=Path, default=None, help="fit file whose training lesions fill the conflict columns")
    p.add_argument("--studies", type=Path, default=None, help="studies table (default: the bundled priors/studies.csv)")
    p.add_argument("--with-bundled", action="store_true", help="add the bundled DDSM lesions to the data")
    p.add_argument("--priors", type=Path, default=None, help="prior file set beside the table in derived_priors.csv")
    p.add_argument("--allow-overlap", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(site=None)

    p = sub.add_parser("serve", help="calculator web page, batch upload and JSON API on this computer")
    p.add_argument("fit", nargs="?", type=Path, help="fit file (default: the bundled data, fitted once and cached)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this computer only; there is no authentication)",
    )
    return parser


def _fit_and_save(args, console: Console, out: Path):
    """Fit, print diagnostics and headline, save; returns (fit, exit status)."""
    from microcalc.modelling.fitting import fit
    from microcalc.reporting.headline import format_headline, headline_table

    frame = training_lesions(args)
    sites = frame["site"].dropna().nunique() + int(frame["site"].isna().any())
    console.say(
        f"Fitting {len(frame)} lesions ({int(frame['malignant'].sum())} malignant, {sites} "
        f"site{'s' if sites != 1 else ''}) with {args.chains} chains × {args.draws} draws (nutpie)…"
    )
    result = fit(
        frame,
        priors=args.priors,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        progressbar=not console.quiet and sys.stderr.isatty(),
        site=getattr(args, "site", None),
    )
    result.save(out)
    console.say(f"Diagnostics: {result.convergence.text()}")
    for note in result.notes():
        console.say(f"Note: {note}")
    if not console.quiet:  # the headline costs a posterior prediction: only when it is shown
        console.say(format_headline(headline_table(result.params(), result.priors, result.sites, result.donors)))
    console.say(f"Fit written to {out}")
    status = 0
    if not result.convergence.ok:
        console.warn(
            "WARNING: THE SAMPLER DID NOT CONVERGE: "
            + "; ".join(result.convergence.problems())
            + ". Do not use these numbers; refit with more --tune/--draws."
        )
        status = 0 if args.allow_unconverged else EXIT_NOT_CONVERGED
    return result, status


def cmd_fit(args, console: Console) -> int:
    """``microcalc fit``: fit the training lesions and save the fit file.

    Returns the exit status: 0, or :data:`EXIT_NOT_CONVERGED` when the sampler did not converge and
    ``--allow-unconverged`` was not given (the file is written either way).
    """
    return _fit_and_save(args, console, args.out)[1]


def cmd_predict(args, console: Console) -> int:
    """``microcalc predict``: score a lesion file with a fit and write the predictions file.

    Polars starts importing in the background first (local runs only), so that parsing overlaps
    pandas' import; with ``--dask`` the file is scored on the cluster.
    """
    from microcalc.io.csvblocks import start_opening  # Polars reads the file in a thread while pandas is imported

    opening = start_opening(args.cases) if args.dask is None else None
    from microcalc.batch.distributed import predict_file  # local, or on Dask with --dask
    from microcalc.modelling.predict import resolve_population

    n = predict_file(
        args.fit,
        args.cases,
        args.out,
        ci=args.ci,
        dask_scheduler=args.dask,
        opening=opening,
        site=resolve_population(args.population, args.site),
    )
    console.say(
        f"{n} predictions written to {args.out} ({100 * args.ci:.0f}% equal-tailed credible intervals). {DISCLAIMER}"
    )
    return 0


def cmd_report(args, console: Console) -> int:
    """``microcalc report``: write the HTML and/or Markdown report of a fit."""
    from microcalc.modelling.fitting import load
    from microcalc.reporting.report import write_report

    paths = write_report(load(args.fit), args.out, fmt=args.format, fit_path=args.fit, population=args.population)
    console.say("Report written: " + ", ".join(str(p) for p in paths))
    return 0


def cmd_demo(args, console: Console) -> int:
    """``microcalc demo``: fit (the bundled data by default), save ``fit.nc`` and write both reports to ``--out``."""
    out: Path = args.out
    from microcalc.reporting.report import write_report

    result, status = _fit_and_save(args, console, out / "fit.nc")
    paths = write_report(result, out, fmt="both", fit_path=out / "fit.nc")
    console.say("Report: " + ", ".join(str(p) for p in paths))
    console.say(DISCLAIMER)
    return status


def cmd_serve(args, console: Console) -> int:
    """``microcalc serve``: run the calculator page and JSON API until interrupted; returns the exit status."""
    from microcalc.web.server import serve

    return serve(args.fit, host=args.host, port=args.port, say=console.say, warn=console.warn)


COMMANDS = {
    "fit": cmd_fit,
    "predict": cmd_predict,
    "report": cmd_report,
    "sensitivity": cmd_sensitivity,
    "evaluate": cmd_evaluate,
    "crossval": cmd_crossval,
    "learning-curve": cmd_learning_curve,
    "demo": cmd_demo,
    "serve": cmd_serve,
    "literature": cmd_literature,
}


def _quiet_libraries() -> None:
    """Our own lines replace PyMC's log chatter; warnings print as one short line."""
    import logging
    import warnings

    logging.getLogger("pymc").setLevel(logging.WARNING)
    warnings.showwarning = lambda message, category, *rest, **kw: print(
        f"microcalc: warning: {message}", file=sys.stderr, flush=True
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point for callers in Python; returns the exit status."""
    return _dispatch(build_parser().parse_args(argv))


def run() -> None:
    """The ``microcalc`` console script and ``python -m microcalc``: ``main`` on the command line, then exit.

    After a local prediction the output is written and closed, and nothing registered to run at exit
    concerns it, so the process ends without tearing the interpreter down: freeing pandas, NumPy
    and Arrow takes ~0.1 s, as long as pandas takes to read 500,000 lesions.
    """
    args = build_parser().parse_args()
    status = _dispatch(args)
    if args.command == "predict" and args.dask is None and not _observed():
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # e.g. stdout piped to a program that has exited
            pass
        os._exit(status)
    sys.exit(status)


def _observed() -> bool:
    """A profiler, tracer or coverage tool that writes its results at exit is watching this process."""
    return sys.gettrace() is not None or sys.getprofile() is not None or "coverage" in sys.modules


def _dispatch(args) -> int:
    """Run the parsed command; bad input is one message and exit status 2."""
    if args.command is None:
        build_parser().print_help()
        return 0
    console = Console(args.quiet)
    _quiet_libraries()
    try:
        return COMMANDS[args.command](args, console)
    except LesionInputError as exc:
        console.warn(f"microcalc: error: {exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        console.warn("microcalc: interrupted; nothing written")
        return 130
