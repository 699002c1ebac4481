"""How much the answers depend on choices: prior sensitivity, power scaling and scenarios.

Prior sensitivity and power scaling of priors and likelihood, and what-if scenarios (other priors,
reweighted case mixes, refits).
"""

from __future__ import annotations

from microcalc import lazy_attribute

# public name -> module that defines it
_LAZY = {
    "run_sensitivity": "microcalc.robustness.sensitivity",
    "compute_sensitivity": "microcalc.robustness.sensitivity",
    "power_scaling_curve": "microcalc.robustness.power_scaling",
    "most_sensitive": "microcalc.robustness.power_scaling",
    "load_scenarios": "microcalc.robustness.scenario_files",
    "scenario_results": "microcalc.robustness.scenarios",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attribute(__name__, _LAZY)  # loaded on first use: importing stays light
