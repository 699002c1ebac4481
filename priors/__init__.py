"""Prior specifications: the TOML files in this folder and the loader that turns them into dataclasses.

The dataclasses themselves are :mod:`microcalc.priors.specs`. Every prior the model uses is read from one file (``default.toml`` unless the user passes another).
Each entry carries its distribution, the published figure it rests on and the citation, so a
statistician can change a prior in one place. Scenario files for sensitivity analysis live beside it.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path

from microcalc.io.errors import LesionInputError
from microcalc.priors.specs import (  # noqa: F401  (re-exported: the public names of the prior classes)
    BINARY_COVARIATES_ORDER,
    BIRADS_STEPS_ABOVE_4B,
    BIRADS_STEPS_BELOW_4B,
    CovariatePrior,
    DescriptorPriors,
    LevelPrior,
    Prior,
    PriorSet,
    PublishedFigure,
    RobustDeviation,
)


def default_priors_path() -> Path:
    """The bundled default prior file."""
    return Path(str(resources.files("microcalc.priors").joinpath("default.toml")))


def scenario_paths() -> dict[str, Path]:
    """Every bundled prior file by name (default plus sensitivity scenarios)."""
    folder = resources.files("microcalc.priors")
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load_priors(path: str | Path | None = None) -> PriorSet:
    """Read a prior file (default: the bundled literature priors) into a :class:`PriorSet`.

    Every prior the model uses comes from one TOML file, with its published figure and citation, so a
    statistician can change a prior in one place and pass the copy with ``--priors FILE``.

    Parameters
    ----------
    path
        A prior file; None for the bundled ``default.toml``.

    Returns
    -------
    PriorSet
        The priors, with the file's path and text (stored in a fit, so the fit is reproducible).

    Raises
    ------
    LesionInputError
        The file is missing, not valid TOML, lacks an entry or has a malformed one.
    """
    path = Path(path) if path is not None else default_priors_path()
    if not path.is_file():
        raise LesionInputError(str(path), "prior file not found")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LesionInputError(str(path), f"not valid TOML ({exc})") from None
    try:
        return _prior_set(raw, str(path), text)
    except KeyError as exc:
        raise LesionInputError(str(path), f"missing prior entry {exc}") from None
    except (TypeError, ValueError) as exc:
        raise LesionInputError(str(path), f"malformed prior entry ({exc})") from None


def prior_set_from_text(text: str, name: str = "<stored>") -> PriorSet:
    """Rebuild a :class:`PriorSet` from the TOML text stored inside a fit file."""
    return _prior_set(tomllib.loads(text), name, text)


def _scalar(entry: dict) -> Prior:
    if entry["distribution"] == "Beta":
        alpha, beta = float(entry["alpha"]), float(entry["beta"])
        if not (alpha > 0 and beta > 0):
            raise ValueError(f"Beta alpha and beta must be positive, got {alpha}, {beta}")
        return Prior(
            "Beta",
            alpha / (alpha + beta),
            math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1))),
            entry.get("figure", ""),
            entry.get("source", ""),
            entry.get("elicit"),
            alpha,
            beta,
        )
    return Prior(
        distribution=entry["distribution"],
        mu=float(entry.get("mu", 0.0)),
        sigma=float(entry["sigma"]),
        figure=entry.get("figure", ""),
        source=entry.get("source", ""),
        elicit=entry.get("elicit"),
    )


def _conditional_scale(raw: dict) -> float | Prior:
    """A number in [meta], or a [conditional_scale] table: then a model parameter with that prior."""
    if "conditional_scale" in raw:
        prior = _scalar(raw["conditional_scale"])
        if prior.distribution != "Beta":
            raise ValueError("conditional_scale: a learned scale takes a Beta prior (it lies between 0 and 1)")
        return prior
    return float(raw["meta"]["conditional_scale"])


def _level_deviation(raw: dict) -> RobustDeviation | None:
    entry = raw.get("level_deviation")
    if entry is None:
        return None
    if "nu" in entry:
        nu = float(entry["nu"])
        if not nu > 0:
            raise ValueError(f"level_deviation.nu must be positive, got {nu}")
        return RobustDeviation(0.0, 1.0, entry.get("source", ""), nu)
    weight, scale = float(entry["robust_weight"]), float(entry["robust_scale"])
    if not 0.0 < weight < 1.0:
        raise ValueError(f"level_deviation.robust_weight must lie in (0, 1), got {weight}")
    if not scale > 1.0:
        raise ValueError(f"level_deviation.robust_scale must exceed 1, got {scale}")
    return RobustDeviation(weight, scale, entry.get("source", ""))


def _published(name: str, entry: dict | None) -> PublishedFigure | None:
    if entry is None:
        return None
    fig = PublishedFigure(
        float(entry["ppv"]),
        float(entry["lower"]),
        float(entry["upper"]),
        str(entry.get("cite", "")),
        tuple(entry.get("overlap", ())),
    )
    if not 0.0 < fig.lower < fig.ppv < fig.upper < 1.0:
        raise ValueError(f"{name}.published: need 0 < lower < ppv < upper < 1, got {fig.lower}, {fig.ppv}, {fig.upper}")
    return fig


def _descriptor(raw: dict, key: str) -> DescriptorPriors:
    levels = {
        name: LevelPrior(
            name,
            v["group"],
            float(v["ppv"]),
            v.get("source", ""),
            v.get("origin", "hand-set"),
            float(v.get("centre_sd", 0.0)),
            _published(f"{key}.{name}", v.get("published")),
        )
        for name, v in raw[key].items()
    }
    for lp in levels.values():
        if lp.group not in ("benign", "suspicious"):
            raise ValueError(f"{key}.{lp.level}: group must be benign or suspicious, got {lp.group!r}")
        if not lp.centre_sd >= 0.0:
            raise ValueError(f"{key}.{lp.level}: centre_sd must be >= 0, got {lp.centre_sd}")
        if not 0.0 < lp.ppv < 1.0:
            raise ValueError(f"{key}.{lp.level}: ppv must lie strictly between 0 and 1, got {lp.ppv}")
    return DescriptorPriors(levels, _scalar(raw[f"{key}_group_shift"]), _scalar(raw[f"{key}_sd"]))


def _covariate(name: str, entry: dict) -> CovariatePrior:
    mu = {k: float(v) for k, v in entry["mu"].items()}
    sigma = {k: float(v) for k, v in entry["sigma"].items()}
    if set(mu) != set(sigma):
        raise ValueError(f"covariates.{name}: mu and sigma name different levels")
    return CovariatePrior(
        name=name,
        reference=entry["reference"],
        prevalence={k: float(v) for k, v in entry["prevalence"].items()},
        mu=mu,
        sigma=sigma,
        figure=entry.get("figure", ""),
        source=entry.get("source", ""),
    )


ORIGINS = ("hand-set", "studies")


def _origin(meta: dict, key: str) -> str:
    """Where a section's numbers come from: "hand-set" (default) or "studies" (derived from the table)."""
    value = str(meta.get(key, ORIGINS[0]))
    if value not in ORIGINS:
        raise ValueError(f"meta.{key} must be one of {', '.join(ORIGINS)}, got {value!r}")
    return value


def _prior_set(raw: dict, path: str, text: str) -> PriorSet:
    meta = raw["meta"]
    birads = raw["birads"]
    covs = raw["covariates"]
    age = covs["age_per_decade"]
    return PriorSet(
        name=meta["name"],
        description=meta.get("description", ""),
        conditional_scale=_conditional_scale(raw),
        reference_ppv=float(meta["reference_ppv"]),
        intercept=_scalar(raw["intercept"]),
        site_sd=_scalar(raw["site_sd"]),
        morphology=_descriptor(raw, "morphology"),
        distribution=_descriptor(raw, "distribution"),
        birads_steps={k: _scalar(birads[k]) for k in (*BIRADS_STEPS_BELOW_4B, *BIRADS_STEPS_ABOVE_4B)},
        birads_category_0=_scalar(birads["category_0"]),
        category4_mix={k: float(v) for k, v in birads["category4_mix"].items()},
        age_per_decade=_scalar(age),
        age_centre=float(age.get("centre", 55.0)),
        covariates={k: _covariate(k, covs[k]) for k in BINARY_COVARIATES_ORDER},
        not_recorded=_scalar(raw["not_recorded"]),
        level_deviation=_level_deviation(raw),
        level_centres=_origin(meta, "level_centres"),
        birads_steps_origin=_origin(meta, "birads_steps"),
        intercept_origin=_origin(meta, "intercept"),
        birads_derived=tuple(
            k for k in (*BIRADS_STEPS_BELOW_4B, *BIRADS_STEPS_ABOVE_4B) if birads[k].get("origin") == "studies"
        ),
        path=path,
        text=text,
    )
