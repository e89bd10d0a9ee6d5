"""Federated rounds over clients whose data the caller hands in as arrays, not a partition of a
named dataset: the closed loop's devices each train on what they served (``tinylarge.scenario``).

The arrays are registered in this process under a content key that the config carries
(``client_arrays``); the ClientApp looks its share up there instead of rebuilding a partition, so
this runs on the in-process grid only (a Ray actor or a SuperNode is another process). The rest is
the stack every framework runs: Flower's Message API and strategy (FedAvg or FedProx by
``config.strategy``), the :class:`~.strategy.Selected` wrapper and the ledger's pricing of bytes,
airtime and compute. Only ``ArrayRecord``s cross the grid (the config string and the clients'
metrics are not counted, as everywhere in this package).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, MetricRecord
from torch import nn

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated.clients import ClientShare
from tinylarge.integrate.federated.config import Engine, FederatedConfig
from tinylarge.integrate.federated.fl import build_student, expected_samples
from tinylarge.integrate.federated.pricing import Compute, training_memory_bytes
from tinylarge.integrate.federated.server import Progress, ServerTask, serve_rounds
from tinylarge.models import count_macs
from tinylarge.train.cache import array_digest

_SHARES: dict[str, tuple[ClientShare, ...]] = {}


def register_shares(arrays: Sequence[tuple[np.ndarray, np.ndarray]]) -> str:
    """Hold one ``(x, y)`` per client in this process; returns the content key to put in
    ``FederatedConfig.client_arrays``."""
    key = array_digest(*[a for xy in arrays for a in xy])[:16]
    _SHARES[key] = tuple(ClientShare(c, x, y) for c, (x, y) in enumerate(arrays))
    return key


def registered_share(key: str, client: int) -> ClientShare:
    """Client ``client``'s arrays registered under ``key`` (the ClientApp's lookup)."""
    shares = _SHARES.get(key)
    if shares is None:
        raise TinylargeError(
            f"no client arrays registered under {key!r} in this process; they exist only "
            "during run_on_arrays, on engine inprocess"
        )
    return shares[client]


@dataclass(frozen=True)
class ArraysRun:
    """The global model after the rounds, the server's payload (``rounds``: the ledger's
    :class:`~.ledger.RoundRecord` dicts) and the wall time of the whole federation."""

    arrays: ArrayRecord
    payload: dict[str, Any]
    wall_s: float
    model_bytes: int  # one copy of the model as an ArrayRecord (what one client sends per round)

    @property
    def bytes_up(self) -> int:
        return int(sum(r["bytes_up"] for r in self.payload["rounds"]))

    @property
    def bytes_down(self) -> int:
        return int(sum(r["bytes_down"] for r in self.payload["rounds"]))

    @property
    def sim_time_s(self) -> float:
        return float(sum(r["sim_time_s"] for r in self.payload["rounds"]))


def run_on_arrays(
    config: FederatedConfig,
    model: nn.Module,
    shares: Sequence[tuple[np.ndarray, np.ndarray]],
    evaluate: Callable[[nn.Module], float],
    *,
    devices: Sequence[str] | None = None,
    progress: Progress = None,
) -> ArraysRun:
    """``config.rounds`` of ``config.strategy`` starting from ``model``'s weights, client ``c``
    training on ``shares[c]`` (``config.n_clients`` must be ``len(shares)``; ``config.model`` the
    spec ``model`` was built from, so each client rebuilds it). ``evaluate`` scores the global
    model after every round (the server's own data). ``devices[c]`` is client ``c``'s catalog
    device, which prices its local compute (default: ``config.device`` for all); the compute
    *energy* uses ``config.device``'s active power for every client (the ledger has one)."""
    if config.n_clients != len(shares):
        raise TinylargeError(f"n_clients {config.n_clients} but {len(shares)} client arrays")
    small = [c for c, (_, y) in enumerate(shares) if len(y) < 2]
    if small:
        raise TinylargeError(f"client {small[0]} holds fewer than 2 samples; leave it out")
    rebuilt = build_student(config)
    if rebuilt.state_dict().keys() != model.state_dict().keys():
        raise TinylargeError("config.model does not describe the model passed in")
    key = register_shares(shares)
    config = config.model_copy(update={"client_arrays": key, "engine": Engine.INPROCESS})
    try:
        return _run(config, model, evaluate, devices or [config.device] * len(shares), progress)
    finally:
        _SHARES.pop(key, None)


def _run(config, model, evaluate, devices, progress) -> ArraysRun:
    from tinylarge.integrate.federated.engine import _quiet_flower
    from tinylarge.integrate.federated.inprocess import LocalGrid

    _quiet_flower()

    x0 = torch.as_tensor(np.asarray(registered_share(config.client_arrays, 0).x[:1]))
    macs = count_macs(model, tuple(x0.shape[1:]))
    prices = {c: Compute.of(name) for c, name in enumerate(devices)}
    default = Compute.of(config.device)
    scratch = copy.deepcopy(model)
    final: dict[str, ArrayRecord] = {}

    def score(arrays: ArrayRecord) -> float:
        final["arrays"] = arrays  # Flower scores every round's aggregate: the last is the result
        scratch.load_state_dict(arrays.to_torch_state_dict())
        scratch.eval()
        return float(evaluate(scratch))

    def compute_s(c: int, m: MetricRecord) -> float:
        return float(prices[c].train_seconds(macs, float(m["samples"])))

    initial = ArrayRecord(model.state_dict())
    task = ServerTask(
        initial=initial,
        evaluate=score,
        compute_s=compute_s,
        expected_compute_s=lambda n: float(
            default.train_seconds(macs, expected_samples(config, n))
        ),
        memory=training_memory_bytes(copy.deepcopy(model), x0, config.batch_size),
        extras={"forward_macs": macs},
    )
    flwr_log = logging.getLogger("flwr")
    level, start = flwr_log.level, time.perf_counter()
    flwr_log.setLevel(logging.ERROR)  # "federated evaluation skipped" each call: we evaluate here
    try:
        payload = serve_rounds(LocalGrid(config.n_clients), config, task, progress)
    finally:
        flwr_log.setLevel(level)
    return ArraysRun(final["arrays"], payload, time.perf_counter() - start, initial.count_bytes())
