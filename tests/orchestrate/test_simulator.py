"""The fleet simulator on a small seeded workload: what each fixed policy must produce, the joint
optimiser's capacity guarantee, determinism, and sharding that changes nothing."""

import numpy as np
import pytest

from tinylarge.orchestrate.config import parse_scenario
from tinylarge.orchestrate.metrics import PolicyMetrics
from tinylarge.orchestrate.policies import make_policy, policy_names
from tinylarge.orchestrate.run import simulate
from tinylarge.orchestrate.simulator import simulate_shard

ALL = policy_names()


def scenario(**over):
    data = {
        "name": "t",
        "duration_s": 30,
        "devices": {
            "n": 2000,
            "mix": {"nrf52840": 1, "esp32s3": 1, "stm32h7a3": 1, "rp2040": 1},
            "arrivals": {"mean_interval_s": 5},
        },
        "network": {"isd_m": 200, "sites_per_side": 2, "devices_per_region": 500},
        "edge": {"device": "rpi4"},
        "sla_latency_s": 0.1,
        "policies": ALL,
    }
    for key, value in over.items():
        node = data
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return parse_scenario(data, "test")


@pytest.fixture(scope="module")
def result(workload):
    return simulate(scenario(), workload)


def test_fixed_policies_do_what_they_say(result, workload):
    local = result.policy_summary("all-local")
    assert local["bytes_on_air_per_request"] == 0 and local["edge_utilisation"] == 0
    assert local["latency_s"]["p99"] < 0.06  # only on-device inference
    edge = result.policy_summary("all-edge")
    assert edge["offload_fraction_edge"] == 1 and edge["edge_utilisation"] > 0
    assert edge["bytes_on_air_per_request"] == 784 + 2 * 60 + 4
    cloud = result.policy_summary("all-cloud")
    assert cloud["offload_fraction_cloud"] == 1 and cloud["edge_utilisation"] == 0
    assert cloud["latency_s"]["p50"] > edge["latency_s"]["p50"]  # the backhaul round trip
    # the same samples answered by the same models
    assert abs(edge["accuracy"] - cloud["accuracy"]) < 1e-12
    cascade = result.policy_summary("cascade-threshold")
    assert 0 < cascade["offload_fraction_edge"] < 0.5
    for name in ALL:
        s = result.policy_summary(name)
        assert s["n_requests"] == result.n_requests
        assert s["latency_s"]["p50"] <= s["latency_s"]["p95"] <= s["latency_s"]["p99"]


def test_accuracy_follows_the_workload(workload):
    sc = scenario(policies=["all-local", "all-edge"], **{"devices.n": 500, "duration_s": 120})
    r = simulate(sc, workload)
    for name, ok in (("all-local", workload.student_ok), ("all-edge", workload.cut_ok[0])):
        assert abs(r.policy_summary(name)["accuracy"] - ok.mean()) < 0.02


def test_joint_never_exceeds_edge_capacity_where_all_edge_overloads(workload):
    sc = scenario(
        policies=["all-edge", "joint"],
        sla_latency_s=2.0,
        **{"devices.arrivals.mean_interval_s": 0.5},
    )
    r = simulate(sc, workload)
    edge, joint = r.policy_summary("all-edge"), r.policy_summary("joint")
    assert edge["edge_utilisation"] > 0.95 and edge["latency_s"]["p95"] > 1.0  # queue grows
    assert joint["max_edge_fill"] <= 1.0 + 1e-9
    assert joint["objective"] < edge["objective"]


def test_capacity_check_trips_on_a_policy_that_overfills(workload):
    class Greedy(type(make_policy("all-edge"))):
        name = "greedy-edge"
        respects_edge_capacity = True  # claims it, does not do it

    from tinylarge.orchestrate import simulator

    sc = scenario(policies=["all-edge"], **{"devices.arrivals.mean_interval_s": 0.2})
    orig = simulator.make_policy
    simulator.make_policy = lambda name, **kw: Greedy()
    try:
        with pytest.raises(AssertionError, match="exceeded edge capacity"):
            simulate_shard(sc, workload, np.arange(4))
    finally:
        simulator.make_policy = orig


def test_same_seed_same_numbers_and_shards_change_nothing(workload):
    sc = scenario(policies=["cascade-threshold", "drift-plus-penalty", "joint"])
    whole = simulate_shard(sc, workload, np.arange(4))
    parts = [simulate_shard(sc, workload, np.array(b)) for b in ([0], [1, 2], [3])]
    for name in sc.policies:
        merged = PolicyMetrics.merge([p.metrics[name] for p in parts])
        a = whole.metrics[name].summary(16, 30.0, 0.25)
        assert merged.summary(16, 30.0, 0.25) == a
    again = simulate_shard(sc, workload, np.arange(4)).metrics["joint"].summary(16, 30.0, 0.25)
    assert again == whole.metrics["joint"].summary(16, 30.0, 0.25)
    other = simulate_shard(sc.with_overrides(seed=1), workload, np.arange(4))
    assert other.metrics["joint"].summary(16, 30.0, 0.25) != again


@pytest.mark.slow
def test_two_ray_workers_equal_one(workload):
    sc = scenario(policies=["all-edge", "joint"], duration_s=10)
    one, two = simulate(sc, workload, workers=1), simulate(sc, workload, workers=2)
    assert two.workers == 2
    assert one.to_dict(series=True)["policies"] == two.to_dict(series=True)["policies"]
