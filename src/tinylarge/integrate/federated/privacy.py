"""Client-level differential privacy for FedAvg (DP-FedAvg, McMahan et al., ICLR 2018).

- Clipping: each client clips its model update to L2 norm ``clip`` before sending it (Flower's
  ``compute_clip_model_update``, the function its ``fixedclipping_mod`` calls), so the server,
  or a secure aggregate, only ever sees clipped updates.
- Noise: Flower's ``DifferentialPrivacyClientSideFixedClipping`` wraps an unweighted FedAvg and
  adds ``N(0, (z * clip / n)^2)`` to the mean of the ``n`` clipped updates each round.
- Accounting: Opacus's RDP accountant (Mironov 2017) composes one Gaussian release per round. Every
  training client takes part in every round, so no subsampling amplification is claimed
  (``sample_rate = 1``); the neighbouring relation is adding or removing one client's data.

Flower's own accountant wraps Google's ``dp-accounting``, whose ``attrs<24`` pin would downgrade
this environment's attrs, hence Opacus's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
from flwr.supercore.differential_privacy import compute_clip_model_update

from tinylarge.errors import TinylargeError

UNIT_WEIGHT = "unit-weight"  # every client weighs the same: the sensitivity of the mean is clip/n


def epsilon_spent(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon after ``rounds`` full-participation Gaussian releases (Opacus RDP)."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(float(noise_multiplier), 1.0, int(rounds))]
    return float(accountant.get_epsilon(delta))


def noise_for_epsilon(epsilon: float, rounds: int, delta: float) -> float:
    """The smallest noise multiplier whose ``rounds`` releases stay within ``(epsilon, delta)``
    (Opacus's search on the same accountant)."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=1.0,
            steps=rounds,
            accountant="rdp",
            epsilon_tolerance=0.005,
        )
    )


def clip_update(local: list[np.ndarray], global_: list[np.ndarray], clip: float) -> float:
    """Clip ``local - global_`` to L2 norm ``clip`` in place (Flower's function); returns the
    update's norm before clipping."""
    norm = float(
        np.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(local, global_, strict=True)))
    )
    compute_clip_model_update(local, global_, clip)
    return norm


def clipped_record(
    local: ArrayRecord, global_: ArrayRecord, clip: float
) -> tuple[ArrayRecord, float]:
    """``local`` with its update clipped (a new record), and the update's unclipped norm."""
    keys = list(local.keys())
    arrays = local.to_numpy_ndarrays()
    for a in arrays:
        if not np.issubdtype(a.dtype, np.floating):
            raise TinylargeError(
                f"client-level DP needs float arrays only; the model holds {a.dtype} buffers "
                "(use a model without BatchNorm, e.g. --model mlp)"
            )
    norm = clip_update(arrays, global_.to_numpy_ndarrays(), clip)
    return ArrayRecord(dict(zip(keys, (Array(np.asarray(a)) for a in arrays), strict=True))), norm


def private_strategy(config: Any) -> Strategy:
    """Unweighted FedAvg wrapped by Flower's client-side fixed-clipping DP strategy."""
    if config.clients_per_round not in (None, len(config.training_clients)):
        raise TinylargeError(
            "client-level DP here accounts full participation only; leave clients_per_round unset"
        )
    inner = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=1,
        min_evaluate_nodes=0,
        min_available_nodes=1,
        weighted_by_key=UNIT_WEIGHT,
    )
    return DifferentialPrivacyClientSideFixedClipping(
        inner,
        noise_multiplier=config.noise_multiplier,
        clipping_norm=config.dp_clip,
        num_sampled_clients=config.n_selected,
    )
