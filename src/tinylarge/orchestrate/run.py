"""Run a fleet scenario on one process or sharded across Ray workers, and summarise it.

Sharding is by region (regions never interact: each has its own sites and devices; the cloud has no
queue), contiguous blocks of regions per worker, through Ray tasks (Ray ships with Flower's
simulation extra): no scheduler of our own. Random numbers are keyed by what they belong to
(:mod:`.rng`) and metrics merge per region in region order, so any number of workers gives the same
metrics as one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinylarge.orchestrate.config import FleetScenario
from tinylarge.orchestrate.fleet import layout_of
from tinylarge.orchestrate.metrics import PolicyMetrics
from tinylarge.orchestrate.simulator import ShardResult, simulate_shard, time_bin_s
from tinylarge.orchestrate.workload import Workload, WorkloadSpec, load_workload


@dataclass
class FleetResult:
    scenario: FleetScenario
    workers: int
    wall_s: float
    n_requests: int
    metrics: dict[str, PolicyMetrics]
    shard_wall_s: list[dict[str, float]]
    workload: dict[str, Any]

    @property
    def n_sites(self) -> int:
        return layout_of(self.scenario).n_regions * layout_of(self.scenario).sites_per_region

    def policy_summary(self, name: str) -> dict[str, Any]:
        return self.metrics[name].summary(
            self.n_sites, self.scenario.duration_s, time_bin_s(self.scenario)
        )

    def to_dict(self, series: bool = False) -> dict[str, Any]:
        """The ``tinylarge simulate --json`` object."""
        policies = {}
        for name in self.metrics:
            s = self.policy_summary(name)
            if not series:
                s.pop("edge_load_series")
            policies[name] = s
        return {
            "scenario": self.scenario.name,
            "n_devices": self.scenario.devices.n,
            "n_requests": self.n_requests,
            "sim_duration_s": self.scenario.duration_s,
            "wall_s": self.wall_s,
            "workers": self.workers,
            "requests_per_s": self.n_requests / self.wall_s if self.wall_s else None,
            "policies": policies,
            "workload": self.workload,
        }


def region_blocks(n_regions: int, workers: int) -> list[np.ndarray]:
    """Contiguous blocks of regions, one per worker (fewer if there are fewer regions)."""
    return [b for b in np.array_split(np.arange(n_regions), max(1, workers)) if len(b)]


def simulate(
    scenario: FleetScenario,
    workload: Workload | None = None,
    workers: int = 1,
    policies: list[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> FleetResult:
    """Simulate every policy of ``scenario`` (or ``policies``) on the same arrivals and channels."""
    workload = workload or load_workload(WorkloadSpec(dataset=scenario.dataset))
    for name in scenario.devices.mix:
        workload.device_index(name)  # a device the workload was not built for fails here
    n_regions = layout_of(scenario).n_regions
    t0 = time.perf_counter()
    if workers <= 1:
        shards = [
            simulate_shard(scenario, workload, np.arange(n_regions), policies, progress=progress)
        ]
    else:
        shards = _simulate_ray(
            scenario, workload, region_blocks(n_regions, workers), policies, progress
        )
    wall = time.perf_counter() - t0
    names = list(shards[0].metrics)
    return FleetResult(
        scenario=scenario,
        workers=max(1, workers),
        wall_s=wall,
        n_requests=sum(s.n_requests for s in shards),
        metrics={n: PolicyMetrics.merge([s.metrics[n] for s in shards]) for n in names},
        shard_wall_s=[s.wall_s for s in shards],
        workload=workload.summary(),
    )


def _simulate_ray(scenario, workload, blocks, policies, progress) -> list[ShardResult]:
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # silences a FutureWarning
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=len(blocks),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}},
        )
    try:
        remote = ray.remote(num_cpus=1)(simulate_shard)
        wl_ref = ray.put(workload)
        futures = [remote.remote(scenario, wl_ref, b, policies) for b in blocks]
        done: list[Any] = []
        pending = list(futures)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done.extend(ready)
            if progress is not None:
                progress(len(done) / len(futures))
        return ray.get(futures)
    finally:
        if started:
            ray.shutdown()
