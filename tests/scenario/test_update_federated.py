"""The loop's federated update: what each device holds and where its rounds are priced. The new
keys' errors are in ``test_schema.py``; a loop run with federated updates is the keypad built-in's
(``test_builtins.py``)."""

import numpy as np

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
