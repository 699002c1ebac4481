"""Level-effect centres of a prior file derived from the studies table (``level_centres = "studies"``).

A prior file such as ``priors/synthesis.toml`` stores, for every morphology and distribution level with
rows in ``priors/studies.csv`` from **at least two studies**, the PPV that is the centre of that level's
meta-analytic-predictive (MAP) prior: ``ppv = expit(mean of the MAP mixture on the logit scale)``, the
predictive for a *new* study of the random-effects meta-analysis (:mod:`microcalc.synthesis.meta`).
The reference rate is derived the same way from the ``overall`` rows (21 studies): ``reference_ppv =
expit(MAP mean of the overall rate)``, so a level whose literature rate equals a typical series' overall
rate has contrast 0 and the intercept prior (a biopsied cluster, 20-50%) speaks for it.

Levels with one study only keep the hand-set figure: with a single study the between-study SD is its
prior alone (the synthesis says so in the provenance), so the MAP centre is that study's rate, e.g.
round 3/15 among women aged >= 70 (Grimm 2017), which is not a better centre than the atlas' "typically
benign" 2%. Levels with no rows (punctate, diffuse, most benign forms) are hand-set too.

The numbers are written into the prior file (with ``origin = "studies"`` and the provenance), not
recomputed at load time: loading a prior file stays instant, a fit file (which stores the prior text)
is self-contained, and :func:`check_prior_file` (run by the tests) says if the stored numbers no longer
match a fresh synthesis of the table, as ``python -m microcalc.priors`` does for PreliZ elicitation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microcalc.io import schema
from microcalc.synthesis._numerics import expit
from microcalc.synthesis.meta import MetaSpec, level_priors

MIN_STUDIES = 2
HAND_SET_NOTE = "hand-set (fewer than 2 studies in studies.csv): "
PPV_DIGITS = 4
DESCRIPTORS: tuple[str, ...] = ("morphology", "distribution")


@dataclass(frozen=True)
class DerivedCentre:
    """A level's MAP-derived PPV, the studies behind it and its provenance text."""

    descriptor: str
    level: str
    ppv: float
    studies: tuple[str, ...]
    provenance: str


def derived_centres(studies_path: str | Path | None = None, spec: MetaSpec = MetaSpec()
                    ) -> tuple[DerivedCentre, dict[tuple[str, str], DerivedCentre]]:
    """The reference rate and every level whose MAP prior rests on >= ``MIN_STUDIES`` studies.

    Returns
    -------
    reference, levels
        ``reference`` from the overall rows; ``levels`` keyed (descriptor, level).
    """
    priors = level_priors(studies_path, spec)

    def centre(key: str, descriptor: str, level: str) -> DerivedCentre:
        pr = priors[key]
        ppv = round(float(expit(pr.map_prior.mean())), PPV_DIGITS)
        text = (f"MAP prior for a new study, logit mean {pr.map_prior.mean():.3f} "
                f"(90% predictive {100 * pr.map_prior.rate_interval(0.9)[0]:.0f}-"
                f"{100 * pr.map_prior.rate_interval(0.9)[1]:.0f}%): {pr.provenance}")
        return DerivedCentre(descriptor, level, ppv, pr.studies, text)

    reference = centre("overall.all", "overall", "all")
    levels = {}
    for d in DESCRIPTORS:
        for lvl in getattr(schema, d.upper()):
            pr = priors.get(f"{d}.{lvl}")
            if pr is not None and pr.source == "meta-analysis" and len(pr.studies) >= MIN_STUDIES:
                levels[(d, lvl)] = centre(f"{d}.{lvl}", d, lvl)
    return reference, levels


def check_prior_file(priors, studies_path: str | Path | None = None) -> list[str]:
    """Differences between a ``level_centres = "studies"`` prior set and a fresh synthesis (empty: none).

    Checks that every level with >= 2 studies is marked ``origin = "studies"`` with the derived PPV (to
    :data:`PPV_DIGITS` decimals), that no other level is so marked, and the reference rate.
    """
    reference, levels = derived_centres(studies_path)
    problems = []
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
    return problems


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def refresh_text(text: str, studies_path: str | Path | None = None) -> str:
    """The prior file ``text`` with its derived numbers rewritten from a fresh synthesis of the table.

    Rewrites ``reference_ppv`` and, in every ``[morphology.X]`` / ``[distribution.X]`` block of a level
    with >= 2 studies, the ``ppv``, ``origin`` and ``source`` lines; levels without enough studies get
    ``origin = "hand-set"`` and keep their ``ppv`` and ``source``. Other lines are left alone.
    """
    import re

    reference, levels = derived_centres(studies_path)
    out, block = [], None
    for line in text.splitlines():
        head = re.match(r"^\[(morphology|distribution)\.([a-z_]+)\]\s*$", line)
        if head:
            block = (head.group(1), head.group(2))
            out.append(line)
            derived = levels.get(block)
            out.append(f'origin = "{"studies" if derived else "hand-set"}"')
            if derived:
                out.append(f"ppv = {derived.ppv}")
                out.append(f"source = {_toml_string(derived.provenance)}")
            continue
        if line.startswith("["):
            block = None
        if re.match(r"^reference_ppv\s*=", line):
            out.append(f"reference_ppv = {reference.ppv}")
            continue
        if block is not None and re.match(r"^(origin|ppv|source)\s*=", line):
            if re.match(r"^origin\s*=", line) or block in levels:
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
