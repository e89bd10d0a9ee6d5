"""Robust aggregation by name: Flower's Krum, MultiKrum, Bulyan, FedMedian and FedTrimmedAvg, and
FLTrust (Cao et al., NDSS 2021), which Flower lacks.

FLTrust bootstraps trust from a small clean root dataset the server holds: each round the server
makes its own update ``g0`` from the global model on that data; a client's update ``gi`` gets the
trust score ``ReLU(cos(gi, g0))``, is rescaled to ``||g0||``, and the new model is
``w + sum(TS_i * gi * ||g0|| / ||gi||) / sum(TS_i)`` (the paper's Algorithm 2 with a global rate
of 1). A client pointing away from the server's direction gets no weight, and no client can
weigh more than the server's own step, however much it scales its update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    Bulyan,
    FedAvg,
    FedMedian,
    FedTrimmedAvg,
    Krum,
    MultiKrum,
    Strategy,
)

from tinylarge.integrate.federated.privacy import private_strategy

# every wrapped strategy trains all the nodes of the view it is given (the selection wrapper
# alone decides who takes part) and leaves evaluation to the server (centralised accuracy)
ALL_NODES = {
    "fraction_train": 1.0,
    "fraction_evaluate": 0.0,
    "min_train_nodes": 1,
    "min_evaluate_nodes": 0,
    "min_available_nodes": 1,
}


def assumed_malicious(config: Any) -> int:
    """The ``f`` Krum/Bulyan are told: the config's, else the number of attackers (the usual
    assumption that the defender knows an upper bound)."""
    f = getattr(config, "assumed_malicious", None)
    if f is not None:
        return int(f)
    return len(getattr(config, "malicious", []))


def fltrust_aggregate(
    global_: list[np.ndarray], clients: list[list[np.ndarray]], server: list[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray]:
    """FLTrust's new model from the global arrays, each client's returned arrays and the server's
    own (root-data) arrays; also the trust scores. Float arrays only take part (integer buffers
    come from the server's model)."""
    floats = [i for i, g in enumerate(global_) if np.issubdtype(g.dtype, np.floating)]

    def delta(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([(arrays[i].astype(np.float64) - global_[i]).ravel() for i in floats])

    g0 = delta(server)
    n0 = float(np.linalg.norm(g0))
    scores, total = [], np.zeros_like(g0)
    for arrays in clients:
        gi = delta(arrays)
        ni = float(np.linalg.norm(gi))
        cos = float(gi @ g0) / (ni * n0) if ni > 0 and n0 > 0 else 0.0
        ts = max(cos, 0.0)
        scores.append(ts)
        if ts > 0:
            total += ts * gi * (n0 / ni)
    s = float(sum(scores))
    step = total / s if s > 0 else np.zeros_like(g0)
    out = [np.array(a, copy=True) for a in server]
    offset = 0
    for i in floats:
        size = global_[i].size
        out[i] = (global_[i] + step[offset : offset + size].reshape(global_[i].shape)).astype(
            global_[i].dtype
        )
        offset += size
    return out, np.asarray(scores)


class FLTrust(FedAvg):
    """FLTrust on Flower's Message API. ``server_update(arrays)`` trains the global arrays on the
    server's root data and returns them (the framework supplies it: it owns model and data)."""

    def __init__(self, server_update: Callable[[ArrayRecord, int], ArrayRecord], **kw: Any):
        super().__init__(**{**ALL_NODES, **kw})
        self.server_update = server_update
        self._global: ArrayRecord | None = None
        self.trust_scores: list[list[float]] = []

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._global = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid or self._global is None:
            return None, None
        keys = list(self._global.keys())
        records = [m.content[self.arrayrecord_key] for m in valid]
        server = self.server_update(self._global, server_round)
        new, scores = fltrust_aggregate(
            self._global.to_numpy_ndarrays(),
            [r.to_numpy_ndarrays() for r in records],
            server.to_numpy_ndarrays(),
        )
        self.trust_scores.append([float(s) for s in scores])
        metrics = self.train_metrics_aggr_fn([m.content for m in valid], self.weighted_by_key)
        arrays = ArrayRecord({k: Array(np.asarray(v)) for k, v in zip(keys, new, strict=True)})
        return arrays, metrics


def _server_update(config: Any) -> Callable[[ArrayRecord, int], ArrayRecord]:
    from tinylarge.integrate.federated.robust import root_update

    return lambda arrays, round_: root_update(config, arrays, round_)


ROBUST_STRATEGIES: dict[str, Callable[[Any], Strategy]] = {
    "krum": lambda c: Krum(**ALL_NODES, num_malicious_nodes=assumed_malicious(c)),
    # Blanchard et al. 2017: average the m = n - f best-scored updates
    "multikrum": lambda c: MultiKrum(
        **ALL_NODES,
        num_malicious_nodes=assumed_malicious(c),
        num_nodes_to_select=max(1, c.n_selected - assumed_malicious(c)),
    ),
    "bulyan": lambda c: Bulyan(**ALL_NODES, num_malicious_nodes=assumed_malicious(c)),
    "fedmedian": lambda c: FedMedian(**ALL_NODES),
    "fedtrimmedavg": lambda c: FedTrimmedAvg(**ALL_NODES, beta=getattr(c, "trim_beta", 0.2)),
    "fltrust": lambda c: FLTrust(_server_update(c)),
    "dp-fedavg": lambda c: private_strategy(c),
}
