"""Small-scale fading as a power gain on top of path loss: Rayleigh (NLOS) and Ricean (LOS).

Flat block fading per transmission: the gain ``|h|^2`` of one complex coefficient with
``E|h|^2 = 1``. Ricean: ``h = sqrt(K/(K+1)) + sqrt(1/(K+1)) * CN(0, 1)``; Rayleigh is K = 0. The
K-factors are TR 38.901 Table 7.5-6's means (see :mod:`tinylarge.net.pathloss`).

The functions take standard normal draws rather than a generator, so a caller can key its random
numbers however it likes (the fleet simulator keys them by request: ``tinylarge.orchestrate.rng``).
"""

from __future__ import annotations

import numpy as np


def fading_power_gain(
    k_factor_db: np.ndarray | float, z_re: np.ndarray, z_im: np.ndarray
) -> np.ndarray:
    """``|h|^2`` from two standard normals per sample; ``k_factor_db = -inf`` gives Rayleigh."""
    k = 10.0 ** (np.asarray(k_factor_db, dtype=float) / 10.0)
    diffuse = 1.0 / (k + 1.0)  # written this way so that K = inf (no scattering) stays finite
    los = np.sqrt(1.0 - diffuse)
    scatter = np.sqrt(diffuse / 2.0)  # per real dimension of CN(0, 1/(K+1))
    re = los + scatter * z_re
    im = scatter * z_im
    return re * re + im * im


def sample_fading_power_gain(
    k_factor_db: np.ndarray | float, size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Convenience: :func:`fading_power_gain` with normals drawn from ``rng``."""
    return fading_power_gain(k_factor_db, rng.standard_normal(size), rng.standard_normal(size))
