"""Federated split learning: SplitFed v1 and v2 (Thapa et al., AAAI 2022, "SplitFed: When
Federated Learning Meets Split Learning").

Every client of a round trains its device part at the same time (activations up, gradients down,
as in :mod:`.sl`); at the end of the round the fed server averages the device parts (FedAvg,
weighted by examples). v1: the main server keeps one copy of its part per client, updated in
parallel and averaged at the end of the round. v2: one server part, updated by the clients'
activations one after another (in a random order per step), never averaged. Clients sending at
the same time share the band; v1's server copies run in parallel, v2's work adds up.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch
from flwr.app import ArrayRecord
from pydantic import Field

from tinylarge.integrate.federated.clients import evaluation_split
from tinylarge.integrate.federated.config import Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.ledger import Ledger
from tinylarge.integrate.federated.local import accuracy
from tinylarge.integrate.federated.pricing import RadioEnvironment
from tinylarge.integrate.federated.server import Progress, register
from tinylarge.integrate.federated.sl import (
    Book,
    SLConfig,
    SplitPrice,
    _sgd,
    client_step,
    exchange,
    parts,
    server_step,
    split_payload,
    step_message,
)


class FSLConfig(SLConfig):
    """SplitFed: ``variant`` v1 (per-client server copies, averaged) or v2 (one server part)."""

    framework: Literal[Framework.SL, Framework.FSL] = Framework.FSL
    variant: Literal["v1", "v2"] = Field("v1", description="SplitFed v1 or v2")


def average_states(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict:
    """Weighted mean of state dicts (integer buffers rounded back to their dtype)."""
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    out = {}
    for key in states[0]:
        mean = sum(wi * s[key].double() for wi, s in zip(w, states, strict=True))
        out[key] = (
            mean.round().to(states[0][key].dtype)
            if not states[0][key].is_floating_point()
            else mean.to(states[0][key].dtype)
        )
    return out


def serve(grid: Any, config: FSLConfig, progress: Progress) -> dict[str, Any]:
    nodes, n_examples = register(grid, config)
    net, device_part, server = parts(config)
    price = SplitPrice(config, device_part, server)
    radio = RadioEnvironment(config.radio, config.n_clients, config.seed)
    training = config.training_clients
    ledger = Ledger(radio, price.device, {c: n_examples[c] for c in training}, progress)
    x_eval, y_eval = evaluation_split(config)
    rng = np.random.default_rng([config.seed, 37])
    shared_opt = _sgd(server, config)  # v2's one server part keeps its optimizer
    for round_ in range(1, config.rounds + 1):
        chosen = sorted(int(c) for c in rng.choice(training, config.n_selected, replace=False))
        k_of = {c: k for k, c in enumerate(chosen)}
        book = Book(len(chosen))
        weights = ArrayRecord(device_part.state_dict())
        replies = exchange(
            grid, [step_message(config, nodes[c], round_, arrays=weights) for c in chosen]
        )
        for c in chosen:
            book.weights(k_of[c], weights.count_bytes(), radio, [c], round_, 1 / len(chosen), 0)
        copies = {}
        if config.variant == "v1":
            copies = {c: copy.deepcopy(server) for c in chosen}
            opts = {c: _sgd(copies[c], config) for c in chosen}
        finals, step = {}, 0
        by_client = {_client(r, nodes): r for r in replies}
        while by_client:
            active = [c for c in by_client if not int(by_client[c].content["metrics"]["done"])]
            for c in [c for c in by_client if c not in active]:  # finished: weights came up
                final = by_client.pop(c).content
                finals[c] = (final["arrays"], float(final["metrics"]["num-examples"]))
                book.weights_up(
                    k_of[c],
                    final["arrays"].count_bytes(),
                    radio,
                    [c],
                    round_,
                    1 / len(chosen),
                    10_000 + step,
                )
            if not active:
                break
            step += 1
            order = active if config.variant == "v1" else [int(c) for c in rng.permutation(active)]
            grads = {}
            for c in order:
                part, opt = (copies[c], opts[c]) if config.variant == "v1" else (server, shared_opt)
                reply = by_client[c].content
                grads[c], loss = server_step(part, opt, reply)
                book.batch(
                    k_of[c],
                    reply["act"].count_bytes(),
                    grads[c],
                    int(reply["metrics"]["batch"]),
                    loss,
                    price,
                    radio,
                    [c],
                    round_,
                    step,
                    share=1 / len(active),
                    parallel_server=config.variant == "v1",
                )
            replies = exchange(
                grid, [step_message(config, nodes[c], round_, grad=grads[c]) for c in active]
            )
            by_client = {_client(r, nodes): r for r in replies}
        device_part.load_state_dict(
            average_states(
                [finals[c][0].to_torch_state_dict() for c in chosen], [finals[c][1] for c in chosen]
            )
        )
        if config.variant == "v1":
            server.load_state_dict(
                average_states(
                    [copies[c].state_dict() for c in chosen], [finals[c][1] for c in chosen]
                )
            )
        book.close(ledger, round_, chosen, sequential=False)
        ledger.close(round_, accuracy(net, x_eval, y_eval))
    return split_payload(config, ledger, price)


def _client(reply: Any, nodes: dict[int, int]) -> int:
    return {n: c for c, n in nodes.items()}[reply.metadata.src_node_id]


def run(config: FSLConfig | None = None, **io: Any) -> Any:
    """``run_fsl``: SplitFed v1 or v2."""
    io.pop("cache", None)
    return run_pattern(config or FSLConfig(), serve, **io)


run_fsl = run
__all__ = ["FSLConfig", "client_step", "run_fsl"]
