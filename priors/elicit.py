"""Elicitation with PreliZ: prior parameters from stated ranges, compared with the stored ones.

Each prior's stated range ("90% of mass between 20% and 50%") is turned into distribution
parameters, and compared with the numbers stored in the prior file.

Run ``python -m microcalc.priors [FILE]`` to print the comparison after editing a range.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

_TO_LOGIT = {
    "probability": lambda p: math.log(p / (1.0 - p)) if 0.0 < p < 1.0 else (-math.inf if p <= 0 else math.inf),
    "odds_ratio": math.log,
    "logit": lambda x: x,
}


@dataclass(frozen=True)
class Elicited:
    """One elicited prior: where it sits in the file, what is stored and what PreliZ finds."""

    entry: str
    distribution: str
    stored: tuple[float, float]
    elicited: tuple[float, float]

    @property
    def max_abs_difference(self) -> float:
        """Largest absolute difference between a stored and the elicited parameter."""
        return max(abs(a - b) for a, b in zip(self.stored, self.elicited))


def elicit(distribution: str, lower: float, upper: float, mass: float, scale: str = "logit") -> tuple[float, float]:
    """Maximum-entropy (mu, sigma) of ``distribution`` holding ``mass`` between lower and upper."""
    import preliz as pz

    lo, hi = _TO_LOGIT[scale](lower), _TO_LOGIT[scale](upper)
    if distribution == "HalfNormal":
        dist = pz.HalfNormal()
        pz.maxent(dist, max(lo, 0.0), hi, mass, plot=False)
        return 0.0, float(dist.sigma)
    dist = {"Normal": pz.Normal, "LogNormal": pz.LogNormal}[distribution]()
    pz.maxent(dist, lo, hi, mass, plot=False)
    return float(dist.mu), float(dist.sigma)


def _walk(node: dict, prefix: str = ""):
    """Yield (entry name, table) for every table that carries an ``elicit`` range."""
    for key, value in node.items():
        if not isinstance(value, dict):
            continue
        name = f"{prefix}{key}"
        if "elicit" in value and "distribution" in value:
            yield name, value
        else:
            yield from _walk(value, f"{name}.")


def _ranges(entry: dict) -> list[tuple[str, dict, float, float]]:
    """(suffix, range, stored mu, stored sigma) per elicited parameter of an entry."""
    rng = entry["elicit"]
    if "lower" in rng:
        return [("", rng, float(entry.get("mu", 0.0)), float(entry["sigma"]))]
    return [(f"[{lvl}]", r, float(entry["mu"][lvl]), float(entry["sigma"][lvl])) for lvl, r in rng.items()]


def elicit_all(path: str | Path | None = None) -> list[Elicited]:
    """Re-elicit every prior with a stated range in a prior file."""
    from microcalc.priors import default_priors_path

    raw = tomllib.loads(Path(path or default_priors_path()).read_text(encoding="utf-8"))
    out = []
    for name, entry in _walk(raw):
        for suffix, rng, mu, sigma in _ranges(entry):
            got = elicit(entry["distribution"], rng["lower"], rng["upper"], rng["mass"], rng.get("scale", "logit"))
            out.append(Elicited(name + suffix, entry["distribution"], (mu, sigma), got))
    return out


def format_table(rows: list[Elicited]) -> str:
    """Plain-text table of stored vs elicited parameters."""
    lines = [f"{'prior':34} {'distribution':12} {'stored mu, sigma':>20} {'PreliZ mu, sigma':>20}"]
    for r in rows:
        flag = "" if r.max_abs_difference < 0.02 else "   <- update the file"
        lines.append(
            f"{r.entry:34} {r.distribution:12} {r.stored[0]:9.3f} {r.stored[1]:9.3f}"
            f" {r.elicited[0]:9.3f} {r.elicited[1]:9.3f}{flag}"
        )
    return "\n".join(lines)
