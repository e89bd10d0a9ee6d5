"""The server side shared by the FedAvg-shaped frameworks (FL, FedProx, FTL, FML, FFM).

A framework describes its server with a :class:`ServerTask` (initial arrays, centralised test
accuracy, local compute price, device memory); :func:`serve_rounds` registers the nodes, runs
Flower's strategy (wrapped by :class:`~.strategy.Selected`) for ``config.rounds`` and personalises
the held-out clients. The loop itself is Flower's (``Strategy.start``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated.apps import config_record
from tinylarge.integrate.federated.config import FederatedConfig
from tinylarge.integrate.federated.ledger import Ledger, RoundRecord
from tinylarge.integrate.federated.pricing import Compute, RadioEnvironment
from tinylarge.integrate.federated.selection import load_selector
from tinylarge.integrate.federated.strategy import Selected, make_strategy

Progress = Callable[[RoundRecord], None] | None
NODE_WAIT_S = 120.0


@dataclass
class ServerTask:
    """One framework's server: what it sends first, how it scores, what a client's step costs."""

    initial: ArrayRecord
    evaluate: Callable[[ArrayRecord], float]
    compute_s: Callable[[int, MetricRecord], float]  # a client's local compute from its report
    expected_compute_s: Callable[[int], float]  # from a client's n_examples, before it trains
    memory: dict[str, int]
    extras: dict[str, Any] = field(default_factory=dict)


def client_error(reason: str) -> str:
    """The last meaningful line of a client's (Ray-wrapped) traceback."""
    lines = [ln.strip() for ln in str(reason).splitlines() if ln.strip()]
    msg = next((ln for ln in reversed(lines) if "Message:" in ln), lines[-1] if lines else "")
    return msg.split("Message:", 1)[-1].strip().rstrip("'>")


def register(grid: Grid, config: FederatedConfig) -> tuple[dict[int, int], dict[int, int]]:
    """Ask every node who it is: ``({client: node_id}, {client: n_examples})``."""
    deadline = time.monotonic() + NODE_WAIT_S
    while len(ids := list(grid.get_node_ids())) < config.n_clients:
        if time.monotonic() > deadline:
            raise TinylargeError(f"only {len(ids)} of {config.n_clients} clients connected")
        time.sleep(0.5)
    messages = [
        Message(RecordDict({"config": config_record(config)}), dst_node_id=n, message_type="query")
        for n in ids
    ]
    nodes, n_examples = {}, {}
    for reply in grid.send_and_receive(messages):
        if reply.has_error():
            raise TinylargeError(f"client registration failed: {client_error(reply.error.reason)}")
        m = reply.content["metrics"]
        nodes[int(m["client"])] = reply.metadata.src_node_id
        n_examples[int(m["client"])] = int(m["n-examples"])
    missing = sorted(set(range(config.n_clients)) - set(nodes))
    if missing:
        raise TinylargeError(f"no node answered for clients {missing}")
    return nodes, n_examples


def serve_rounds(
    grid: Grid, config: FederatedConfig, task: ServerTask, progress: Progress
) -> dict[str, Any]:
    """Run the rounds; the payload every ``run_<framework>`` turns into its result."""
    nodes, n_examples = register(grid, config)
    radio = RadioEnvironment(config.radio, config.n_clients, config.seed)
    training = config.training_clients
    ledger = Ledger(
        radio, Compute.of(config.device), {c: n_examples[c] for c in training}, progress
    )
    size = task.initial.count_bytes()
    ledger.expect(
        size,
        size,
        {c: task.expected_compute_s(n_examples[c]) for c in training},
        share=1.0 / config.n_selected,
    )
    strategy = Selected(
        make_strategy(config),
        load_selector(config.selection, config),
        ledger,
        nodes,
        training,
        config.n_selected,
        task.compute_s,
        config.seed,
    )

    def evaluate_fn(round_: int, arrays: ArrayRecord) -> MetricRecord | None:
        if round_ == 0:
            return None
        acc = task.evaluate(arrays)
        ledger.close(round_, acc)
        return MetricRecord({"accuracy": acc})

    result = strategy.start(
        grid,
        task.initial,
        num_rounds=config.rounds,
        train_config=config_record(config),
        evaluate_fn=evaluate_fn,
    )
    personal = personalise(grid, config, nodes, result.arrays) if config.n_holdout_clients else None
    return payload(config, ledger, task.memory, personal, task.extras)


def personalise(
    grid: Grid, config: FederatedConfig, nodes: dict[int, int], arrays: ArrayRecord
) -> dict[str, Any]:
    """Few-shot personalisation on every held-out client (Flower evaluate messages)."""
    messages = [
        Message(
            RecordDict({"arrays": arrays, "config": config_record(config)}),
            dst_node_id=nodes[c],
            message_type="evaluate",
        )
        for c in config.holdout_clients
    ]
    rows = []
    for reply in grid.send_and_receive(messages):
        if reply.has_error():
            raise TinylargeError(f"personalisation failed: {client_error(reply.error.reason)}")
        rows.append({k: float(v) for k, v in reply.content["metrics"].items()})
    weights = [r["n-query"] for r in rows]
    return {
        "clients": rows,
        "accuracy_before": float(np.average([r["accuracy-before"] for r in rows], weights=weights)),
        "accuracy_after": float(np.average([r["accuracy-after"] for r in rows], weights=weights)),
        "finetune_steps": config.finetune_steps,
    }


def payload(
    config: FederatedConfig,
    ledger: Ledger,
    memory: dict[str, int],
    personal: dict[str, Any] | None,
    extras: dict[str, Any],
) -> dict[str, Any]:
    """What a server hands back (JSON-able: it crosses a process boundary in deployment)."""
    return {
        "rounds": [r.to_dict() for r in ledger.records],
        "memory": memory,
        "personalised": personal,
        "extras": extras,
        "selected_counts": {str(c): s.times_selected for c, s in ledger.states.items()},
    }
