"""The canonical lesion schema: column names, vocabularies (BI-RADS 5th edition lexicon) and dtypes.

Every importer produces this frame; everything downstream (model, predict, report) reads only it.
An empty cell (NA) always means *not recorded*.
"""

from __future__ import annotations

# Morphology words, grouped as the BI-RADS atlas groups them.
MORPHOLOGY_BENIGN: tuple[str, ...] = (
    "skin",
    "vascular",
    "coarse_popcorn",
    "large_rodlike",
    "round",
    "rim",
    "dystrophic",
    "milk_of_calcium",
    "suture",
)
MORPHOLOGY_SUSPICIOUS: tuple[str, ...] = (
    "punctate",
    "amorphous",
    "coarse_heterogeneous",
    "fine_pleomorphic",
    "fine_linear",
)
MORPHOLOGY: tuple[str, ...] = MORPHOLOGY_BENIGN + MORPHOLOGY_SUSPICIOUS

DISTRIBUTION_BENIGN: tuple[str, ...] = ("diffuse", "regional")
DISTRIBUTION_SUSPICIOUS: tuple[str, ...] = ("grouped", "linear", "segmental")
DISTRIBUTION: tuple[str, ...] = ("diffuse", "regional", "grouped", "linear", "segmental")

CLUSTER_DENSITY: tuple[str, ...] = ("low", "high")
SIZE_VARIABILITY: tuple[str, ...] = ("uniform", "variable")
BREAST_DENSITY: tuple[str, ...] = ("a", "b", "c", "d")
CHANGE: tuple[str, ...] = ("new", "increasing", "stable", "decreasing")
# BI-RADS final assessment; 6 (known cancer) is refused on input.
BIRADS: tuple[str, ...] = ("0", "1", "2", "3", "4", "4A", "4B", "4C", "5")
YES_NO_COLUMNS: tuple[str, ...] = ("brca", "tp53", "family_history", "postmenopausal", "hrt")

AGE_RANGE: tuple[float, float] = (18.0, 110.0)
MULTI_SEPARATOR = "|"

# Canonical columns in output order. Only lesion_id is required; malignant only to fit.
COLUMNS: tuple[str, ...] = (
    "lesion_id",
    "patient_id",
    "site",
    "morphology",
    "distribution",
    "cluster_density",
    "size_variability",
    "calc_count",
    "breast_density",
    "age",
    "birads",
    "change",
    *YES_NO_COLUMNS,
    "malignant",
)
OUTCOME = "malignant"

# pandas dtypes of the canonical frame (nullable, so a blank stays a blank).
DTYPES: dict[str, str] = {
    "lesion_id": "string",
    "patient_id": "string",
    "site": "string",
    "morphology": "string",
    "distribution": "string",
    "cluster_density": "string",
    "size_variability": "string",
    "calc_count": "Int64",
    "breast_density": "string",
    "age": "Float64",
    "birads": "string",
    "change": "string",
    **{c: "boolean" for c in YES_NO_COLUMNS},
    "malignant": "Int64",
}

# Allowed values per categorical column (multi-valued columns list single words).
VOCABULARY: dict[str, tuple[str, ...]] = {
    "morphology": MORPHOLOGY,
    "distribution": DISTRIBUTION,
    "cluster_density": CLUSTER_DENSITY,
    "size_variability": SIZE_VARIABILITY,
    "breast_density": BREAST_DENSITY,
    "birads": BIRADS,
    "change": CHANGE,
}
MULTI_VALUED: tuple[str, ...] = ("morphology", "distribution")
