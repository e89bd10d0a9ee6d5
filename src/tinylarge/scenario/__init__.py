"""Scenarios: a typed YAML description of a whole experiment, the runner that wires it, reports.

This is the only package that knows the whole pipeline; everything below it is called from here.
"""

from tinylarge.scenario.runner import RunResult, run_scenario
from tinylarge.scenario.schema import RoleConfig, Scenario, default_scenario, load_scenario

__all__ = [
    "RoleConfig",
    "RunResult",
    "Scenario",
    "default_scenario",
    "load_scenario",
    "run_scenario",
]
