"""Drifted copies of a data pool (modelled sensor changes) and the traffic mix a device sees.

- ``noise``: additive Gaussian sensor noise of ``noise_std`` in normalised input units (a camera in
  low light, a worn sensor).
- ``subject``: a new wearer or site, modelled as a per-channel gain ``1 + N(0, noise_std)`` and
  offset ``N(0, noise_std)`` applied to every input (sensor placement and calibration differ).
- ``class_mix``: inputs unchanged; ``classes`` become ``weight`` of the traffic.

Each drifted copy is seeded, so a scenario and seed always give the same data.
"""

from __future__ import annotations

import numpy as np

from tinylarge.scenario.sections import DriftConfig


def drifted_inputs(x: np.ndarray, drift: DriftConfig, seed: int) -> np.ndarray:
    """``x`` (N, C, H, W) as a drifted device sees it (unchanged for ``none`` and ``class_mix``)."""
    rng = np.random.default_rng([seed, 0xD81F7])
    if drift.kind == "noise":
        return (x + drift.noise_std * rng.standard_normal(x.shape)).astype(np.float32)
    if drift.kind == "subject":
        channels = x.shape[1]
        gain = 1.0 + drift.noise_std * rng.standard_normal(channels)
        offset = drift.noise_std * rng.standard_normal(channels)
        shaped = (1, channels) + (1,) * (x.ndim - 2)
        return (x * gain.reshape(shaped) + offset.reshape(shaped)).astype(np.float32)
    return np.asarray(x, dtype=np.float32)


def class_weights(y: np.ndarray, n_classes: int, drift: DriftConfig | None) -> np.ndarray:
    """Per-sample weights (summing to 1) of pool labels ``y`` under the traffic mix: uniform over
    samples, or ``drift.weight`` of the mass on ``drift.classes`` (split evenly by class)."""
    y = np.asarray(y)
    if drift is None or drift.kind != "class_mix":
        return np.full(len(y), 1.0 / len(y))
    present = np.bincount(y, minlength=n_classes) > 0
    hot = np.zeros(n_classes, dtype=bool)
    hot[[c for c in drift.classes if 0 <= c < n_classes]] = True
    hot &= present
    cold = present & ~hot
    if not hot.any() or not cold.any():
        return np.full(len(y), 1.0 / len(y))
    class_mass = np.where(hot, drift.weight / hot.sum(), (1.0 - drift.weight) / cold.sum())
    counts = np.maximum(np.bincount(y, minlength=n_classes), 1)
    return class_mass[y] / counts[y]
