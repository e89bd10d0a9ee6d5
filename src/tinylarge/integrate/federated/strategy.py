"""Server strategies by name (Flower's own), and :class:`Selected`, which wraps any of them to
choose the round's clients with a :data:`~.selection.Selector` and to price the round.

A strategy is chosen by ``config.strategy``; a new one (issue 15's Krum, MultiKrum, Bulyan,
FedMedian, FedTrimmedAvg...) is one entry in :data:`STRATEGIES`. The wrapper never touches
aggregation: it hands the inner strategy a view of the grid holding only the selected nodes (so
the inner strategy samples all of them) and reads the messages going out and coming back; only
a selector that asks for an outer step other than 1 (:func:`~.selection.server_step`) moves the
inner strategy's aggregate, along the line from the round's global model (:func:`outer_step`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedAvgM, FedProx, Strategy

from tinylarge.integrate.federated.defences import ALL_NODES as _ALL
from tinylarge.integrate.federated.defences import ROBUST_STRATEGIES
from tinylarge.integrate.federated.ledger import Ledger
from tinylarge.integrate.federated.selection import Selector, server_step

STRATEGIES: dict[str, Callable[[Any], Strategy]] = {
    "fedavg": lambda c: FedAvg(**_ALL),
    "fedprox": lambda c: FedProx(**_ALL, proximal_mu=getattr(c, "proximal_mu", 0.0)),
    # Reptile's outer step (Nichol et al. 2018): w <- w + eps (mean(w_i) - w), i.e. FedAvgM with
    # server learning rate eps and no momentum
    "fedavgm": lambda c: FedAvgM(
        **_ALL,
        server_learning_rate=getattr(c, "outer_lr", getattr(c, "server_lr", 1.0)),
        server_momentum=getattr(c, "server_momentum", 0.0),
    ),
}

STRATEGIES.update(ROBUST_STRATEGIES)  # issue 15: Krum ... Bulyan, FLTrust, DP-FedAvg


def strategy_names() -> list[str]:
    return list(STRATEGIES)


def make_strategy(config: Any) -> Strategy:
    return STRATEGIES[config.strategy](config)


class GridView:
    """A grid that shows only ``node_ids`` to a strategy (everything else is the real grid's)."""

    def __init__(self, grid: Grid, node_ids: list[int]) -> None:
        self._grid, self._ids = grid, list(node_ids)

    def get_node_ids(self) -> list[int]:
        return list(self._ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


class Selected(Strategy):
    """``inner`` with client selection and round pricing.

    ``nodes`` maps client ids to node ids; ``compute_s(client, metrics)`` is a client's local
    compute time from what it reported; ``expected`` gives each client's expected bytes down, up
    and compute seconds, for the selector.
    """

    def __init__(
        self,
        inner: Strategy,
        selector: Selector,
        ledger: Ledger,
        nodes: dict[int, int],
        training_clients: list[int],
        n_selected: int,
        compute_s: Callable[[int, MetricRecord], float],
        seed: int,
    ) -> None:
        self.inner, self.selector, self.ledger = inner, selector, ledger
        self.nodes = nodes
        self.clients = {n: c for c, n in nodes.items()}
        self.training = list(training_clients)
        self.n_selected = n_selected
        self.compute_s = compute_s
        self.rng = np.random.default_rng([seed, 5151])
        self._down: dict[int, int] = {}
        self._global: ArrayRecord | None = None
        self._step = 1.0

    def summary(self) -> None:
        self.inner.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        states = self.ledger.client_states(self.training)
        chosen = self.selector(states, self.n_selected, self.rng)
        self._global, self._step = arrays, server_step(self.selector, states, chosen)
        view = GridView(grid, [self.nodes[c] for c in chosen])
        messages = list(self.inner.configure_train(server_round, arrays, config, view))
        self._down = {self.clients[m.metadata.dst_node_id]: _array_bytes(m) for m in messages}
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        ok = [r for r in replies if not r.has_error()]
        errors = [r.error.reason for r in replies if r.has_error()]
        if errors:
            from tinylarge.errors import TinylargeError
            from tinylarge.integrate.federated.server import client_error

            raise TinylargeError(
                f"a client failed in round {server_round}: {client_error(errors[0])}"
            )
        clients = [self.clients[r.metadata.src_node_id] for r in ok]
        metrics = [next(iter(r.content.metric_records.values())) for r in ok]
        n = [float(m["num-examples"]) for m in metrics]
        loss = float(np.average([m["train-loss"] for m in metrics], weights=n)) if ok else None
        self.ledger.price(
            server_round,
            clients,
            [self._down.get(c, 0) for c in clients],
            [_array_bytes(r) for r in ok],
            [self.compute_s(c, m) for c, m in zip(clients, metrics, strict=True)],
            loss,
        )
        arrays, agg_metrics = self.inner.aggregate_train(server_round, ok)
        if arrays is not None and self._global is not None and abs(self._step - 1.0) > 1e-9:
            arrays = outer_step(self._global, arrays, self._step)
        return arrays, agg_metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> Any:
        return self.inner.aggregate_evaluate(server_round, replies)


def outer_step(start: ArrayRecord, mean: ArrayRecord, step: float) -> ArrayRecord:
    """``start + step * (mean - start)`` for every floating-point parameter; BatchNorm running
    statistics and integer buffers keep the mean (a step above 1 could push a running variance
    below zero)."""
    out = {}
    for name, arr in mean.items():
        m, s = arr.numpy(), start[name].numpy()
        if np.issubdtype(m.dtype, np.floating) and "running_" not in name:
            m = np.asarray(s + step * (m - s), dtype=m.dtype)
        out[name] = m
    return ArrayRecord(array_dict={k: Array.from_numpy_ndarray(v) for k, v in out.items()})


def _array_bytes(message: Message) -> int:
    return sum(rec.count_bytes() for rec in message.content.array_records.values())
