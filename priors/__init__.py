"""Prior specifications: the TOML files in this folder and the loader that turns them into dataclasses.

Every prior the model uses is read from one file (``default.toml`` unless the user passes another).
Each entry carries its distribution, the published figure it rests on and the citation, so a
statistician can change a prior in one place. Scenario files for sensitivity analysis live beside it.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from microcalc.io.errors import LesionInputError

# Ordinal steps between adjacent BI-RADS slots, lowest first; 4B is the reference (0).
BIRADS_STEPS_BELOW_4B: tuple[str, ...] = ("step_4A_to_4B", "step_3_to_4A", "step_2_to_3")
BIRADS_STEPS_ABOVE_4B: tuple[str, ...] = ("step_4B_to_4C", "step_4C_to_5")
BINARY_COVARIATES_ORDER: tuple[str, ...] = (
    "breast_density",
    "cluster_density",
    "size_variability",
    "calc_count",
    "change",
    "brca",
    "tp53",
    "family_history",
    "postmenopausal",
    "hrt",
)


@dataclass(frozen=True)
class Prior:
    """One scalar prior: a PyMC distribution name with its parameters, and where it comes from."""

    distribution: str
    mu: float = 0.0
    sigma: float = 1.0
    figure: str = ""
    source: str = ""
    elicit: dict | None = None
    alpha: float | None = None  # Beta only
    beta: float | None = None

    def describe(self) -> str:
        """Short text such as 'Normal(-0.69, 0.42)' for tables and reports."""
        if self.distribution == "HalfNormal":
            return f"HalfNormal({self.sigma:.3g})"
        if self.distribution == "Beta":
            return f"Beta({self.alpha:.3g}, {self.beta:.3g})"
        return f"{self.distribution}({self.mu:.3g}, {self.sigma:.3g})"

    def mean(self) -> float:
        """Prior mean (Normal, Beta, LogNormal, HalfNormal)."""
        if self.distribution == "Beta":
            alpha, beta = self.beta_parameters()
            return alpha / (alpha + beta)
        if self.distribution == "LogNormal":
            return math.exp(self.mu + 0.5 * self.sigma**2)
        if self.distribution == "HalfNormal":
            return self.sigma * math.sqrt(2.0 / math.pi)
        return self.mu

    def beta_parameters(self) -> tuple[float, float]:
        """(alpha, beta) of a Beta prior."""
        if self.alpha is None or self.beta is None:
            raise ValueError(f"{self.distribution} prior has no Beta alpha and beta")
        return self.alpha, self.beta


@dataclass(frozen=True)
class RobustDeviation:
    """Level deviations as a two-normal scale mixture: (1 - weight) N(0, sd) + weight N(0, scale * sd).

    The wide component lets a level whose data contradict the literature centre leave it without
    pulling the level SD (and so every other level) along: a robust hierarchical prior in the sense of
    Schmidli et al. (2014), written as a scale mixture so that the non-centred z (effect = mean + sd * z,
    z ~ (1 - weight) N(0, 1) + weight N(0, scale)) does not depend on sd.
    """

    weight: float
    scale: float
    source: str = ""
    nu: float | None = None  # if set: Student-t deviations with nu degrees of freedom instead of the mixture


@dataclass(frozen=True)
class LevelPrior:
    """A descriptor level (e.g. fine_pleomorphic): its lexicon group and published PPV."""

    level: str
    group: str
    ppv: float
    source: str = ""
    origin: str = "hand-set"  # "studies": ppv derived from priors/studies.csv (microcalc.synthesis.priorfile)
    centre_sd: float = 0.0  # uncertainty (logit SD) of the published rate itself; 0: taken as exact


@dataclass(frozen=True)
class DescriptorPriors:
    """Morphology or distribution: level PPVs pooled around a benign and a suspicious group mean."""

    levels: dict[str, LevelPrior]
    group_shift: Prior
    level_sd: Prior

    @property
    def groups(self) -> tuple[str, ...]:
        """The two lexicon groups whose means the levels are pooled around."""
        return ("benign", "suspicious")


@dataclass(frozen=True)
class CovariatePrior:
    """A categorical covariate as log-odds ratios against a reference level.

    ``prevalence`` centres the covariate so that a blank cell contributes zero: exactly what a
    model that never saw the covariate would give.
    """

    name: str
    reference: str
    prevalence: dict[str, float]
    mu: dict[str, float]
    sigma: dict[str, float]
    figure: str = ""
    source: str = ""

    @property
    def levels(self) -> tuple[str, ...]:
        """Non-reference levels, each one model coefficient."""
        return tuple(self.mu)


@dataclass(frozen=True)
class PriorSet:
    """Everything the model needs from a prior file."""

    name: str
    description: str
    conditional_scale: float | Prior
    reference_ppv: float
    intercept: Prior
    site_sd: Prior
    morphology: DescriptorPriors
    distribution: DescriptorPriors
    birads_steps: dict[str, Prior]
    birads_category_0: Prior
    category4_mix: dict[str, float]
    age_per_decade: Prior
    age_centre: float
    covariates: dict[str, CovariatePrior]
    not_recorded: Prior
    level_deviation: RobustDeviation | None = None
    level_centres: str = "hand-set"
    path: str = ""
    text: str = field(default="", repr=False)

    def coefficient_names(self) -> list[str]:
        """Names of the covariate coefficients, e.g. 'change[new]', then 'age_per_decade'."""
        names = [f"{c.name}[{lvl}]" for c in self.covariates.values() for lvl in c.levels]
        return [*names, "age_per_decade"]

    def coefficient_priors(self) -> tuple[list[float], list[float]]:
        """Prior means and SDs aligned with :meth:`coefficient_names`."""
        mus = [c.mu[lvl] for c in self.covariates.values() for lvl in c.levels]
        sds = [c.sigma[lvl] for c in self.covariates.values() for lvl in c.levels]
        return [*mus, self.age_per_decade.mu], [*sds, self.age_per_decade.sigma]

    @property
    def scale_is_random(self) -> bool:
        """True when the marginal-to-conditional scale is a model parameter (a prior), not a number."""
        return isinstance(self.conditional_scale, Prior)

    @property
    def scale_prior(self) -> Prior | None:
        """The prior of a learned conditional scale; None when the scale is a fixed number."""
        return self.conditional_scale if isinstance(self.conditional_scale, Prior) else None

    @property
    def scale_value(self) -> float:
        """The fixed conditional scale, or the prior mean of the learned one."""
        scale = self.conditional_scale
        return scale.mean() if isinstance(scale, Prior) else float(scale)

    def literature_contrast(self, descriptor: str) -> dict[str, float]:
        """Each level's published log-odds contrast: logit ppv - logit reference (before scaling)."""
        spec = self.morphology if descriptor == "morphology" else self.distribution
        ref = _logit(self.reference_ppv)
        return {k: _logit(v.ppv) - ref for k, v in spec.levels.items()}

    def centre_sd(self, descriptor: str) -> dict[str, float]:
        """Each level's ``centre_sd``: the logit SD of its published rate (0 where the file gives none)."""
        spec = self.morphology if descriptor == "morphology" else self.distribution
        return {k: v.centre_sd for k, v in spec.levels.items()}

    def literature_logit(self, descriptor: str) -> dict[str, float]:
        """Prior mean of each level's effect before pooling: scale * (logit ppv - logit reference).

        With a learned scale (:attr:`scale_is_random`) this uses the scale's prior mean; the model
        multiplies by the scale parameter itself.
        """
        return {k: self.scale_value * v for k, v in self.literature_contrast(descriptor).items()}

    def structure(self) -> tuple:
        """What decides the model's free parameters beyond the level lists (equal: PSIS can compare)."""
        return (self.scale_is_random, self.level_deviation is not None)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


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


def _descriptor(raw: dict, key: str) -> DescriptorPriors:
    levels = {
        name: LevelPrior(
            name,
            v["group"],
            float(v["ppv"]),
            v.get("source", ""),
            v.get("origin", "hand-set"),
            float(v.get("centre_sd", 0.0)),
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
        level_centres=str(meta.get("level_centres", "hand-set")),
        path=path,
        text=text,
    )
