"""The loop's federated update: what each device holds, where rounds are priced, the new keys'
errors, and a small loop run in which the fleet recovers from drift by federated rounds alone."""

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.scenario.schema import load_scenario
from tinylarge.scenario.sections import DeviceGroup, FederatedUpdateConfig
from tinylarge.scenario.update_federated import DeviceLabels, update_band


def test_a_device_keeps_its_last_labelled_samples():
    labels = DeviceLabels(cap=5)
    labels.add("a", np.arange(12, dtype=np.float32).reshape(4, 3), np.array([0, 1, 2, 3]))
    labels.add("a", np.full((3, 3), 9.0, dtype=np.float32), np.array([4, 4, 4]))
    x, y = labels.arrays("a")
    assert labels.count("a") == 5 and labels.count("b") == 0
    assert y.tolist() == [2, 3, 4, 4, 4] and x.dtype == np.float32 and x.shape == (5, 3)
    assert x[0].tolist() == [6.0, 7.0, 8.0]  # the oldest two were dropped


def test_rounds_are_priced_on_the_fleets_band():
    fed = FederatedUpdateConfig()
    assert update_band(fed, [DeviceGroup(link="ble"), DeviceGroup(link="lte-m")]) == "lte-m"
    assert update_band(fed, [DeviceGroup(link="wifi", band="6g-fr3")]) == "6g-fr3"
    assert update_band(fed, [DeviceGroup(link="wifi")]) == "nr-fr1"
    assert update_band(FederatedUpdateConfig(band="nr-fr2"), [DeviceGroup()]) == "nr-fr2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("loop: {federated: {strategy: krum}}\n",
         "loop.federated.strategy: Input should be 'fedavg' or 'fedprox'"),
        ("loop: {federated: {rounds: 0}}\n",
         "loop.federated.rounds: Input should be greater than or equal to 1"),
        ("loop: {federated: {band: lora}}\n",
         "loop.federated.band: unknown band 'lora'; valid: nb-iot, lte-m, nr-fr1"),
        ("loop: {federated: {epochs: 2}}\n",
         "loop.federated.epochs: unknown key 'epochs'; valid: rounds, strategy, proximal_mu,"),
        ("loop: {federated: {max_clients: 1}}\n",
         "loop.federated.max_clients: Input should be greater than or equal to 2"),
        ("loop: {federated: {lr: 0}}\n", "loop.federated.lr: Input should be greater than 0"),
        ("loop: {update: gossip}\n", "loop.update: Input should be 'redistill' or 'federated'"),
    ],
)  # fmt: skip
def test_bad_federated_keys_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TinylargeError) as err:
        load_scenario(path)
    assert message in str(err.value)
