import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.scenario.policy import CLOUD_BACKHAUL_S, PolicyState, apply_change


def state(kind="cascade", cap=None):
    return PolicyState.initial(["nrf52840", "esp32s3"], kind, 0.5, cap, 0.2)


def test_cascade_offloads_below_threshold_and_the_cap_keeps_the_least_sure():
    scores = np.array([0.1, 0.9, 0.3, 0.45, 0.8, 0.2])
    assert state().offload_mask("nrf52840", scores).tolist() == [1, 0, 1, 1, 0, 1]
    capped = state(cap=0.34).offload_mask("nrf52840", scores)  # floor(0.34 * 6) = 2
    assert np.flatnonzero(capped).tolist() == [0, 5]
    assert not state("local").offload_mask("esp32s3", scores).any()
    assert state("offload-all").offload_mask("esp32s3", scores).all()


def test_battery_saver_keeps_low_devices_local():
    s = state()
    apply_change(s, "battery_saver", {"battery_below": 0.3}, {"nrf52840": 1.0, "esp32s3": 0.01})
    scores = np.zeros(4)
    assert not s.offload_mask("nrf52840", scores, battery=0.2).any()
    assert s.offload_mask("nrf52840", scores, battery=0.9).all()


def test_latency_slo_caps_offload_where_the_offloaded_path_is_too_slow():
    s = state()
    effect = apply_change(
        s, "latency_slo", {"percentile": 0.95, "target_s": 0.03},
        {"nrf52840": 1.2, "esp32s3": 0.01},
    )  # fmt: skip
    assert s.max_offload == {"nrf52840": pytest.approx(0.05), "esp32s3": None}
    assert "p95" in effect
    scores = np.linspace(0, 0.4, 100)  # all below the threshold
    lat = np.where(s.offload_mask("nrf52840", scores), 1.2, 0.001)
    assert np.percentile(lat, 95, method="inverted_cdf") <= 0.03  # nearest rank


def test_changes_of_each_kind_and_their_errors():
    s = state()
    assert s.update is None  # the scenario's loop.update decides
    apply_change(s, "data_stays_on_device", {}, {})
    assert set(s.kind.values()) == {"local"}
    assert s.update == "federated"  # no raw input on the server either: weights only
    apply_change(s, "placement", {"tier": "cloud"}, {})
    assert set(s.kind.values()) == {"offload-all"} and s.extra_latency_s == CLOUD_BACKHAUL_S
    apply_change(s, "minimise_energy", {"device_class": "esp32s3"}, {})
    assert s.kind == {"nrf52840": "offload-all", "esp32s3": "local"}
    apply_change(s, "canary_rollout", {"fraction": 0.05}, {})
    assert s.canary_fraction == 0.05
    apply_change(s, "offload_budget", {"max_offload_fraction": 0.1}, {})
    assert set(s.max_offload.values()) == {0.1}
    assert len(s.history) == 5
    with pytest.raises(
        TinylargeError, match="unknown policy change 'teleport'; valid: latency_slo"
    ):
        apply_change(s, "teleport", {}, {})
    with pytest.raises(
        TinylargeError, match="unknown device_class 'vax'; valid: esp32s3, nrf52840"
    ):
        apply_change(s, "minimise_energy", {"device_class": "vax"}, {})


def test_audited_requests_go_up_even_when_the_device_is_sure():
    s = PolicyState.initial(["nrf52840"], "cascade", float("-inf"), None, 0.2)
    scores = np.ones(6)
    audit = np.array([1, 0, 0, 1, 0, 0], dtype=bool)
    assert not s.offload_mask("nrf52840", scores).any()
    assert s.offload_mask("nrf52840", scores, audit=audit).tolist() == audit.tolist()
    s.kind["nrf52840"] = "local"  # data stays on the device: audits too
    assert not s.offload_mask("nrf52840", scores, audit=audit).any()
