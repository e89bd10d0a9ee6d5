"""Client-level differential privacy for FedAvg (DP-FedAvg, McMahan et al., ICLR 2018).

- Clipping: each client clips its model update to L2 norm ``clip`` before sending it (Flower's
  ``compute_clip_model_update``, the function its ``fixedclipping_mod`` calls), so the server,
  or a secure aggregate, only ever sees clipped updates.
- Noise: Flower's ``DifferentialPrivacyClientSideFixedClipping`` wraps an unweighted FedAvg and
  adds ``N(0, (z * clip / n)^2)`` to the mean of the ``n`` clipped updates each round.
- Server optimiser (McMahan et al. 2018, Alg. 1's server learning rate; Reddi et al. 2021's
  server momentum): the noisy mean update ``d`` moves the model by ``lr * m`` with
  ``m <- momentum * m + d``. It acts on the released noisy mean only (post-processing), so the
  privacy guarantee is unchanged.
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


def server_step(
    current: list[np.ndarray],
    mean: list[np.ndarray],
    velocity: list[np.ndarray] | None,
    lr: float,
    momentum: float,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The server's step from ``current`` given the (noisy) aggregate ``mean``:
    ``v <- momentum * v + (mean - current)``, ``w <- current + lr * v`` (FedAvgM's rule, Hsu et
    al. 2019; ``v`` starts at the first update). Returns the new model and ``v``."""
    delta = [m - c for m, c in zip(mean, current, strict=True)]
    v = (
        delta
        if velocity is None
        else [momentum * a + d for a, d in zip(velocity, delta, strict=True)]
    )
    new = [(c + lr * a).astype(c.dtype) for c, a in zip(current, v, strict=True)]
    return new, v


class ServerStepDP(DifferentialPrivacyClientSideFixedClipping):
    """Flower's client-side fixed-clipping DP-FedAvg followed by a server learning rate and
    momentum applied to the noisy mean update (post-processing of the private release)."""

    def __init__(self, *args: Any, server_lr: float, server_momentum: float, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.server_lr, self.server_momentum = float(server_lr), float(server_momentum)
        self._current: list[np.ndarray] | None = None
        self._velocity: list[np.ndarray] | None = None

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: Any, grid: Any):  # type: ignore[no-untyped-def]
        self._current = arrays.to_numpy_ndarrays()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int, replies: Any):  # type: ignore[no-untyped-def]
        noisy, metrics = super().aggregate_train(server_round, replies)
        if noisy is None or self._current is None:
            return noisy, metrics
        keys = list(noisy.keys())
        new, self._velocity = server_step(
            self._current,
            noisy.to_numpy_ndarrays(),
            self._velocity,
            self.server_lr,
            self.server_momentum,
        )
        return ArrayRecord(dict(zip(keys, (Array(a) for a in new), strict=True))), metrics


def private_strategy(config: Any) -> Strategy:
    """Unweighted FedAvg wrapped by Flower's client-side fixed-clipping DP strategy, then the
    server step (learning rate and momentum; 1 and 0 are plain DP-FedAvg)."""
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
    return ServerStepDP(
        inner,
        noise_multiplier=config.noise_multiplier,
        clipping_norm=config.dp_clip,
        num_sampled_clients=config.n_selected,
        server_lr=getattr(config, "server_lr", 1.0),
        server_momentum=getattr(config, "server_momentum", 0.0),
    )
