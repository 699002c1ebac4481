"""Headline answers: P(malignant) for a biopsied grouped cluster in a population, and per category.

The population (``clinical``, ``new-site`` or a training site; :func:`microcalc.modelling.predict.resolve_population`)
is the one blank-site lesions get; :func:`clinical_checks` compares the answers with the published
clinical ranges.

Each answer is a posterior predictive average computed with the same machinery as ``predict``:

* **grouped cluster**: the training lesions that went to biopsy (BI-RADS 4 or 5), each given a
  grouped distribution and an unknown site, averaged with their frequencies;
* **per morphology / distribution / BI-RADS**: a lesion on which only that finding is recorded;
  everything else is integrated over what matching training lesions show (see completion), so the
  answer is comparable with a published PPV for that finding.

Pass prior draws instead of posterior draws to get the prior predictive version of the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.modelling.predict import CLINICAL, NEW_SITE, probability_draws, resolve_population, summarise, with_site
from microcalc.reporting import literature

BIOPSIED_BIRADS: tuple[str, ...] = ("4", "4A", "4B", "4C", "5")
HEADLINE_BIRADS: tuple[str, ...] = ("0", "2", "3", "4", "4A", "4B", "4C", "5")
GROUPED_CLUSTER = ("headline", "biopsied grouped cluster, new site")


def blank_frame(n: int) -> pd.DataFrame:
    """``n`` canonical lesions with nothing recorded (every column of the schema, all NA)."""
    return pd.DataFrame({c: pd.Series([pd.NA] * n, dtype=t) for c, t in schema.DTYPES.items()})


def grouped_cluster_lesions(donors: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Biopsied training lesions made grouped, at an unknown site, with their frequencies."""
    rows = donors[biopsied(donors)]
    frame = blank_frame(len(rows))
    for col in ("morphology", "birads", "breast_density"):
        frame[col] = rows[col].to_numpy()
    frame["age"] = rows["age_band"].astype("Float64").to_numpy()
    frame["distribution"] = "grouped"
    return frame, rows["count"].to_numpy(dtype=float)


def single_finding_lesions() -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One lesion per morphology, distribution and BI-RADS level with only that finding recorded."""
    keys = [("morphology", m) for m in schema.MORPHOLOGY]
    keys += [("distribution", d) for d in schema.DISTRIBUTION]
    keys += [("birads", b) for b in HEADLINE_BIRADS]
    frame = blank_frame(len(keys))
    for i, (col, level) in enumerate(keys):
        frame.loc[i, col] = level
    return frame, keys


def biopsied(donors: pd.DataFrame) -> np.ndarray:
    """Training key rows that went to biopsy (BI-RADS 4 or 5)."""
    return donors["birads"].isin(BIOPSIED_BIRADS).fillna(False).to_numpy(dtype=bool)


def observed(donors: pd.DataFrame, group: str, level: str) -> tuple[int, int]:
    """Training lesions and malignant lesions with that finding (any of several words counts).

    For the headline quantity: all biopsied training lesions.
    """
    hit = biopsied(donors) if group == "headline" else with_finding(donors, group, level)
    return int(donors.loc[hit, "count"].sum()), int(donors.loc[hit, "malignant"].sum())


def with_finding(donors: pd.DataFrame, group: str, level: str) -> np.ndarray:
    """Which training-table rows record this finding (a BI-RADS category exactly; any of several words)."""
    values = donors[group].astype("string").fillna("")
    if group == "birads":
        return (values == level).to_numpy(dtype=bool)
    return values.str.split(schema.MULTI_SEPARATOR).map(lambda words: level in words).to_numpy(dtype=bool)


def population_label(population: str | None = None) -> str:
    """Words for a population (see :func:`microcalc.modelling.predict.resolve_population`): 'clinical population', ..."""
    chosen = resolve_population(population)
    return {CLINICAL: "clinical population", NEW_SITE: "new site"}.get(chosen, f"site {chosen}")


def grouped_cluster_key(population: str | None = None) -> tuple[str, str]:
    """The headline row's key for ``population`` (:data:`GROUPED_CLUSTER` at a new site)."""
    return ("headline", f"biopsied grouped cluster, {population_label(population)}")


def grouped_cluster_draws(params: dict, priors, sites, donors: pd.DataFrame, site: str | None = None) -> np.ndarray:
    """P(malignant) draws of the biopsied grouped cluster for population ``site`` (None: the default population).

    The cluster's lesions are the biopsied training lesions (their findings as recorded, made grouped); what
    the population changes is the offset and the completion of their blank cells.
    """
    cluster, weights = grouped_cluster_lesions(donors)
    draws = probability_draws(with_site(cluster, site), params, priors, sites, donors)
    return (weights[:, None] * draws).sum(axis=0) / weights.sum()


def headline_draws(
    params: dict, priors, sites, donors: pd.DataFrame, population: str | None = None
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Keys (group, level) and P(malignant) draws, shape (quantities, draws); row 0 is the headline.

    ``population``: who the lesions come from (``"clinical"``, ``"new-site"``, a training site; None:
    :data:`microcalc.modelling.predict.DEFAULT_POPULATION`).
    """
    single, keys = single_finding_lesions()
    single_draws = probability_draws(with_site(single, population), params, priors, sites, donors)
    grouped = grouped_cluster_draws(params, priors, sites, donors, population)
    return [grouped_cluster_key(population), *keys], np.vstack([grouped[None, :], single_draws])


def _published(group: str, level: str) -> literature.PublishedRate | None:
    if group == "headline":
        return literature.GROUPED_CLUSTER
    return literature.BY_GROUP[group].get(level)


def headline_table(
    params: dict, priors, sites, donors: pd.DataFrame, ci: float = 0.95, population: str | None = None
) -> pd.DataFrame:
    """Mean and equal-tailed credible interval per headline quantity, beside the published range."""
    keys, draws = headline_draws(params, priors, sites, donors, population)
    return table_from_draws(keys, draws, donors, ci)


# The published clinical ranges of single findings (every other cell blank) and the orderings they must keep
# (the evidence-synthesis issue's targets): (group, level) -> (low, high), inclusive.
TYPICALLY_BENIGN: tuple[str, ...] = tuple(m for m in schema.MORPHOLOGY if m not in schema.MORPHOLOGY_SUSPICIOUS)
CLINICAL_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("morphology", "fine_linear"): (0.50, 0.92),
    ("morphology", "fine_pleomorphic"): (0.25, 0.65),
    ("morphology", "amorphous"): (0.05, 0.35),
    ("morphology", "punctate"): (0.01, 0.20),
    ("morphology", "coarse_heterogeneous"): (0.05, 0.25),
    **{("morphology", m): (0.0, 0.05) for m in TYPICALLY_BENIGN},
    ("distribution", "diffuse"): (0.0, 0.10),
    ("distribution", "regional"): (0.03, 0.35),
    ("distribution", "grouped"): (0.15, 0.40),
    ("distribution", "linear"): (0.40, 0.85),
    ("distribution", "segmental"): (0.30, 0.80),
    ("birads", "2"): (0.0, 0.03),
    ("birads", "3"): (0.0, 0.32),
    ("birads", "4"): (0.15, 0.40),
    ("birads", "4A"): (0.02, 0.20),
    ("birads", "4B"): (0.10, 0.50),
    ("birads", "4C"): (0.45, 0.95),
    ("birads", "5"): (0.80, 1.0),
    ("headline", "biopsied grouped cluster"): (0.20, 0.50),
}
CLINICAL_ORDERINGS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("birads", "4A"), ("birads", "4B"), ("birads", "4C"), ("birads", "5")),
    (("distribution", "diffuse"), ("distribution", "segmental")),
    (("distribution", "grouped"), ("distribution", "linear")),
    (("morphology", "amorphous"), ("morphology", "fine_pleomorphic"), ("morphology", "fine_linear")),
    (("change", "stable"), ("change", "new")),
    (("age", "38"), ("age", "72")),
)


def check_means(
    params: dict,
    priors,
    sites,
    donors: pd.DataFrame,
    population: str | None = None,
    drawn: tuple[list[tuple[str, str]], np.ndarray] | None = None,
) -> dict:
    """Posterior mean of every quantity the clinical checks read.

    The headline table's single findings and grouped cluster, plus single lesions with only change
    (stable, new) or only age (38, 72) recorded. ``drawn``: the keys and draws of
    :func:`headline_draws` for these parameters and population, if already computed.
    """
    keys, draws = drawn if drawn is not None else headline_draws(params, priors, sites, donors, population)
    means = {
        ("headline", "biopsied grouped cluster") if k[0] == "headline" else k: float(m)
        for k, m in zip(keys, draws.mean(axis=1))
    }
    extra = blank_frame(4)
    extra["change"] = pd.array(["stable", "new", pd.NA, pd.NA], dtype=schema.DTYPES["change"])
    extra["age"] = pd.array([pd.NA, pd.NA, 38.0, 72.0], dtype=schema.DTYPES["age"])
    more = probability_draws(with_site(extra, population), params, priors, sites, donors).mean(axis=1)
    means.update(
        {("change", "stable"): more[0], ("change", "new"): more[1], ("age", "38"): more[2], ("age", "72"): more[3]}
    )
    return means


def clinical_checks(means: dict) -> pd.DataFrame:
    """Each published range and ordering of the targets, with the answer and whether it holds.

    Columns: check, value (the mean, or the means in order joined by ' < '), low, high, holds, and the
    group and level of a range check (blank for orderings).
    """
    rows = []
    for key, (low, high) in CLINICAL_RANGES.items():
        v = means[key]
        rows.append(
            {
                "check": f"{key[0]}: {key[1]}",
                "group": key[0],
                "level": key[1],
                "value": f"{v:.3f}",
                "low": low,
                "high": high,
                "holds": bool(low <= v <= high),
            }
        )
    for chain in CLINICAL_ORDERINGS:
        values = [means[k] for k in chain]
        rows.append(
            {
                "check": " < ".join(f"{g}: {lvl}" for g, lvl in chain),
                "value": " < ".join(f"{v:.3f}" for v in values),
                "low": np.nan,
                "high": np.nan,
                "holds": bool(all(a < b for a, b in zip(values, values[1:]))),
            }
        )
    return pd.DataFrame(rows, columns=["check", "value", "low", "high", "holds", "group", "level"])


def table_from_draws(
    keys: list[tuple[str, str]], draws: np.ndarray, donors: pd.DataFrame, ci: float = 0.95
) -> pd.DataFrame:
    """The headline table of :func:`headline_draws`' keys and draws (for callers that keep the draws)."""
    summary = summarise(draws, ci)
    rows = []
    for (group, level), r in zip(keys, summary.itertuples()):
        pub = _published(group, level)
        n, m = observed(donors, group, level)
        rows.append(
            {
                "group": group,
                "level": level,
                "mean": r.p_malignant,
                "ci_lower": r.ci_lower,
                "ci_upper": r.ci_upper,
                "published_low": pub.low if pub else np.nan,
                "published_high": pub.high if pub else np.nan,
                "published_source": pub.source if pub else "",
                "observed_n": n,
                "observed_malignant": m,
            }
        )
    return pd.DataFrame(rows)


def format_headline(table: pd.DataFrame, ci: float = 0.95) -> str:
    """Short terminal text of the headline table."""
    pct = lambda x: f"{100 * x:5.1f}%"  # noqa: E731
    lines = []
    for group, part in table.groupby("group", sort=False):
        lines.append(f"{group}:")
        for r in part.itertuples():
            pub = f"published {100 * r.published_low:.0f}–{100 * r.published_high:.0f}%" if r.published_source else ""
            seen = f"data {r.observed_malignant}/{r.observed_n}" if r.observed_n else "not in data"
            lines.append(f"  {r.level:36} {pct(r.mean)}  [{pct(r.ci_lower)}, {pct(r.ci_upper)}]  {pub:22} {seen}")
    lines.append(f"(posterior mean, {100 * ci:.0f}% equal-tailed credible interval)")
    return "\n".join(lines)
