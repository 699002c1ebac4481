"""Word tables: DDSM / CBIS-DDSM words and common spellings -> the canonical words of ``schema``.

The canonical vocabulary is the BI-RADS 5th-edition lexicon (see ``schema.py``). DDSM (1990s)
and CBIS-DDSM (which copies DDSM's words) use an older vocabulary, so each importer translates
through the tables here, and nothing else in the package needs to know DDSM's words.

Choices, and why:

* PLEOMORPHIC -> fine_pleomorphic; FINE_LINEAR_BRANCHING -> fine_linear: the 5th edition renamed
  these ("fine pleomorphic", "fine linear or fine-linear branching"); same findings.
* LUCENT_CENTER, LUCENT_CENTERED and EGGSHELL -> rim: the 5th edition folds lucent-centred and
  eggshell calcifications into "rim" (typically benign).
* ROUND_AND_REGULAR -> round; CLUSTERED -> grouped (5th-edition name); DIFFUSELY_SCATTERED -> diffuse.
* COARSE -> coarse_popcorn. DDSM's COARSE may also hold what the 5th edition calls coarse
  heterogeneous (suspicious); DDSM cannot tell them apart, and the data README reads COARSE as
  typically benign, so we keep the benign reading.
* N/A (CBIS-DDSM) and empty cells mean *not recorded* and become NA, never a word.
* Outcome: MALIGNANT -> 1; BENIGN and BENIGN_WITHOUT_CALLBACK -> 0 (the latter were judged benign
  at screening and never recalled; DDSM counts them as benign).
* Breast density: ACR 1-4 -> BI-RADS a-d; DDSM's 0 means not recorded.

Keys of every table are *normalised* with :func:`normalise_word` (lowercase; runs of spaces,
hyphens and underscores become one underscore), so lookups ignore case and spelling of separators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from microcalc.io import schema

_SEPARATORS = re.compile(r"[\s_\-]+")

# Cells that mean "not recorded" in any format (after normalise_word).
NOT_RECORDED: frozenset[str] = frozenset({"", "na", "n/a"})


def normalise_word(word: str) -> str:
    """Lowercase and unify separators so 'Fine-Linear', 'fine linear' and 'FINE_LINEAR' match."""
    return _SEPARATORS.sub("_", word.strip().lower()).strip("_")


def _table(pairs: Mapping[str, str | None]) -> dict[str, str | None]:
    """A lookup table with normalised keys."""
    return {normalise_word(k): v for k, v in pairs.items()}


# --- DDSM and CBIS-DDSM words (several per cell, joined with "-") -----------------------------

DDSM_SEPARATOR = "-"

DDSM_MORPHOLOGY: dict[str, str | None] = _table(
    {
        "PLEOMORPHIC": "fine_pleomorphic",
        "FINE_LINEAR_BRANCHING": "fine_linear",
        "AMORPHOUS": "amorphous",
        "PUNCTATE": "punctate",
        "LUCENT_CENTER": "rim",
        "LUCENT_CENTERED": "rim",
        "EGGSHELL": "rim",
        "ROUND_AND_REGULAR": "round",
        # DDSM's COARSE may also hold coarse heterogeneous; we keep the typically-benign reading
        # (data README), as DDSM does not separate the two.
        "COARSE": "coarse_popcorn",
        "VASCULAR": "vascular",
        "DYSTROPHIC": "dystrophic",
        "SKIN": "skin",
        "MILK_OF_CALCIUM": "milk_of_calcium",
        "LARGE_RODLIKE": "large_rodlike",
        "N/A": None,
    }
)

DDSM_DISTRIBUTION: dict[str, str | None] = _table(
    {
        "CLUSTERED": "grouped",
        "SEGMENTAL": "segmental",
        "LINEAR": "linear",
        "REGIONAL": "regional",
        "DIFFUSELY_SCATTERED": "diffuse",
        "N/A": None,
    }
)

# DDSM words as written in DDSM files, for error messages.
DDSM_WORDS: dict[str, tuple[str, ...]] = {
    "morphology": (
        "PLEOMORPHIC",
        "FINE_LINEAR_BRANCHING",
        "AMORPHOUS",
        "PUNCTATE",
        "LUCENT_CENTER",
        "LUCENT_CENTERED",
        "EGGSHELL",
        "ROUND_AND_REGULAR",
        "COARSE",
        "VASCULAR",
        "DYSTROPHIC",
        "SKIN",
        "MILK_OF_CALCIUM",
        "LARGE_RODLIKE",
    ),
    "distribution": ("CLUSTERED", "SEGMENTAL", "LINEAR", "REGIONAL", "DIFFUSELY_SCATTERED"),
}

DDSM_BREAST_DENSITY_NOT_RECORDED = "0"

# --- Canonical files: the schema words plus obvious spellings and older names -----------------

MORPHOLOGY_SYNONYMS: dict[str, str] = {
    "fine_linear_branching": "fine_linear",
    "fine_linear_or_fine_linear_branching": "fine_linear",
    "pleomorphic": "fine_pleomorphic",
    "coarse_heterogenous": "coarse_heterogeneous",
    "popcorn": "coarse_popcorn",
    "popcorn_like": "coarse_popcorn",
    "large_rod_like": "large_rodlike",
    "rodlike": "large_rodlike",
    "rod_like": "large_rodlike",
    "round_and_regular": "round",
    "lucent_center": "rim",
    "lucent_centered": "rim",
    "lucent_centred": "rim",
    "eggshell": "rim",
    "egg_shell": "rim",
    "milk_of_calcium_like": "milk_of_calcium",
    "sutural": "suture",
    "dermal": "skin",
}
# "coarse" alone is refused in canonical files: it is ambiguous (popcorn vs heterogeneous).

DISTRIBUTION_SYNONYMS: dict[str, str] = {
    "clustered": "grouped",
    "cluster": "grouped",
    "diffusely_scattered": "diffuse",
    "scattered": "diffuse",
    "diffuse_scattered": "diffuse",
}

BREAST_DENSITY_DIGITS: dict[str, str] = {"1": "a", "2": "b", "3": "c", "4": "d"}


def _vocabulary_table(words: Iterable[str], synonyms: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Table accepting each vocabulary word (any case/separator) plus the given synonyms."""
    table: dict[str, str | None] = {normalise_word(w): w for w in words}
    table.update(_table(dict(synonyms or {})))
    return table


CANONICAL_WORDS: dict[str, dict[str, str | None]] = {
    "morphology": _vocabulary_table(schema.MORPHOLOGY, MORPHOLOGY_SYNONYMS),
    "distribution": _vocabulary_table(schema.DISTRIBUTION, DISTRIBUTION_SYNONYMS),
    "cluster_density": _vocabulary_table(schema.CLUSTER_DENSITY),
    "size_variability": _vocabulary_table(schema.SIZE_VARIABILITY),
    "breast_density": _vocabulary_table(schema.BREAST_DENSITY, BREAST_DENSITY_DIGITS),
    "birads": _vocabulary_table(schema.BIRADS),
    "change": _vocabulary_table(schema.CHANGE),
}

# --- Yes/no and outcome -----------------------------------------------------------------------

YES_NO: dict[str, bool] = {"yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}

OUTCOME: dict[str, int] = {
    "1": 1,
    "0": 0,
    "yes": 1,
    "no": 0,
    "true": 1,
    "false": 0,
    "malignant": 1,
    "benign": 0,
    "benign_without_callback": 0,
}
OUTCOME_WORDS: tuple[str, ...] = ("1", "0", "yes", "no", "MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")

# BI-RADS 6 = biopsy-proven cancer: refused, the model is for lesions not yet diagnosed.
BIRADS_KNOWN_CANCER = "6"

# --- Column names -----------------------------------------------------------------------------
#
# Header names are matched by :func:`header_key` (case, spaces, hyphens and underscores ignored:
# 'BI-RADS', 'Breast Density', 'lesion id' all match), then through this table of common names
# that spreadsheets exported by people carry. Values stay strictly validated whatever the header.

COLUMN_ALIASES: dict[str, str] = {
    "lesion": "lesion_id",
    "lesionid": "lesion_id",
    "lesion_number": "lesion_id",
    "patient": "patient_id",
    "patientid": "patient_id",
    "case": "patient_id",
    "woman_id": "patient_id",
    "institution": "site",
    "centre": "site",
    "center": "site",
    "morphologies": "morphology",
    "calcification_morphology": "morphology",
    "distributions": "distribution",
    "calcification_distribution": "distribution",
    "density_of_cluster": "cluster_density",
    "clustering": "cluster_density",
    "size_variation": "size_variability",
    "variability": "size_variability",
    "count": "calc_count",
    "calcifications": "calc_count",
    "number_of_calcifications": "calc_count",
    "n_calcifications": "calc_count",
    "calcification_count": "calc_count",
    "density": "breast_density",
    "breast_composition": "breast_density",
    "acr_density": "breast_density",
    "acr": "breast_density",
    "birads_density": "breast_density",
    "patient_age": "age",
    "age_years": "age",
    "age_at_exam": "age",
    "bi_rads": "birads",
    "birads_category": "birads",
    "bi_rads_category": "birads",
    "birads_assessment": "birads",
    "final_assessment": "birads",
    "temporal_change": "change",
    "change_over_time": "change",
    "evolution": "change",
    "brca1_2": "brca",
    "brca_mutation": "brca",
    "brca1_or_brca2": "brca",
    "brca_carrier": "brca",
    "tp53_mutation": "tp53",
    "li_fraumeni": "tp53",
    "family_history_of_breast_cancer": "family_history",
    "fh": "family_history",
    "familyhistory": "family_history",
    "post_menopausal": "postmenopausal",
    "menopause": "postmenopausal",
    "menopausal": "postmenopausal",
    "hormone_replacement_therapy": "hrt",
    "hormone_therapy": "hrt",
    "mht": "hrt",
    "outcome": "malignant",
    "cancer": "malignant",
    "malignancy": "malignant",
    "pathology": "malignant",
    "assessment": "birads",
}


def header_key(name: str) -> str:
    """A header name as compared with the known names: 'Breast Density' and 'breast_density' give one key."""
    return normalise_word(str(name))


def canonical_column(name: str, columns: Iterable[str]) -> str | None:
    """The canonical column a header names (its key, or an alias of it), or None for an extra column."""
    key = header_key(name)
    key = COLUMN_ALIASES.get(key, key)
    return key if key in set(columns) else None
