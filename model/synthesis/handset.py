"""Hand-set priors: the published figure behind each model level that has no row in the studies table.

Punctate, diffuse, BI-RADS 2 and most typically benign forms are not reported with lesion counts in
the table's series, so their prior cannot come from the meta-analysis. Each gets a published point
estimate of its malignancy rate and the SE of its logit, with the source quoted; the level priors
(:func:`microcalc.synthesis.levelpriors.build_priors`) widen it by the between-study SD of the same
finding so that it too is a prior for a new study. Kept apart so the judgements are in one short table.
"""

from __future__ import annotations

from dataclasses import dataclass

from microcalc.io.schema import MORPHOLOGY_BENIGN
from microcalc.synthesis.levels import Unit


@dataclass(frozen=True)
class HandSet:
    """A hand-set prior for a level with no rows: published point estimate and SE of its logit."""

    rate: float
    se: float
    source: str


_BENIGN_FORMS_SOURCE = (
    "hand-set: ACR BI-RADS atlas, typically benign; Eur J Radiol 2017;86:221 4th-edition "
    "typically benign group 2% (1/55; SE of the logit 0.83), the form not reported separately"
)
HAND_SET: dict[Unit, HandSet] = {
    ("morphology", "punctate"): HandSet(
        0.09,
        0.217,
        "hand-set: Rominger 2012 meta-analysis, round/punctate 9% (6-13%), 40 studies; no lesion counts, so not a row",
    ),
    ("distribution", "diffuse"): HandSet(
        0.03,
        0.7,
        "hand-set: Choi 2021 diffuse amorphous 2.6% (reader-averaged, n not "
        "given), Kim D 2023 diffuse 0%; ACR atlas typically benign; SE judgement",
    ),
    ("birads", "2"): HandSet(
        0.005, 1.0, "hand-set: ACR BI-RADS 5th ed., category 2 essentially 0% malignant; centre 0.5%, SE judgement"
    ),
    **{("morphology", form): HandSet(0.02, 0.83, _BENIGN_FORMS_SOURCE) for form in MORPHOLOGY_BENIGN},
}

__all__ = ["HandSet", "HAND_SET"]
