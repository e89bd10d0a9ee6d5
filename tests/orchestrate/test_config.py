"""Fleet scenarios: bad input gets one line naming the value and the valid choices."""

import pytest

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.orchestrate.config import (
    bundled_scenarios,
    load_bundled,
    load_scenario,
    parse_scenario,
)


def base(**changes):
    data = {"devices": {"n": 10}}
    for key, value in changes.items():
        node = data
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"network.band": "wifi7"}, "unknown band 'wifi7'; valid: 6g-fr3, 6g-subthz, lte-m"),
        (
            {"network.channel_scenario": "urban"},
            "unknown path-loss scenario 'urban'; valid: ci-inh, ci-umi, inf",
        ),
        (
            {"devices.mix": {"arduino-uno": 1.0}},
            "unknown device (microcontroller) 'arduino-uno'; valid: esp32s3, nrf52840",
        ),
        ({"policies": ["greedy"]}, "unknown policy 'greedy'; valid: all-cloud, all-edge"),
        ({"edge.device": "nrf52840"}, "unknown server device 'nrf52840'; valid: a100"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'; valid: acsf1, basic-motions"),
        (
            {"network.band": "6g-subthz", "network.channel_scenario": "umi"},
            "band 6g-subthz at fc_ghz 140 is outside the umi model's validity range 0.5-100 GHz; "
            "models valid there: ci-umi, ci-inh",
        ),
        (
            {"network.band": "6g-subthz", "network.channel_scenario": "rma"},
            "band 6g-subthz at fc_ghz 140 is outside the rma model's validity range 0.5-30 GHz",
        ),
        ({"devices.n": -5}, "test: devices.n: Input should be greater than 0, got -5"),
        ({"sla_latency_s": 0}, "test: sla_latency_s: Input should be greater than 0, got 0"),
    ],
)
def test_bad_scenarios_are_named(changes, message):
    with pytest.raises(TinylargeError) as err:
        parse_scenario(base(**changes), "test")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_bundled_scenario_lists_them():
    with pytest.raises(UnknownNameError, match="unknown bundled scenario 'nope'; valid: "):
        load_bundled("nope")


def test_files(tmp_path):
    with pytest.raises(TinylargeError, match="does not exist"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [unclosed\n")
    with pytest.raises(TinylargeError, match="not valid YAML"):
        load_scenario(bad)
    bad.write_text("- a list\n")
    with pytest.raises(TinylargeError, match="must be a YAML mapping"):
        load_scenario(bad)


def test_bundled_scenarios_load_and_overrides_validate():
    for name in bundled_scenarios():
        assert load_bundled(name).name == name
    sc = load_bundled("smoke").with_overrides(**{"devices.n": 50, "duration_s": 5.0})
    assert sc.devices.n == 50 and sc.duration_s == 5.0
    with pytest.raises(TinylargeError, match="devices.n"):
        sc.with_overrides(**{"devices.n": 0})
    assert sc.band().ul_bandwidth_hz == 40e6
    assert sc.with_overrides(**{"network.slice_fraction": 0.25}).band().ul_bandwidth_hz == 10e6
