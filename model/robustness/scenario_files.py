"""Scenario prior files: loading them, and whether a fit's draws can be reweighted to one.

A scenario is a prior file the headline answers are recomputed under (:mod:`microcalc.robustness.scenarios`).
This module finds the files (the bundled ones and the user's) and says when two prior files encode
lesions differently, which rules out reweighting the fit's posterior draws (then only a refit answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microcalc.priors import PriorSet, load_priors, scenario_paths

CI = 0.95  # credible-interval mass of every scenario answer
DESCRIPTORS: tuple[str, ...] = ("morphology", "distribution")


@dataclass(frozen=True)
class Scenario:
    """A named prior file to compare against the fit's priors."""

    name: str
    priors: PriorSet


def load_scenarios(extra: list[str | Path] | None = None) -> list[Scenario]:
    """The bundled prior files (default first) and any user files, named by file stem."""
    bundled = scenario_paths()
    paths = [bundled.pop("default"), *(bundled[k] for k in sorted(bundled)), *(Path(p) for p in extra or [])]
    out: list[Scenario] = []
    for path in paths:
        name, copy = Path(path).stem, 1
        while name in {s.name for s in out}:  # a user file named like a bundled one
            copy += 1
            name = f"{Path(path).stem} ({copy})"
        out.append(Scenario(name, load_priors(path)))
    return out


def design_difference(a: PriorSet, b: PriorSet) -> str | None:
    """Why two prior files encode lesions differently (None if they do not): reweighting needs equal designs."""
    if a.coefficient_names() != b.coefficient_names():
        return "different covariate levels"
    if a.category4_mix != b.category4_mix:
        return "different category4_mix"
    if a.age_centre != b.age_centre:
        return "different age centre"
    if any(a.covariates[k].prevalence != b.covariates[k].prevalence for k in a.covariates):
        return "different covariate prevalences"
    for d in DESCRIPTORS:
        if set(getattr(a, d).levels) != set(getattr(b, d).levels):
            return f"different {d} levels"
    return None
