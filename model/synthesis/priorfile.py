"""Level-effect centres of a prior file derived from the studies table (``level_centres = "studies"``).

A prior file such as ``priors/synthesis.toml`` stores, for every morphology and distribution level that
at least two studies of ``priors/studies.csv`` report beside other levels of the same finding:

* ``ppv = expit(m + c)``: m is the logit mean of the meta-analytic-predictive (MAP) prior of a new
  series' *overall* rate (random-effects meta-analysis of the overall rows, 21 studies;
  :mod:`microcalc.synthesis.meta`), and c the level's **within-study contrast**, the random-effects
  (DerSimonian-Laird) mean over studies of logit(level rate) - logit(rate of all the study's lesions
  of that finding) (:func:`microcalc.synthesis.contrasts.within_study_contrasts`). ``reference_ppv = expit(m)``, so the model's
  contrast logit ppv - logit reference is c itself.
* ``centre_sd``: the SE of c, the literature's own uncertainty about the level (model.level_scale).

**Why within-study contrasts rather than each level's own MAP mean.** The model's level effects are
contrasts *within* a site (site effects absorb case selection), while a level's MAP mean is confounded
by which studies report it: fine pleomorphic's rows come from a BI-RADS 4-5 series (Chulalongkorn,
74% overall) and a series of women aged >= 70, so its MAP mean (78%) sat above fine linear's (76%),
whereas within those same studies fine linear is the more malignant. Measured: with the MAP level means
as centres (first version of synthesis.toml) case-grouped CV log loss on DDSM was 0.4529 (0.4527 with
Student-t deviations only), the losses concentrated in fine linear and fine pleomorphic lesions. The
studies differ mainly by selection, which moves every level of a study together (the synthesis'
README caveat); the within-study contrast removes exactly that. The MAP prior is still what predicts a
*new series'* marginal rate, and it is used as such: for the reference rate here and for the clinical
population (:mod:`microcalc.modelling.clinical`).

Levels reported by one study only keep the hand-set figure (round 3/15 and dystrophic 0/9, both Grimm
2017, women aged >= 70), as do levels with no rows (punctate, diffuse, most benign forms), marked
``origin = "hand-set"``. Pooled rows (fine pleomorphic or linear, the 4th-edition groups) count towards
a study's reference but give no contrast of their own.

The numbers are written into the prior file (with ``origin = "studies"`` and the provenance), not
recomputed at load time: loading a prior file stays instant, a fit file (which stores the prior text)
is self-contained, and :func:`check_prior_file` (run by the tests) says if the stored numbers no longer
match a fresh synthesis of the table; ``python -m microcalc.synthesis.priorfile FILE`` refreshes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from microcalc.synthesis._numerics import expit
from microcalc.synthesis.contrasts import (
    DESCRIPTORS,
    StudyContrast,
    overall_reference,
    random_effects,
    within_study_contrasts,
)
from microcalc.synthesis.meta import MetaSpec

__all__ = ["DESCRIPTORS", "StudyContrast", "random_effects", "within_study_contrasts"]  # re-exported

MIN_STUDIES = 2
HAND_SET_NOTE = "hand-set (fewer than 2 studies in studies.csv): "
PPV_DIGITS = 4


@dataclass(frozen=True)
class DerivedCentre:
    """A level's MAP-derived PPV, the studies behind it and its provenance text."""

    descriptor: str
    level: str
    ppv: float
    studies: tuple[str, ...]
    provenance: str
    centre_sd: float = 0.0


def combine(prior: tuple[float, float], data: tuple[float, float]) -> tuple[float, float]:
    """Normal prior (mean, SE) of a contrast updated by a normal estimate (mean, SE): precision-weighted."""
    w0, w1 = prior[1] ** -2, data[1] ** -2
    return (w0 * prior[0] + w1 * data[0]) / (w0 + w1), (w0 + w1) ** -0.5


def published_contrast(figure, reference_logit: float) -> tuple[float, float]:
    """A pooled published rate as a contrast against the reference (a series of typical selection) and its SE."""
    return math.log(figure.ppv / (1 - figure.ppv)) - reference_logit, figure.se


def derived_centres(
    studies_path: str | Path | None = None, spec: MetaSpec = MetaSpec(), published: Mapping | None = None
) -> tuple[DerivedCentre, dict[tuple[str, str], DerivedCentre]]:
    """The reference rate (MAP of the overall rows) and the levels with enough within-study contrasts.

    A level needs contrasts from >= ``MIN_STUDIES`` studies; its ppv = expit(MAP overall logit mean +
    pooled contrast), its centre_sd = the SE of that. ``published`` maps (descriptor, level) to a
    :class:`microcalc.priors.PublishedFigure`: that level's pooled contrast is then the published figure
    (as a contrast against the reference, with its SE) updated by the table's studies, those the figure
    may already pool (``overlap``) left out; without enough other studies the level stays hand-set.

    Returns
    -------
    reference, levels
        ``reference`` from the overall rows; ``levels`` keyed (descriptor, level).
    """
    from microcalc.synthesis import studies as st

    published = published or {}
    table = st.load_studies(studies_path)
    rows, _ = st.likelihood_rows(table)
    overall = overall_reference(rows, spec).prior
    mu = overall.map_prior.mean()
    lo, hi = overall.map_prior.rate_interval(0.9)
    reference = DerivedCentre(
        "overall",
        "all",
        round(float(expit(mu)), PPV_DIGITS),
        overall.studies,
        f"MAP prior of a new series' overall rate, logit mean {mu:.3f} (90% predictive "
        f"{100 * lo:.0f}-{100 * hi:.0f}%): {overall.provenance}",
    )
    levels = {}
    for (d, lvl), found in within_study_contrasts(rows).items():
        figure = published.get((d, lvl))
        cs = [x for x in found if figure is None or x.study_id not in figure.overlap]
        if len(cs) < MIN_STUDIES:
            continue
        c, se, tau = random_effects([x.contrast for x in cs], [x.variance for x in cs])
        parts = ", ".join(
            f"{x.study_id} {x.malignant}/{x.total} vs {x.finding_malignant}/{x.finding_total}" for x in cs
        )
        text = (
            f"within-study contrast {c:+.3f} (SE {se:.3f}, tau {tau:.2f}; DerSimonian-Laird, {len(cs)} studies: "
            f"{parts})"
        )
        if figure is not None:
            c0, se0 = published_contrast(figure, mu)
            c, se = combine((c0, se0), (c, se))
            left_out = f"; {', '.join(figure.overlap)} left out, possibly pooled there" if figure.overlap else ""
            text = (
                f"{figure.cite or 'published'}: {100 * figure.ppv:.0f}% ({100 * figure.lower:.0f}-{100 * figure.upper:.0f}), contrast "
                f"{c0:+.3f} (SE {se0:.3f}), updated by the {text}{left_out}: contrast {c:+.3f} (SE {se:.3f})"
            )
        levels[(d, lvl)] = DerivedCentre(
            d,
            lvl,
            round(float(expit(mu + c)), PPV_DIGITS),
            tuple(x.study_id for x in cs),
            f"{text} added to the overall MAP logit mean {mu:.3f}",
            round(se, 3),
        )
    return reference, levels


def published_figures(priors) -> dict[tuple[str, str], object]:
    """The ``published`` figure of every level of a prior set that has one, keyed (descriptor, level)."""
    return {
        (d, lvl): lp.published
        for d in DESCRIPTORS
        for lvl, lp in getattr(priors, d).levels.items()
        if lp.published is not None
    }


def check_prior_file(priors, studies_path: str | Path | None = None) -> list[str]:
    """Differences between a ``level_centres = "studies"`` prior set and a fresh synthesis (empty: none).

    Checks that every level with >= 2 studies is marked ``origin = "studies"`` with the derived PPV (to
    :data:`PPV_DIGITS` decimals), that no other level is so marked, and the reference rate.
    """
    from microcalc.synthesis.birads_steps import check_steps
    from microcalc.synthesis.intercept import check_intercept

    reference, levels = derived_centres(studies_path, published=published_figures(priors))
    problems = check_steps(priors, studies_path) + check_intercept(priors, studies_path)
    if abs(priors.reference_ppv - reference.ppv) > 0.5 * 10**-PPV_DIGITS:
        problems.append(f"reference_ppv {priors.reference_ppv} != derived {reference.ppv}")
    for d in DESCRIPTORS:
        for lvl, lp in getattr(priors, d).levels.items():
            derived = levels.get((d, lvl))
            if derived is None:
                if lp.origin == "studies":
                    problems.append(f"{d}.{lvl} is marked origin = studies but has fewer than {MIN_STUDIES} studies")
            elif lp.origin != "studies":
                problems.append(f"{d}.{lvl} has {len(derived.studies)} studies but is hand-set")
            elif abs(lp.ppv - derived.ppv) > 0.5 * 10**-PPV_DIGITS:
                problems.append(f"{d}.{lvl} ppv {lp.ppv} != derived {derived.ppv}")
            elif abs(lp.centre_sd - derived.centre_sd) > 5e-4:
                problems.append(f"{d}.{lvl} centre_sd {lp.centre_sd} != derived {derived.centre_sd}")
    return problems


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def refresh_text(text: str, studies_path: str | Path | None = None) -> str:
    """The prior file ``text`` with its derived numbers rewritten from a fresh synthesis of the table.

    Rewrites ``reference_ppv`` and, in every ``[morphology.X]`` / ``[distribution.X]`` block of a level
    with >= 2 studies, the ``ppv``, ``origin``, ``centre_sd`` and ``source`` lines; levels without enough
    studies get ``origin = "hand-set"`` and keep their ``ppv`` and ``source``. A file that opts in
    (``[meta] birads_steps`` / ``intercept = "studies"``) also gets its derived BI-RADS steps
    (:mod:`microcalc.synthesis.birads_steps`) and intercept (:mod:`microcalc.synthesis.intercept`) as
    ``distribution``, ``mu``, ``sigma`` and ``source`` (its ``elicit`` line dropped). Other lines are left alone.
    """
    import re

    from microcalc.priors import prior_set_from_text

    priors = prior_set_from_text(text)
    reference, levels = derived_centres(studies_path, published=published_figures(priors))
    text = re.sub(r"(?m)^reference_ppv\s*=.*$", f"reference_ppv = {reference.ppv}", text)
    level_lines = {
        f"{d}.{lvl}": [f"ppv = {c.ppv}", f"centre_sd = {c.centre_sd}", f"source = {_toml_string(c.provenance)}"]
        for (d, lvl), c in levels.items()
    }
    text = _rewrite_blocks(text, r"(?:morphology|distribution)\.[a-z_]+", level_lines, ("ppv", "source", "centre_sd"))
    if priors.birads_steps_origin == "studies":
        from microcalc.synthesis.birads_steps import derived_steps

        steps = {
            f"birads.{name}": _distribution_lines("LogNormal", s.mu, s.sigma, s.provenance())
            for name, s in derived_steps(studies_path).items()
        }
        text = _rewrite_blocks(text, r"birads\.step_\w+", steps, _DISTRIBUTION_KEYS)
    if priors.intercept_origin == "studies":
        from microcalc.synthesis.intercept import derived_intercept

        i = derived_intercept(studies_path)
        lines = {"intercept": _distribution_lines("Normal", i.mu, i.sigma, i.provenance())}
        text = _rewrite_blocks(text, "intercept", lines, _DISTRIBUTION_KEYS)
    return text


_DISTRIBUTION_KEYS = ("distribution", "mu", "sigma", "source", "elicit")


def _distribution_lines(distribution: str, mu: float, sigma: float, source: str) -> list[str]:
    return [f'distribution = "{distribution}"', f"mu = {mu}", f"sigma = {sigma}", f"source = {_toml_string(source)}"]


def _rewrite_blocks(text: str, head: str, derived: Mapping[str, list[str]], owned: tuple[str, ...]) -> str:
    """Rewrite the TOML blocks whose header matches ``[head]``: one rewriter for every derived section.

    A block named in ``derived`` gets ``origin = "studies"`` and the given lines in place of its
    ``owned`` keys; any other matching block gets ``origin = "hand-set"`` and keeps its lines, its
    ``source`` prefixed with :data:`HAND_SET_NOTE`. Stale ``origin`` lines are dropped. Lines outside
    matching blocks are left alone.
    """
    import re

    header = re.compile(rf"^\[({head})\]\s*$")
    owned_line = re.compile(rf"^({'|'.join(owned)})\s*=")
    out: list[str] = []
    block = None
    for line in text.splitlines():
        if line.startswith("["):
            found = header.match(line)
            block = found.group(1) if found else None
            out.append(line)
            if block is not None:
                out.append(f'origin = "{"studies" if block in derived else "hand-set"}"')
                out += derived.get(block, [])
            continue
        if block is not None:
            if re.match(r"^origin\s*=", line) or (block in derived and owned_line.match(line)):
                continue
            if re.match(r"^source\s*=", line) and HAND_SET_NOTE not in line:
                line = re.sub(r'^source\s*=\s*"', f'source = "{HAND_SET_NOTE}', line)
        out.append(line)
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python -m microcalc.synthesis.priorfile FILE: refresh FILE's derived numbers in place
    import sys

    target = Path(sys.argv[1])
    target.write_text(refresh_text(target.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"refreshed {target}")
