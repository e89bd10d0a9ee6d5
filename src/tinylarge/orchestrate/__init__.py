"""Dynamic resource orchestration: where each request runs and who gets which radio and compute
share, and the fleet simulator that measures it at 100,000 devices and more.

Layer 5: builds on ``net`` (channels, links), and on ``tiny``/``train``/``integrate`` only through
the single adapter :mod:`tinylarge.orchestrate.workload`; ``scenario`` and ``cli`` build on it.
"""

from tinylarge.orchestrate.config import (
    FleetScenario,
    bundled_scenarios,
    load_bundled,
    load_scenario,
)
from tinylarge.orchestrate.policies import Policy, make_policy, policy_names
from tinylarge.orchestrate.run import FleetResult, simulate
from tinylarge.orchestrate.workload import Workload, WorkloadSpec, load_workload

__all__ = [
    "FleetResult",
    "FleetScenario",
    "Policy",
    "Workload",
    "WorkloadSpec",
    "bundled_scenarios",
    "load_bundled",
    "load_scenario",
    "load_workload",
    "make_policy",
    "policy_names",
    "simulate",
]
