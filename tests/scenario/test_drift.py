import numpy as np
import pytest

from tinylarge.scenario.drift import class_weights, drifted_inputs
from tinylarge.scenario.sections import DriftConfig


def test_noise_adds_zero_mean_noise_of_the_given_std_and_is_seeded():
    x = np.zeros((200, 1, 8, 8), dtype=np.float32)
    d = DriftConfig(kind="noise", noise_std=0.3)
    a, b = drifted_inputs(x, d, 1), drifted_inputs(x, d, 1)
    assert np.array_equal(a, b) and not np.array_equal(a, drifted_inputs(x, d, 2))
    assert abs(a.mean()) < 0.01 and a.std() == pytest.approx(0.3, rel=0.03)


def test_subject_is_one_affine_map_per_channel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3, 1, 20)).astype(np.float32)
    y = drifted_inputs(x, DriftConfig(kind="subject", noise_std=0.2), 0)
    for c in range(3):
        gain, offset = np.polyfit(x[:, c].ravel(), y[:, c].ravel(), 1)
        assert np.allclose(y[:, c], gain * x[:, c] + offset, atol=1e-5)
    assert not np.allclose(x, y)


def test_class_mix_moves_the_mass_onto_the_named_classes():
    y = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    w = class_weights(y, 5, DriftConfig(kind="class_mix", classes=[1, 3], weight=0.8))
    assert w.sum() == pytest.approx(1.0)
    assert w[(y == 1) | (y == 3)].sum() == pytest.approx(0.8)
    assert w[y == 1].sum() == pytest.approx(0.4) and w[y == 0].sum() == pytest.approx(0.2 / 3)
    assert np.allclose(class_weights(y, 5, None), 1 / len(y))
    assert np.array_equal(drifted_inputs(y.astype(np.float32), DriftConfig(kind="class_mix",
                          classes=[1]), 0), y.astype(np.float32))  # fmt: skip
