"""The prior specifications as dataclasses: what one prior file says, entry by entry.

One class per kind of entry (a scalar prior, a descriptor level and its published figure, a covariate,
the robust deviations) and :class:`PriorSet`, the whole file. The loader that reads the TOML files into
them is the package itself (:mod:`microcalc.priors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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

    def sd(self) -> float:
        """Prior standard deviation (Normal, Beta, LogNormal, HalfNormal)."""
        if self.distribution == "Beta":
            alpha, beta = self.beta_parameters()
            n = alpha + beta
            return math.sqrt(alpha * beta / (n * n * (n + 1.0)))
        if self.distribution == "LogNormal":
            return math.sqrt(math.expm1(self.sigma**2)) * self.mean()
        if self.distribution == "HalfNormal":
            return self.sigma * math.sqrt(1.0 - 2.0 / math.pi)
        return self.sigma

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
class PublishedFigure:
    """A pooled published rate of a level (a meta-analysis' estimate and its 95% CI).

    In a file with ``level_centres = "studies"`` it is the prior of the level's within-study contrast
    that the studies table's series then update (:mod:`microcalc.synthesis.priorfile`). ``overlap``
    names the table's studies the figure may already pool (published before its search ended), which
    are then not counted a second time.
    """

    ppv: float
    lower: float
    upper: float
    cite: str = ""
    overlap: tuple[str, ...] = ()

    @property
    def se(self) -> float:
        """SE of the logit rate implied by the 95% interval (normal on the logit scale)."""
        return (_logit(self.upper) - _logit(self.lower)) / (2 * 1.959964)


@dataclass(frozen=True)
class LevelPrior:
    """A descriptor level (e.g. fine_pleomorphic): its lexicon group and published PPV."""

    level: str
    group: str
    ppv: float
    source: str = ""
    origin: str = "hand-set"  # "studies": ppv derived from priors/studies.csv (microcalc.synthesis.priorfile)
    centre_sd: float = 0.0  # uncertainty (logit SD) of the published rate itself; 0: taken as exact
    published: PublishedFigure | None = None  # pooled published rate the studies update (level_centres = "studies")


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
    birads_steps_origin: str = "hand-set"  # "studies": steps with >= 2 series from the table (synthesis.birads_steps)
    birads_derived: tuple[str, ...] = ()  # the steps marked origin = "studies"
    intercept_origin: str = "hand-set"  # "studies": from the table's overall and 4B rows (synthesis.intercept)
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
