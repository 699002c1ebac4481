"""Published malignancy rates that answers are checked against (not priors: those live in priors/).

Each entry is the range a careful reader would accept for P(malignant) of a *biopsied* lesion in
that category, with its source (see shared literature notes; ✔ = read in the source's own text).
The report prints them beside the posterior; the prior predictive check asserts the prior lands there.
"""

from __future__ import annotations

from dataclasses import dataclass

from microcalc.io.schema import MORPHOLOGY_BENIGN


@dataclass(frozen=True)
class PublishedRate:
    """A published range of the malignancy rate for one category."""

    low: float
    high: float
    source: str


GROUPED_CLUSTER = PublishedRate(
    0.20,
    0.50,
    "biopsy series: 20–50%, about 30% in one large study (Burnside 2007 22.8% ✔; Eur J Radiol 2017 32% ✔; Menezes 2018 45% ✔)",
)

BIRADS: dict[str, PublishedRate] = {
    "2": PublishedRate(0.0, 0.02, "ACR BI-RADS 5th ed.: essentially 0% ✔"),
    "3": PublishedRate(0.0, 0.32, "ACR atlas ≤ 2% ✔; biopsied 3s up to 32% (Menezes 2018 ✔)"),
    "4": PublishedRate(0.15, 0.40, "BI-RADS 4 clusters 15–40% (project brief; Liberman 1998 34% ✔)"),
    "4A": PublishedRate(0.02, 0.18, "atlas >2–10% ✔; series 7–18% (Youk ✔, Eur J Radiol 2017 ✔, Kim J 2018 ✔)"),
    "4B": PublishedRate(0.10, 0.50, "atlas >10–50% ✔; series 15–27%"),
    "4C": PublishedRate(0.45, 0.95, "atlas >50–<95% ✔; series 45–63% (Youk ✔, Eur J Radiol 2017 ✔)"),
    "5": PublishedRate(0.80, 1.0, "series 80–90% (Menezes 2018 ✔, Youk ✔); atlas ≥ 95% ✔; brief > 90%"),
}

MORPHOLOGY: dict[str, PublishedRate] = {
    "fine_linear": PublishedRate(0.68, 0.86, "Rominger 2012 78% (68–86) ✔; atlas 70% ✔"),
    "fine_pleomorphic": PublishedRate(0.29, 0.58, "Rominger 2012 50% (43–58) ✔; atlas 29% ✔"),
    "amorphous": PublishedRate(0.05, 0.33, "Rominger 2012 27% (21–33) ✔; series 5–28% ✔"),
    "coarse_heterogeneous": PublishedRate(0.07, 0.20, "Rominger 2012 13% (7–20) ✔"),
    "punctate": PublishedRate(0.01, 0.13, "Rominger 2012 9% (6–13) ✔; follow-up subgroup 0.5% ✔"),
    **{k: PublishedRate(0.0, 0.05, "typically benign: 2% (Eur J Radiol 2017 ✔)") for k in MORPHOLOGY_BENIGN},
}

DISTRIBUTION: dict[str, PublishedRate] = {
    "diffuse": PublishedRate(0.0, 0.05, "Choi 2021 2.6% ✔; Kim D 2023 0% ✔"),
    "regional": PublishedRate(0.03, 0.33, "Kim J 2018 13% ✔; Eur J Radiol 2017 33% ✔"),
    "grouped": PublishedRate(0.05, 0.22, "Eur J Radiol 2017 22% ✔; Kim J 2018 16% ✔"),
    "linear": PublishedRate(0.55, 0.81, "Eur J Radiol 2017 55% ✔; Liberman 1998 68–81% ✔"),
    "segmental": PublishedRate(0.42, 0.74, "Eur J Radiol 2017 42% ✔; Liberman 1998 74% ✔"),
}

BY_GROUP: dict[str, dict[str, PublishedRate]] = {
    "morphology": MORPHOLOGY,
    "distribution": DISTRIBUTION,
    "birads": BIRADS,
}

# Ranges a single-finding prediction (every other covariate blank, new site) must land in, prior
# and posterior alike: the union of published series as set out in the model issue. Checked by the
# prior predictive test and the posterior acceptance test.
CHECK_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("morphology", "fine_linear"): (0.50, 0.92),
    ("morphology", "fine_pleomorphic"): (0.25, 0.65),
    ("morphology", "amorphous"): (0.08, 0.40),
    ("morphology", "punctate"): (0.02, 0.30),
    ("morphology", "rim"): (0.0, 0.05),
    ("morphology", "vascular"): (0.0, 0.05),
    ("distribution", "linear"): (0.40, 0.85),
    ("distribution", "grouped"): (0.20, 0.50),
    ("birads", "2"): (0.0, 0.05),
    ("birads", "4"): (0.15, 0.50),
    ("birads", "5"): (0.80, 1.0),
}
