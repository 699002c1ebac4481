"""Headline answers: P(malignant) for a biopsied grouped cluster at a new site, and per category.

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

from microcalc import literature, schema
from microcalc.predict import probability_draws, summarise

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
    if group == "headline":
        hit = biopsied(donors)
    else:
        values = donors[group].astype("string").fillna("")
        if group == "birads":
            hit = values == level
        else:
            hit = values.str.split(schema.MULTI_SEPARATOR).map(lambda words: level in words)
        hit = hit.to_numpy(dtype=bool)
    return int(donors.loc[hit, "count"].sum()), int(donors.loc[hit, "malignant"].sum())


def grouped_cluster_draws(params: dict, priors, sites, donors: pd.DataFrame, site: str | None = None) -> np.ndarray:
    """P(malignant) draws of the biopsied grouped cluster at ``site`` (None: a new site)."""
    cluster, weights = grouped_cluster_lesions(donors)
    if site is not None:
        cluster["site"] = site
    draws = probability_draws(cluster, params, priors, sites, donors)
    return (weights[:, None] * draws).sum(axis=0) / weights.sum()


def headline_draws(params: dict, priors, sites, donors: pd.DataFrame) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Keys (group, level) and P(malignant) draws, shape (quantities, draws); row 0 is the headline."""
    single, keys = single_finding_lesions()
    single_draws = probability_draws(single, params, priors, sites, donors)
    grouped = grouped_cluster_draws(params, priors, sites, donors)
    return [GROUPED_CLUSTER, *keys], np.vstack([grouped[None, :], single_draws])


def _published(group: str, level: str) -> literature.PublishedRate | None:
    if group == "headline":
        return literature.GROUPED_CLUSTER
    return literature.BY_GROUP[group].get(level)


def headline_table(params: dict, priors, sites, donors: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Mean and equal-tailed credible interval per headline quantity, beside the published range."""
    keys, draws = headline_draws(params, priors, sites, donors)
    return table_from_draws(keys, draws, donors, ci)


def table_from_draws(keys: list[tuple[str, str]], draws: np.ndarray, donors: pd.DataFrame,
                     ci: float = 0.95) -> pd.DataFrame:
    """The headline table of :func:`headline_draws`' keys and draws (for callers that keep the draws)."""
    summary = summarise(draws, ci)
    rows = []
    for (group, level), r in zip(keys, summary.itertuples()):
        pub = _published(group, level)
        n, m = observed(donors, group, level)
        rows.append({
            "group": group, "level": level, "mean": r.p_malignant, "ci_lower": r.ci_lower, "ci_upper": r.ci_upper,
            "published_low": pub.low if pub else np.nan, "published_high": pub.high if pub else np.nan,
            "published_source": pub.source if pub else "",
            "observed_n": n, "observed_malignant": m,
        })
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
            lines.append(
                f"  {r.level:36} {pct(r.mean)}  [{pct(r.ci_lower)}, {pct(r.ci_upper)}]  {pub:22} {seen}"
            )
    lines.append(f"(posterior mean, {100 * ci:.0f}% equal-tailed credible interval)")
    return "\n".join(lines)
