"""Per-level literature evidence beside a data set (microcalc.synthesis.evidence): ESS and conflict."""

from __future__ import annotations

import pandas as pd

from microcalc.synthesis.evidence import EVIDENCE_COLUMNS, conflict_sentence, counts_from_donors, level_evidence


def _donors(rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    """A training key table: morphology, distribution, birads, lesions, malignant per row."""
    return pd.DataFrame(rows, columns=["morphology", "distribution", "birads", "count", "malignant"])


def test_counts_are_marginal_and_keep_undivided_4():
    donors = _donors([("amorphous|fine_pleomorphic", "grouped", "4", 10, 4), ("rim", "", "2", 5, 0)])
    c = counts_from_donors(donors).set_index(["finding", "level"])
    assert tuple(c.loc[("overall", "all")]) == (4, 15)
    assert tuple(c.loc[("morphology", "amorphous")]) == tuple(c.loc[("morphology", "fine_pleomorphic")]) == (4, 10)
    assert tuple(c.loc[("birads", "4")]) == (4, 10)  # undivided 4: a pooled level of its own
    assert ("distribution", "linear") not in c.index  # no lesion, no row


def test_data_far_from_the_literature_are_flagged_and_data_near_it_are_not():
    # BI-RADS 2 is almost never malignant in the literature; half of 200 is a plain conflict.
    conflicting = level_evidence(_donors([("rim", "diffuse", "2", 200, 100)])).set_index("parameter")
    assert list(conflicting.columns) == [c for c in EVIDENCE_COLUMNS if c != "parameter"]
    assert conflicting.loc["birads.2", "conflict"]
    assert conflicting.loc["birads.2", "conflict_p_value"] < 1e-6
    assert conflicting.loc["birads.2", "robust_posterior_weight"] > 0.9  # the robust part takes over
    agreeing = level_evidence(_donors([("rim", "diffuse", "2", 200, 1)])).set_index("parameter")
    assert not agreeing.loc["birads.2", "conflict"]
    assert agreeing.loc["birads.2", "robust_posterior_weight"] < 0.5
    assert agreeing.loc["birads.2", "ess"] > 10  # the literature on BI-RADS 2 is worth many lesions
    assert "birads.2 100/200 malignant (literature 0-5%, p < 0.001)" in conflict_sentence(conflicting.reset_index())
    assert "birads.2" not in conflict_sentence(agreeing.reset_index())


def test_report_rows_name_the_levels_that_inform_them():
    from microcalc.priors import load_priors
    from microcalc.reporting.evidence import evidence_cell, informing_levels

    priors = load_priors()
    assert informing_levels("intercept", priors) == ("overall.all",)
    assert informing_levels("birads_step[step_3_to_4A]", priors) == ("birads.3", "birads.4A")
    benign = informing_levels("distribution_group_shift[benign]", priors)
    assert "distribution.diffuse" in benign and "distribution.segmental" not in benign
    assert informing_levels("site_sd", priors) == informing_levels("covariate_effect[change[new]]", priors) == ()
    evidence = level_evidence(_donors([("rim", "diffuse", "2", 200, 100), ("punctate", "grouped", "3", 50, 10)]))
    assert evidence_cell("birads_step[step_2_to_3]", priors, evidence).startswith("2: ESS ")
    assert "p < 0.001" in evidence_cell("birads_step[step_2_to_3]", priors, evidence)
    assert evidence_cell("site_sd", priors, evidence) == "—"
    assert evidence_cell("intercept", priors, None) == ""
