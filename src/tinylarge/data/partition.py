"""Federated partitions of a training set: iid, Dirichlet label skew, and by natural group.

Dirichlet label skew follows Hsu, Qi & Brown, "Measuring the effects of non-identical data
distribution for federated visual classification" (2019): for each class, client shares are drawn
from Dir(alpha); small alpha means each client sees few classes.
"""

from __future__ import annotations

import numpy as np

from tinylarge.errors import TinylargeError


def _check_clients(n_clients: int, n_samples: int) -> None:
    if n_clients < 1:
        raise TinylargeError(f"n_clients must be >= 1, got {n_clients}")
    if n_clients > n_samples:
        raise TinylargeError(f"n_clients={n_clients} exceeds the {n_samples} samples to share")


def partition_iid(n_samples: int, n_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffle and deal the indices ``0..n_samples-1`` into ``n_clients`` near-equal parts."""
    _check_clients(n_clients, n_samples)
    order = np.random.default_rng(seed).permutation(n_samples)
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def partition_dirichlet(
    y: np.ndarray, n_clients: int, alpha: float, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Label-skewed parts: class ``c``'s samples go to clients in Dir(``alpha``) proportions.

    Redraws (up to 100 times) until every client holds at least ``min_size`` samples.
    """
    _check_clients(n_clients, len(y))
    if alpha <= 0:
        raise TinylargeError(f"Dirichlet alpha must be > 0, got {alpha}")
    rng = np.random.default_rng(seed)
    for _ in range(100):
        parts: list[list[int]] = [[] for _ in range(n_clients)]
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            shares = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for client, chunk in enumerate(np.split(idx, cuts)):
                parts[client].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
    raise TinylargeError(
        f"could not give each of {n_clients} clients >= {min_size} samples with alpha={alpha}; "
        "raise alpha or lower n_clients"
    )


def partition_by_group(groups: np.ndarray | None, n_clients: int | None = None) -> list[np.ndarray]:
    """One part per natural group (subject, speaker); ``n_clients`` deals groups round-robin."""
    if groups is None:
        raise TinylargeError("this dataset has no group ids (subject, speaker); use iid")
    ids = np.unique(groups)
    n = len(ids) if n_clients is None else n_clients
    if not 1 <= n <= len(ids):
        raise TinylargeError(f"n_clients={n_clients} must be between 1 and the {len(ids)} groups")
    parts: list[list[int]] = [[] for _ in range(n)]
    for k, g in enumerate(ids):
        parts[k % n].extend(np.flatnonzero(groups == g).tolist())
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
