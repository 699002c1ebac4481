"""The vocabulary of the studies table: its columns, findings and level words, and how levels map.

Shared by the loader (:mod:`microcalc.synthesis.studies`, which validates a table against these words)
and the mapping of rows to likelihood terms (:mod:`microcalc.synthesis.terms`, which applies the tables
below; the rules are explained there). A synthesis *unit* is a (finding, level) pair: a model level
(:data:`MODEL_LEVELS`) or a group unit (:data:`GROUP_UNITS`). Kept in a module of its own, with no
code beyond :func:`allowed_levels`, so that both can import it.
"""

from __future__ import annotations

from microcalc.io import schema

Unit = tuple[str, str]  # (finding, level)

REQUIRED_COLUMNS: tuple[str, ...] = ("study_id", "citation", "finding", "level", "malignant", "total", "checked")
FINDINGS: tuple[str, ...] = ("overall", "morphology", "distribution", "birads", "covariate")
SYNTHESIS_FINDINGS: tuple[str, ...] = ("overall", "morphology", "distribution", "birads")
CHECKED_MARK = "✔"

# Levels that are model parameters (units of the synthesis), per finding.
MODEL_LEVELS: dict[str, tuple[str, ...]] = {
    "overall": ("all",),
    "morphology": schema.MORPHOLOGY,
    "distribution": schema.DISTRIBUTION,
    "birads": ("2", "3", "4A", "4B", "4C", "5"),
}
# Group units: synthesised, reported, but not a single model level.
GROUP_UNITS: dict[str, tuple[str, ...]] = {"morphology": ("typically_benign",)}

# Pooled table levels: (finding, level) -> the model levels whose union it is, and why.
POOLED_LEVELS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("birads", "4"): (("4A", "4B", "4C"), "undivided BI-RADS 4 = 4A + 4B + 4C"),
    ("birads", "4BC"): (("4B", "4C"), "4B and 4C reported together"),
    ("morphology", "fine_pleomorphic_or_fine_linear"): (
        ("fine_pleomorphic", "fine_linear"),
        "fine pleomorphic and fine linear pooled",
    ),
    ("morphology", "typically_malignant_pooled"): (
        ("fine_pleomorphic", "fine_linear"),
        "4th-edition 'higher probability of malignancy' group",
    ),
    ("morphology", "indeterminate_pooled"): (
        ("amorphous", "coarse_heterogeneous"),
        "4th-edition 'intermediate concern' group",
    ),
    ("distribution", "linear_or_segmental"): (("linear", "segmental"), "linear and segmental pooled"),
}
# Table levels added to a model level of the same study (disjoint lesions of the same partition).
MERGED_LEVELS: dict[tuple[str, str], tuple[str, str]] = {
    ("distribution", "multiple_groups"): ("grouped", "multiple groups (same quadrant) are grouped clusters"),
}
# Finer re-splits of a row of the same partition: kept in the table, not used (the coarse row is).
RESPLIT_LEVELS: dict[tuple[str, str], str] = {
    ("morphology", "amorphous_pure"): "re-splits the study's amorphous row (same lesions)",
    ("morphology", "amorphous_with_punctate"): "re-splits the study's amorphous row (same lesions)",
}
EXCLUDED_STUDIES: dict[str, str] = {
    "liberman1998": "denominators include masses (not calcification-specific)",
}
SAME_COHORT: dict[str, str] = {"burnside2006": "burnside2006+2007", "burnside2007": "burnside2006+2007"}


def allowed_levels(finding: str) -> tuple[str, ...]:
    """Every level word the table may use for ``finding`` (covariate levels are free words)."""
    words = list(MODEL_LEVELS.get(finding, ())) + list(GROUP_UNITS.get(finding, ()))
    for table in (POOLED_LEVELS, MERGED_LEVELS, RESPLIT_LEVELS):
        words += [lvl for (f, lvl) in table if f == finding]
    return tuple(words)
