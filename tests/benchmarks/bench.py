"""Speed and scale benchmark for microcalc (issue 8). Not a test: pytest does not collect it.

Run from the repository root, after ``pip install -e '.[bench,dask]'``::

    .venv/bin/python tests/benchmarks/bench.py                      # full run, ~15 min on 2 cores
    .venv/bin/python tests/benchmarks/bench.py --out results.json   # JSON elsewhere (default /tmp/microcalc-bench.json)
    .venv/bin/python tests/benchmarks/bench.py --quick              # smoke run: small draws and rows (figures not comparable)
    .venv/bin/python tests/benchmarks/bench.py --only startup predict

Every figure is measured in this run, on this machine, one process at a time, and printed and
written to the JSON with the machine (cores, RAM, CPU, load average before and after: other
work on the machine inflates wall times, so CPU times are reported beside them).

Figures and targets (issue 8):

1. fit vs bambi: whole-process wall time of ``microcalc fit`` on the bundled data (4 chains x 1000
   draws) / that of an equivalent bambi model (default priors, the same covariates as 0/1
   indicators, ``(1|site)``, same draws and chains, bambi's default sampler unless
   ``--bambi-sampler nutpie``): target <= 0.5. Both models' held-out log loss on one random
   80/20 split by case (patient), the same split for both.
2. fit at scale: 200,000 lesions bootstrap-resampled from the bundled data; whole-process fit
   wall time / the 617-lesion fit's: target <= 2. Reading + validating the 200,000 rows timed alone.
3. predict at scale: 1,000,000 bootstrap lesions scored with 95% credible intervals; whole-process
   ``microcalc predict`` wall time / ``pandas.read_csv`` on the same file: target <= 10; peak
   memory (max RSS of the process): target < 2 GB. Parquet in and out measured too. The ratio
   depends on the load: ``read_csv`` (pandas 3, Arrow strings) uses the second core when it is
   free (wall 0.19 s for 0.35 s CPU), and so does the prediction (Polars uses every core; the file is
   read in a background thread while pandas is imported, the fit file in another); compare the CPU ratio
   as well.
4. start-up: ``microcalc --help`` wall time: target < 1 s. Compiled-model reuse: nutpie compile
   time of the same model twice in one process and in a second process, and two fits in one process.
5. profiles: cProfile of one fit; CPU seconds of each phase of the 1,000,000-lesion prediction, in
   whichever thread runs it (cProfile sees only the main thread).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve()
TARGETS = {
    "fit_vs_bambi": 0.5,
    "fit_at_scale": 2.0,
    "predict_vs_read_csv": 10.0,
    "predict_peak_gb": 2.0,
    "startup_s": 1.0,
}
SECTIONS = ("startup", "fit", "scale_fit", "predict", "compile", "profile")


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One child process: wall time, CPU time (user + system) and peak memory, from wait4."""

    wall_s: float
    cpu_s: float
    max_rss_mb: float
    status: int
    stdout: str
    stderr: str


def run(cmd: list[str], check: bool = True, env: dict | None = None) -> Run:
    """Run a command and measure it with os.wait4 (its own rusage, not the benchmark's)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=None if env is None else {**os.environ, **env})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        result = Run(
            wall,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if check and result.status not in (0, 3):  # 3 = fit finished but diagnostics failed (reported)
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({result.status}):\n{result.stderr[-3000:]}")
    return result


def python(*args: str) -> list[str]:
    """Command line running this script's internal mode ``args[0]`` in a fresh interpreter."""
    return [sys.executable, str(HERE), *args]


def microcalc(*args: str) -> list[str]:
    """Command line of the installed console script (what a user runs)."""
    exe = shutil.which("microcalc", path=str(Path(sys.executable).parent)) or "microcalc"
    return [exe, *map(str, args)]


def machine() -> dict:
    """What the figures were measured on."""
    mem = (
        next(
            (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
            "0",
        )
        if Path("/proc/meminfo").exists()
        else "0"
    )
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    from microcalc.modelling.fitfile import library_versions

    return {
        "cores": os.cpu_count(),
        "ram_gb": round(int(mem) / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
        "versions": library_versions()
        | {"bambi": _version("bambi"), "dask": _version("dask"), "pyarrow": _version("pyarrow")},
    }


def _version(lib: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(lib)
    except PackageNotFoundError:
        return "not installed"


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def bootstrap(n: int, path: Path, seed: int = 1) -> Path:
    """n lesions resampled with replacement from the bundled file (fresh lesion ids), CSV or Parquet."""
    import numpy as np
    import pandas as pd

    from microcalc.io.readers import bundled_data_path

    source = pd.read_csv(bundled_data_path(), dtype=str, keep_default_na=False)
    rows = np.random.default_rng(seed).integers(0, len(source), n)
    big = source.iloc[rows].reset_index(drop=True)
    big["lesion_id"] = [f"B{i:09d}" for i in range(n)]
    if path.suffix == ".parquet":
        big.to_parquet(path, index=False)
    else:
        big.to_csv(path, index=False)
    return path


def split_by_case(work: Path, seed: int = 8) -> tuple[Path, Path]:
    """Random 80/20 split of the bundled file by case (patient), written as two DDSM files."""
    import numpy as np
    import pandas as pd

    from microcalc.io.readers import bundled_data_path

    source = pd.read_csv(bundled_data_path(), dtype=str, keep_default_na=False)
    cases = source["case_id"].unique()
    test_cases = set(np.random.default_rng(seed).permutation(cases)[: round(0.2 * len(cases))])
    held = source["case_id"].isin(test_cases)
    train, test = work / "train.csv", work / "test.csv"
    source[~held].to_csv(train, index=False)
    source[held].to_csv(test, index=False)
    return train, test


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def bench_startup(args, work: Path) -> dict:
    times = [run(microcalc("--help")).wall_s for _ in range(5)]
    return {
        "help_wall_s_median": statistics.median(times),
        "help_wall_s_all": times,
        "meets_target": statistics.median(times) < TARGETS["startup_s"],
    }


def fit_options(args) -> list[str]:
    """Sampler options of every ``microcalc fit`` here: draws and chains, tune only if overridden."""
    tune = ["--tune", str(args.tune)] if args.tune else []
    return ["--draws", str(args.draws), "--chains", str(args.chains), *tune]


def fit_command(out: Path, data: Path | None = None, seed: int = 1) -> list[str]:
    """``microcalc fit`` of the bundled data (or ``data``) with a fixed seed, timed even if unconverged."""
    return microcalc(
        "-q", "fit", *([str(data)] if data else []), "--out", out, "--seed", str(seed), "--allow-unconverged"
    )


def repeated(cmd: list[str], repeats: int) -> list[Run]:
    """Run the same command several times (the machine's load varies; medians are compared)."""
    return [run(cmd) for _ in range(repeats)]


def median_timing(runs: list[Run]) -> dict:
    """Median wall and CPU time of repeated runs, with every run's wall time."""
    return {
        "wall_s": statistics.median(r.wall_s for r in runs),
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "max_rss_mb": max(r.max_rss_mb for r in runs),
        "wall_s_runs": [round(r.wall_s, 2) for r in runs],
    }


def bench_fit(args, work: Path) -> dict:
    """microcalc vs bambi on the bundled data, and held-out log loss on an 80/20 case split."""
    from microcalc.io.readers import bundled_data_path

    out: dict = {
        "draws": args.draws,
        "tune": args.tune or "microcalc default",
        "bambi_tune": args.draws,
        "chains": args.chains,
        "bambi_sampler": args.bambi_sampler,
        "repeats": args.repeats,
    }
    say(f"  microcalc fit (bundled data) x{args.repeats}…")
    ours = repeated(fit_command(work / "fit_full.nc") + fit_options(args), args.repeats)
    out["microcalc_fit"] = median_timing(ours)
    out["microcalc_converged"] = all(r.status == 0 for r in ours)
    if not args.skip_bambi:
        say(f"  bambi fit (bundled data, sampler {args.bambi_sampler}) x{args.repeats}…")
        theirs = repeated(
            python(
                "_bambi", str(bundled_data_path()), "-", "-", *map(str, (args.draws, args.chains)), args.bambi_sampler
            ),
            args.repeats,
        )
        out["bambi_fit"] = median_timing(theirs)
        out["ratio_wall"] = out["microcalc_fit"]["wall_s"] / out["bambi_fit"]["wall_s"]
        out["ratio_cpu"] = out["microcalc_fit"]["cpu_s"] / out["bambi_fit"]["cpu_s"]
        out["meets_target"] = out["ratio_wall"] <= TARGETS["fit_vs_bambi"]
    train, test = split_by_case(work)
    say("  held-out log loss (80/20 split by case)…")
    run(fit_command(work / "fit_train.nc", train, seed=2) + fit_options(args))
    run(microcalc("-q", "predict", work / "fit_train.nc", str(test), "--out", work / "pred_test.csv"))
    out["heldout"] = {
        "train_lesions": _count(train),
        "test_lesions": _count(test),
        "microcalc_log_loss": _heldout_loss(work / "pred_test.csv", test, "p_malignant"),
    }
    if not args.skip_bambi:
        run(
            python(
                "_bambi",
                str(train),
                str(test),
                str(work / "bambi_test.csv"),
                *map(str, (args.draws, args.chains)),
                args.bambi_sampler,
            )
        )
        out["heldout"]["bambi_log_loss"] = _heldout_loss(work / "bambi_test.csv", test, "p_malignant")
    return out


def bench_scale_fit(args, work: Path, full_fit: dict | None) -> dict:
    """Fit 200,000 bootstrap lesions; compare with the 617-lesion fit timed the same way."""
    big = bootstrap(args.fit_rows, work / f"fit_{args.fit_rows}.csv", seed=3)
    read = run(python("_read", str(big)))
    say(f"  microcalc fit ({args.fit_rows} lesions) x{args.repeats}…")
    runs = repeated(fit_command(work / "fit_big.nc", big) + fit_options(args), args.repeats)
    if full_fit is None:
        full_fit = median_timing(repeated(fit_command(work / "fit_full.nc") + fit_options(args), args.repeats))
    summary = json.loads(run(python("_summary", str(work / "fit_big.nc"))).stdout)
    timing = median_timing(runs)
    return {
        "lesions": args.fit_rows,
        "read_validate": json.loads(read.stdout),
        "fit": timing,
        "fit_617": full_fit,
        "converged": all(r.status == 0 for r in runs),
        "patterns": summary["patterns"],
        "last_fit": summary,
        "ratio_to_617_fit": timing["wall_s"] / full_fit["wall_s"],
        "meets_target": timing["wall_s"] / full_fit["wall_s"] <= TARGETS["fit_at_scale"],
    }


def bench_predict(args, work: Path) -> dict:
    """Score 1,000,000 bootstrap lesions (CSV and Parquet) against pandas.read_csv on the same file.

    pandas and microcalc take turns, ``--repeats`` times, each prediction into a fresh output path
    (replacing a 160 MB file costs time of its own); medians are compared.
    """
    fit_path = work / "fit_full.nc"
    if not fit_path.exists():
        run(fit_command(fit_path) + fit_options(args))
    csv = bootstrap(args.predict_rows, work / f"predict_{args.predict_rows}.csv", seed=4)
    parquet = bootstrap(args.predict_rows, work / f"predict_{args.predict_rows}.parquet", seed=4)
    reads, csv_runs, pq_runs = [], [], []
    say(f"  pandas.read_csv and microcalc predict ({args.predict_rows} lesions, CSV and Parquet) x{args.repeats}…")
    for _ in range(args.repeats):
        reads.append(json.loads(run(python("_pandas_read", str(csv), str(parquet))).stdout))
        for out in (work / "pred.csv", work / "pred.parquet"):
            out.unlink(missing_ok=True)
        csv_runs.append(run(microcalc("-q", "predict", fit_path, csv, "--out", work / "pred.csv")))
        pq_runs.append(run(microcalc("-q", "predict", fit_path, parquet, "--out", work / "pred.parquet")))
    inproc = json.loads(run(python("_predict_inprocess", str(fit_path), str(csv), str(work / "pred2.csv"))).stdout)
    read_csv = statistics.median(r["read_csv_s_median"] for r in reads)
    read_csv_cpu = statistics.median(r["read_csv_cpu_s_median"] for r in reads)
    read_parquet = statistics.median(r["read_parquet_s_median"] for r in reads)
    csv_t, pq_t = median_timing(csv_runs), median_timing(pq_runs)
    return {
        "lesions": args.predict_rows,
        "csv_mb": csv.stat().st_size / 2**20,
        "repeats": args.repeats,
        "pandas": {
            "read_csv_s_median": read_csv,
            "read_csv_cpu_s_median": read_csv_cpu,
            "read_parquet_s_median": read_parquet,
            "runs": reads,
        },
        "csv": csv_t
        | {
            "ratio_wall_to_read_csv": csv_t["wall_s"] / read_csv,
            "ratio_cpu_to_read_csv_cpu": csv_t["cpu_s"] / read_csv_cpu,
        },
        "csv_in_process": inproc | {"ratio_to_read_csv": inproc["predict_file_s"] / read_csv},
        "parquet": pq_t
        | {
            "ratio_wall_to_read_csv": pq_t["wall_s"] / read_csv,
            "ratio_wall_to_read_parquet": pq_t["wall_s"] / read_parquet,
        },
        "meets_time_target": csv_t["wall_s"] / read_csv <= TARGETS["predict_vs_read_csv"],
        "meets_memory_target": max(csv_t["max_rss_mb"], pq_t["max_rss_mb"]) / 1024 < TARGETS["predict_peak_gb"],
    }


def bench_compile(args, work: Path) -> dict:
    """Is the compiled model reused: compile twice in a process, again in a new process, with an empty
    cache (a fresh machine's first fit); two fits in one process."""
    empty = work / "empty_cache"
    cold = json.loads(
        run(
            python("_compile"),
            env={"PYTENSOR_FLAGS": f"base_compiledir={empty}", "NUMBA_CACHE_DIR": str(empty / "numba_global")},
        ).stdout
    )
    first = json.loads(run(python("_compile")).stdout)
    second = json.loads(run(python("_compile")).stdout)
    fits = json.loads(run(python("_two_fits", str(args.draws), str(args.chains))).stdout)
    return {"empty_cache": cold, "process_1": first, "process_2": second, "two_fits_one_process": fits}


def bench_profile(args, work: Path) -> dict:
    fit_profile = json.loads(run(python("_profile_fit", str(args.draws), str(args.chains))).stdout)
    csv = work / f"predict_{args.predict_rows}.csv"
    if not csv.exists():
        bootstrap(args.predict_rows, csv, seed=4)
    fit_path = work / "fit_full.nc"
    if not fit_path.exists():
        run(fit_command(fit_path) + fit_options(args))
    predict_profile = json.loads(
        run(python("_profile_predict", str(fit_path), str(csv), str(work / "pred3.csv"))).stdout
    )
    return {"fit": fit_profile, "predict": predict_profile}


def _count(path: Path) -> int:
    import pandas as pd

    return len(pd.read_csv(path, usecols=[0]))


def _heldout_loss(pred_path: Path, test: Path, column: str) -> float:
    import pandas as pd

    from microcalc.io.readers import read_lesions

    truth = read_lesions(test, require_outcome=True).set_index("lesion_id")["malignant"]
    pred = pd.read_csv(pred_path, dtype={"lesion_id": str}).set_index("lesion_id")[column]
    from microcalc.checks.metrics import log_loss

    return log_loss(truth.loc[pred.index].to_numpy(dtype=float), pred.to_numpy())


# --------------------------------------------------------------------------------------------
# Internal modes, each run in a fresh interpreter by the sections above (print JSON on stdout)
# --------------------------------------------------------------------------------------------


def mode_bambi(train: str, test: str, pred_out: str, draws: str, chains: str, sampler: str) -> None:
    """Fit the peer model with bambi (default priors) and optionally predict a test file."""
    import bambi as bmb
    import numpy as np
    import pandas as pd

    from microcalc.io.readers import read_lesions

    frame = read_lesions(train, require_outcome=True)
    data, columns = indicator_table(frame, reference=None)
    formula = "malignant ~ " + " + ".join(columns) + " + (1|site)"
    model = bmb.Model(formula, data, family="bernoulli")
    idata = model.fit(
        draws=int(draws),
        tune=int(draws),
        chains=int(chains),
        random_seed=5,
        progressbar=False,
        inference_method=sampler,
    )
    if test != "-":
        held = read_lesions(test, require_outcome=True)
        new, _ = indicator_table(held, reference=columns)
        pred = model.predict(idata, kind="response_params", data=new, inplace=False)
        p = pred["posterior"].to_dataset()["p"].mean(dim=("chain", "draw")).to_numpy()
        pd.DataFrame({"lesion_id": held["lesion_id"].astype(str), "p_malignant": np.asarray(p)}).to_csv(
            pred_out, index=False
        )


def indicator_table(frame, reference: list[str] | None):
    """The covariates microcalc uses, as a user would give them to bambi: 0/1 indicators.

    Morphology and distribution words (one column per word; the most common word is the
    reference), BI-RADS category and breast density (one-hot, most common level as reference,
    blank as its own level), age per decade from 55 (blank = 55), outcome and site.
    """
    import pandas as pd

    from microcalc.io import schema

    out = pd.DataFrame(
        {
            "malignant": frame["malignant"].astype(int).to_numpy(),
            "site": frame["site"].astype(str).to_numpy(),
            "age_decades": ((frame["age"].astype(float) - 55) / 10).fillna(0.0).to_numpy(),
        }
    )
    for column, words in (("morphology", schema.MORPHOLOGY), ("distribution", schema.DISTRIBUTION)):
        cells = frame[column].astype("string").fillna("")
        for word in words:
            out[f"{column[:5]}_{word}"] = cells.str.split("|").apply(lambda ws, w=word: int(w in ws)).to_numpy()
        out[f"{column[:5]}_blank"] = (cells == "").astype(int).to_numpy()
    for column in ("birads", "breast_density"):
        cells = frame[column].astype("string").fillna("blank")
        for level in sorted(cells.unique()):
            out[f"{column}_{level}"] = (cells == level).astype(int).to_numpy()
    if reference is None:  # training: drop never-seen columns and one reference per group
        varying = [c for c in out.columns if c not in ("malignant", "site") and out[c].nunique() > 1]
        for prefix in ("morph_", "distr_", "birads_", "breast_density_"):
            group = [c for c in varying if c.startswith(prefix) and not c.endswith("_blank")]
            if group:
                varying.remove(max(group, key=lambda c: out[c].sum()))
        return out, varying
    for c in reference:
        if c not in out:
            out[c] = 0
    return out[["malignant", "site", *reference]], reference


def mode_read(path: str) -> None:
    """Time reading + validating a file as fitting does (require_outcome=True)."""
    t0 = time.perf_counter()
    from microcalc.io.readers import read_lesions

    t1, c1 = time.perf_counter(), time.process_time()
    frame = read_lesions(path, require_outcome=True)
    print(
        json.dumps(
            {
                "rows": len(frame),
                "read_validate_s": time.perf_counter() - t1,
                "read_validate_cpu_s": time.process_time() - c1,
                "import_s": t1 - t0,
            }
        )
    )


def mode_summary(fit_path: str) -> None:
    from microcalc.modelling.fitting import load

    fit = load(fit_path)
    stats = fit.idata["sample_stats"]
    print(
        json.dumps(
            {
                "patterns": fit.data_summary.get("patterns"),
                "convergence": fit.convergence.text(),
                "leapfrog_steps_per_draw": float(stats["n_steps"].mean()) if "n_steps" in stats else None,
                "sampling_s": fit.idata["posterior"].attrs.get("sampling_time"),
            }
        )
    )


def mode_pandas_read(csv: str, parquet: str) -> None:
    """pandas.read_csv / read_parquet on the benchmark files (median of 3, after one warm-up)."""
    import pandas as pd

    pd.read_csv(csv, nrows=10)
    walls, cpus, pq = [], [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        pd.read_csv(csv)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        t = time.perf_counter()
        pd.read_parquet(parquet)
        pq.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "read_csv_s_median": statistics.median(walls),
                "read_csv_s_all": walls,
                "read_csv_cpu_s_median": statistics.median(cpus),
                "read_parquet_s_median": statistics.median(pq),
            }
        )
    )


def mode_predict_inprocess(fit_path: str, cases: str, out: str) -> None:
    """predict_file timed inside the process (imports included, interpreter start-up excluded)."""
    t, c = time.perf_counter(), time.process_time()
    from microcalc.batch.scoring import predict_file

    n = predict_file(fit_path, cases, out)
    print(
        json.dumps(
            {"lesions": n, "predict_file_s": time.perf_counter() - t, "predict_file_cpu_s": time.process_time() - c}
        )
    )


def _bundled_model():
    """The PyMC model fit() builds for the bundled data (for compile timing)."""
    from microcalc.io.readers import bundled_data_path, read_lesions
    from microcalc.modelling.fitting import training_patterns
    from microcalc.modelling.model import build_model
    from microcalc.priors import load_priors

    priors = load_priors()
    sites, patterns = training_patterns(read_lesions(bundled_data_path(), require_outcome=True), priors)
    return build_model(patterns, priors, sites)


def mode_compile() -> None:
    """Compile the same model structure twice in this process: microcalc's cached wrappers, then nutpie's own."""
    t = time.perf_counter()
    import nutpie

    from microcalc.modelling.compiled import compile_model, uses_cached_wrappers

    model = _bundled_model()
    out: dict = {"import_and_build_s": time.perf_counter() - t}
    for label, compile_fn in (
        ("microcalc", compile_model),
        ("nutpie", lambda m: nutpie.compile_pymc_model(m, backend="numba")),
    ):
        times, cached = [], []
        for _ in range(2):
            t = time.perf_counter()
            compiled = compile_fn(_bundled_model() if times else model)
            times.append(time.perf_counter() - t)
            cached.append(uses_cached_wrappers(compiled))
        out[label] = {"compile_first_s": times[0], "compile_second_s": times[1], "cached_wrappers": cached}
    print(json.dumps(out))


def mode_two_fits(draws: str, chains: str) -> None:
    """fit() twice on the bundled data in one process (the second structure-identical)."""
    from microcalc.io.readers import bundled_data_path, read_lesions
    from microcalc.modelling.fitting import fit

    frame = read_lesions(bundled_data_path(), require_outcome=True)
    times = []
    for seed in (1, 2):
        t = time.perf_counter()
        fit(frame, draws=int(draws), chains=int(chains), seed=seed)
        times.append(time.perf_counter() - t)
    print(json.dumps({"fit_first_s": times[0], "fit_second_s": times[1]}))


PHASES_FIT = {
    "read_lesions": ("readers.py", "read_lesions"),
    "design (encode + aggregate)": ("design.py", "aggregate"),
    "build_model": ("model.py", "build_model"),
    "compile (microcalc.modelling.compiled, cached wrappers)": ("compiled.py", "compile_model"),
    "nutpie sample": ("nutpie", "sample"),
    "log-likelihood (NumPy)": ("fitting.py", "log_likelihood_group"),
    "compute_log_prior": ("log_density.py", "compute_log_prior"),
    "sample_prior_predictive": ("forward.py", "sample_prior_predictive"),
    "check_convergence": ("diagnostics.py", "check_convergence"),
    "training_table": ("completion.py", "training_table"),
    "save": ("fitfile.py", "save_fit"),
}
# (module, attribute) -> label: the prediction's phases, timed by thread CPU in whichever thread runs them.
# predict.* names are the ones pattern_summaries calls.
PHASES_PREDICT = {
    ("batch.scoring", "PatternScorer.from_file"): "load fit (posterior + microcalc groups only)",
    ("batch.scoring", "open_scan"): "open the file (header, format; read into memory, or a lazy Polars scan)",
    (
        "batch.scoring",
        "scored_lesions",
    ): "pass 1 (distinct patterns, id counts; Polars threads not counted) + validation + scoring",
    ("batch.scoring", "_validated"): "  of which validation of the patterns (microcalc.io)",
    ("batch.scoring", "pattern_summaries"): "  of which per-pattern posterior (pattern_summaries)",
    ("modelling.predict", "complete"): "    of which completion of blanks",
    ("modelling.predict", "malignancy_probability"): "    of which model equation",
    ("modelling.predict", "summarise"): "    of which quantiles",
    (
        "batch.scoring",
        "write_lesions",
    ): "pass 2: each lesion its pattern's values, written (Polars threads not counted)",
}


def _timed_phases(phases: dict) -> dict[str, float]:
    """Wrap each phase's function so that its thread CPU time is added up; returns the running totals."""
    import importlib
    import threading

    totals = dict.fromkeys(phases.values(), 0.0)
    lock = threading.Lock()
    for (module, attribute), label in phases.items():
        owner = importlib.import_module(f"microcalc.{module}")
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)

        def timed(*args, _real=getattr(owner, name), _label=label, **kwargs):  # noqa: B008 (bound now, on purpose)
            start = time.thread_time()
            try:
                return _real(*args, **kwargs)
            finally:
                with lock:
                    totals[_label] += time.thread_time() - start

        bound_to_class = isinstance(vars(owner).get(name), classmethod)  # getattr gave it bound already
        setattr(owner, name, staticmethod(timed) if bound_to_class else timed)
    return totals


def _phases(stats: pstats.Stats, phases: dict) -> dict:
    """Cumulative seconds of named functions in a profile (first match by file and name)."""
    out = {}
    for label, (file, name) in phases.items():
        hits = [v[3] for (f, _, n), v in stats.stats.items() if n == name and file in f]
        out[label] = round(max(hits), 3) if hits else None
    return out


def _top(stats: pstats.Stats, key: str, n: int = 15) -> list[str]:
    buffer = io.StringIO()
    stats.stream = buffer
    stats.sort_stats(key).print_stats(n)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return lines[start : start + n + 1]


def profiled(label: str, work: Callable[[], None], phases: dict) -> None:
    """Run ``work`` under cProfile (imports included) and print its phases and top functions as JSON."""
    profile = cProfile.Profile()
    t = time.perf_counter()
    profile.enable()
    work()
    profile.disable()
    total = time.perf_counter() - t
    stats = pstats.Stats(profile)
    path = Path(tempfile.gettempdir()) / f"microcalc-bench-{label}.prof"
    stats.dump_stats(path)
    print(
        json.dumps(
            {
                "total_s": total,
                "phases_s": _phases(stats, phases),
                "top_cumulative": _top(stats, "cumulative"),
                "top_own_time": _top(stats, "tottime"),
                "profile_file": str(path),
            }
        )
    )


def mode_profile_fit(draws: str, chains: str) -> None:
    def work() -> None:
        from microcalc.io.readers import bundled_data_path, read_lesions
        from microcalc.modelling.fitting import fit

        result = fit(
            read_lesions(bundled_data_path(), require_outcome=True), draws=int(draws), chains=int(chains), seed=1
        )
        result.save(Path(tempfile.mkdtemp()) / "fit.nc")

    profiled("fit", work, PHASES_FIT)


def mode_profile_predict(fit_path: str, cases: str, out: str) -> None:
    """Imports, then each phase's CPU seconds (any thread) and the whole run's wall and CPU time, as JSON."""
    wall, cpu = time.perf_counter(), time.process_time()
    from microcalc.batch.scoring import predict_file

    imports = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    totals = _timed_phases(PHASES_PREDICT)
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predict_file(fit_path, cases, out)
    run_wall, run_cpu = time.perf_counter() - wall, time.process_time() - cpu
    own = sum(v for k, v in totals.items() if not k.startswith("  "))
    print(
        json.dumps(
            {
                "imports": imports,
                "run_wall_s": run_wall,
                "run_cpu_s": run_cpu,
                "phase_cpu_s": {k: round(v, 3) for k, v in totals.items()},
                "other_cpu_s (Polars threads: parsing, grouping, joining, writing; system time)": round(
                    run_cpu - own, 3
                ),
            }
        )
    )


MODES = {
    "_bambi": mode_bambi,
    "_read": mode_read,
    "_summary": mode_summary,
    "_pandas_read": mode_pandas_read,
    "_predict_inprocess": mode_predict_inprocess,
    "_compile": mode_compile,
    "_two_fits": mode_two_fits,
    "_profile_fit": mode_profile_fit,
    "_profile_predict": mode_profile_predict,
}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/microcalc-bench.json"), help="JSON of all figures")
    p.add_argument("--work", type=Path, default=None, help="folder for generated data and fits (default: temporary)")
    p.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--draws", type=int, default=1000, help="draws (= tuning steps) per chain (default 1000)")
    p.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: microcalc's own)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="runs of each timed fit; medians are compared")
    p.add_argument("--fit-rows", type=int, default=200_000)
    p.add_argument("--predict-rows", type=int, default=1_000_000)
    p.add_argument(
        "--bambi-sampler",
        default="pymc",
        choices=("pymc", "nutpie"),
        help="bambi inference_method (default: bambi's own default, PyMC NUTS)",
    )
    p.add_argument("--skip-bambi", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 200 draws x 2 chains, 20,000/50,000 rows")
    args = p.parse_args(argv)
    if args.quick:
        args.draws, args.chains, args.fit_rows, args.predict_rows, args.repeats = 200, 2, 20_000, 50_000, 1
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MODES:  # an internal mode in its own interpreter: library warnings are noise here
        warnings.simplefilter("ignore")
        MODES[argv[0]](*argv[1:])
        return 0
    args = parse(argv)
    from microcalc import DISCLAIMER
    from microcalc.io.atomic import write_text_atomic

    work = args.work or Path(tempfile.mkdtemp(prefix="microcalc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "quick": args.quick, "targets": TARGETS, "work": str(work)}
    say(
        f"microcalc benchmark on {results['machine']['cores']} cores, {results['machine']['ram_gb']} GB RAM "
        f"({results['machine']['cpu']}); load average {results['machine']['load_average_start']}"
    )
    for section in args.only:
        say(f"[{section}]")
        t = time.perf_counter()
        if section == "startup":
            results[section] = bench_startup(args, work)
        elif section == "fit":
            results[section] = bench_fit(args, work)
        elif section == "scale_fit":
            results[section] = bench_scale_fit(args, work, results.get("fit", {}).get("microcalc_fit"))
        elif section == "predict":
            results[section] = bench_predict(args, work)
        elif section == "compile":
            results[section] = bench_compile(args, work)
        elif section == "profile":
            results[section] = bench_profile(args, work)
        results[section]["section_s"] = time.perf_counter() - t
        say(json.dumps(results[section], indent=1, default=str))
        write_text_atomic(args.out, json.dumps(results, indent=1, default=str))  # partial results survive
    results["machine"]["load_average_end"] = os.getloadavg()
    results["note"] = DISCLAIMER
    write_text_atomic(args.out, json.dumps(results, indent=1, default=str))
    say(f"Figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
