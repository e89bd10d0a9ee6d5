"""Federated learning (FL) of a tiny student across devices: FedAvg (McMahan et al., AISTATS
2017) and FedProx (Li et al., MLSys 2020), both Flower's strategies.

Every client trains the whole student on its own share (non-IID by the config's partition) with
the shared :func:`~.local.local_update`; FedProx adds the proximal term with ``proximal_mu``.
The server scores the global model on the dataset's test split after each round.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from flwr.app import ArrayRecord
from pydantic import Field
from torch import nn

from tinylarge.integrate.federated.clients import ClientShare, evaluation_split, load_split
from tinylarge.integrate.federated.config import FederatedConfig, Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.local import (
    accuracy,
    frozen_bn_forward,
    local_update,
    personalise,
)
from tinylarge.integrate.federated.pricing import Compute, training_memory_bytes
from tinylarge.integrate.federated.server import Progress, ServerTask, serve_rounds
from tinylarge.models import build_model, count_macs, default_student_spec
from tinylarge.train import seed_everything


class FLConfig(FederatedConfig):
    """FedAvg of a tiny student."""

    framework: Literal[Framework.FL, Framework.FEDPROX] = Framework.FL
    proximal_mu: float = Field(0.0, ge=0, description="FedProx proximal term (0: FedAvg)")
    freeze_bn_stats: bool = Field(
        False,
        description="keep BatchNorm running statistics fixed in local updates (fine-tuning a"
        " deployed model on a few samples per client, which would otherwise drag them)",
    )


class FedProxConfig(FLConfig):
    """FedProx: FedAvg plus ``proximal_mu / 2 * ||w - w_global||^2`` in every local loss."""

    framework: Literal[Framework.FL, Framework.FEDPROX] = Framework.FEDPROX
    strategy: str = "fedprox"
    proximal_mu: float = Field(0.01, ge=0, description="FedProx proximal term (0: FedAvg)")


def local_seed(config: FederatedConfig, round_: int, client: int, tag: int = 0) -> int:
    """A distinct, reproducible seed per (run seed, round, client, purpose)."""
    return int(np.random.SeedSequence([config.seed, round_, client, tag]).generate_state(1)[0])


def build_student(config: FederatedConfig) -> nn.Module:
    """The config's model (default: the dataset's student preset), initialised from the seed."""
    info = load_split(config.dataset, config.split_seed).info
    seed_everything(config.seed)
    return build_model(config.model or default_student_spec(info), info.input_shape, info.n_classes)


def _load(config: FederatedConfig, arrays: ArrayRecord) -> nn.Module:
    model = build_student(config)
    model.load_state_dict(arrays.to_torch_state_dict())
    return model


def configured_update(
    config: FederatedConfig, model: nn.Module, x: Any, y: Any, round_: int, client: int, **kw: Any
) -> Any:
    """:func:`local_update` with the config's rate, batch, epochs or steps and momentum, seeded
    by round and client (every framework's client step)."""
    return local_update(
        model, x, y, lr=config.lr, batch_size=config.batch_size,
        seed=local_seed(config, round_, client), epochs=config.local_epochs,
        steps=config.local_steps, momentum=config.momentum, **kw,
    )  # fmt: skip


def client_train(
    config: FederatedConfig, share: ClientShare, arrays: ArrayRecord, round_: int
) -> tuple[ArrayRecord, dict[str, Any]]:
    model = _load(config, arrays)
    mu = getattr(config, "proximal_mu", 0.0)
    forward = frozen_bn_forward if getattr(config, "freeze_bn_stats", False) else None
    res = configured_update(
        config, model, share.x, share.y, round_, share.client, proximal_mu=mu, forward=forward
    )
    return ArrayRecord(model.state_dict()), report(res)


def report(res: Any) -> dict[str, Any]:
    """The metrics a client returns (``num-examples`` weighs FedAvg)."""
    return {
        "num-examples": res.n_examples,
        "train-loss": res.loss,
        "samples": res.n_samples_processed,
        "steps": res.n_steps,
    }


def client_personalise(
    config: FederatedConfig, share: ClientShare, arrays: ArrayRecord
) -> dict[str, float]:
    model = _load(config, arrays)
    return personalise_report(config, share, model)


def personalise_report(
    config: FederatedConfig, share: ClientShare, model: nn.Module, forward: Any = None
) -> dict[str, float]:
    before, after = personalise(
        model,
        (share.x, share.y),
        (share.x_query, share.y_query),
        steps=config.finetune_steps,
        lr=config.finetune_lr,
        batch_size=config.batch_size,
        seed=local_seed(config, 0, share.client, tag=1),
        forward=forward,
    )
    return {"accuracy-before": before, "accuracy-after": after, "n-query": len(share.y_query)}


def expected_samples(config: FederatedConfig, n_examples: int) -> int:
    """Samples a client processes in one round (what its compute costs)."""
    if config.local_steps is not None:
        return config.local_steps * min(config.batch_size, n_examples)
    return config.local_epochs * n_examples


def student_task(config: FederatedConfig) -> ServerTask:
    """Server side of FL / FedProx / FML: the student, test accuracy, compute and memory."""
    ds = load_split(config.dataset, config.split_seed)
    model = build_student(config)
    shape = tuple(ds.info.input_shape)
    macs = count_macs(model, shape)
    compute = Compute.of(config.device)
    memory = training_memory_bytes(model, torch.zeros(1, *shape), config.batch_size)

    x_eval, y_eval = evaluation_split(config)

    def evaluate(arrays: ArrayRecord) -> float:
        model.load_state_dict(arrays.to_torch_state_dict())
        return accuracy(model, x_eval, y_eval)

    return ServerTask(
        initial=ArrayRecord(model.state_dict()),
        evaluate=evaluate,
        compute_s=lambda c, m: float(compute.train_seconds(macs, float(m["samples"]))),
        expected_compute_s=lambda n: float(
            compute.train_seconds(macs, expected_samples(config, n))
        ),
        memory=memory,
        extras={"forward_macs": macs, "params": sum(p.numel() for p in model.parameters())},
    )


def serve(grid: Any, config: FederatedConfig, progress: Progress) -> dict[str, Any]:
    return serve_rounds(grid, config, student_task(config), progress)


def run(config: FLConfig | None = None, **io: Any) -> Any:
    """``run_fl``: FedAvg (``proximal_mu = 0``) or FedProx of the student."""
    return run_pattern(config or FLConfig(), serve, **_io(io))


def _io(io: dict[str, Any]) -> dict[str, Any]:
    io.pop("cache", None)  # nothing here is cached across runs
    return io


run_fl = run


def run_fedprox(config: FedProxConfig | None = None, **io: Any) -> Any:
    return run_pattern(config or FedProxConfig(), serve, **_io(io))
