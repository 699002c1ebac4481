"""Why a group is flagged for prior-data conflict (microcalc.robustness.conflicts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from microcalc.robustness.conflicts import WHY, conflict_reading, conflict_table, split_element
from microcalc.robustness.power_scaling import CONFLICT


def test_element_names_split_into_variable_and_coordinate():
    assert split_element("site_sd") == ("site_sd", None)
    assert split_element("birads_step[step_3_to_4A]") == ("birads_step", "step_3_to_4A")
    assert split_element("covariate_effect[breast_density[a]]") == ("covariate_effect", "breast_density[a]")


def test_every_parameter_group_has_a_reason():
    from microcalc.modelling.model import PARAMETER_GROUPS

    assert set(PARAMETER_GROUPS) <= set(WHY)


def test_flagged_groups_get_their_numbers_and_reason(small_fit):
    groups = pd.DataFrame(
        {
            "parameter": ["site_sd", "intercept", "birads_step"],
            "diagnosis": [CONFLICT, "fine", CONFLICT],
            "element": ["site_sd", "intercept", "birads_step[step_3_to_4A]"],
        }
    )
    t = conflict_table(groups, small_fit).set_index("parameter")
    assert list(t.index) == ["site_sd", "birads_step"]  # only the flagged groups
    prior = small_fit.idata["prior"]["site_sd"].to_numpy().ravel()
    post = small_fit.idata["posterior"]["site_sd"].to_numpy().ravel()
    assert np.isclose(t.loc["site_sd", "prior_mean"], prior.mean())
    assert np.isclose(t.loc["site_sd", "shift_sd"], (post.mean() - prior.mean()) / prior.std())
    assert t.loc["site_sd", "moved"] == (abs(t.loc["site_sd", "shift_sd"]) >= 1)
    assert t.loc["birads_step", "why"] == WHY["birads_step"]
    reading = conflict_reading(t.reset_index())
    assert reading.startswith("2 groups are flagged")
    assert conflict_reading(t.iloc[:0].reset_index()) == "No parameter group is flagged for prior-data conflict."
