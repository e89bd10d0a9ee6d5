"""The one local update every framework's client runs (FL, FedProx, FTL's head, Reptile's inner
loop, FFM's adapters, few-shot personalisation), built on :mod:`tinylarge.train`'s optimizer and
batching so it can move onto the unified ``train.fit`` hooks in one place.

FedProx (Li et al., MLSys 2020, "Federated Optimization in Heterogeneous Networks") adds
``mu/2 * ||w - w_global||^2`` over the trainable parameters to the local loss; ``mu = 0`` is FedAvg
(McMahan et al., AISTATS 2017). Reptile's inner loop (Nichol et al. 2018) is ``steps`` plain
optimizer steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinylarge.train import TrainConfig, seed_everything
from tinylarge.train.config import Optimizer
from tinylarge.train.loop import batch_indices, deterministic, make_optimizer

Inputs = torch.Tensor | Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class LocalResult:
    """What a client reports about its local update."""

    n_examples: int
    n_steps: int
    n_samples_processed: int  # forward + backward passes, for the compute price
    loss: float


def _take(x: Inputs, idx: torch.Tensor) -> Inputs:
    return {k: v[idx] for k, v in x.items()} if isinstance(x, Mapping) else x[idx]


def _length(x: Inputs) -> int:
    return len(next(iter(x.values()))) if isinstance(x, Mapping) else len(x)


def as_inputs(x: np.ndarray | Inputs) -> Inputs:
    if isinstance(x, np.ndarray):
        return torch.as_tensor(x, dtype=torch.float32)
    return x


def local_update(
    model: nn.Module,
    x: np.ndarray | Inputs,
    y: np.ndarray | torch.Tensor,
    *,
    lr: float,
    batch_size: int,
    seed: int,
    epochs: int = 1,
    steps: int | None = None,
    momentum: float = 0.9,
    proximal_mu: float = 0.0,
    forward: Callable[[nn.Module, Inputs], torch.Tensor] | None = None,
    order: list[torch.Tensor] | None = None,
) -> LocalResult:
    """Train ``model``'s trainable parameters in place on ``(x, y)``: ``epochs`` passes, or
    exactly ``steps`` optimizer steps when given. SGD with Nesterov momentum and no weight decay
    (``train.loop.make_optimizer``); a seeded shuffle per epoch (``train.loop.batch_indices``)
    unless ``order`` fixes the batches. ``forward(model, inputs)`` maps a batch to logits
    (default ``model(inputs)``)."""
    seed_everything(seed)
    forward = forward or (lambda m, xb: m(xb))
    x, y_t = as_inputs(x), torch.as_tensor(np.asarray(y), dtype=torch.long)
    n = _length(x)
    config = TrainConfig(
        optimizer=Optimizer.SGD, lr=lr, momentum=momentum, weight_decay=0.0, seed=seed
    )
    opt = make_optimizer(model, config) if momentum > 0 else _plain_sgd(model, lr)
    anchor = (
        [p.detach().clone() for p in model.parameters() if p.requires_grad] if proximal_mu else []
    )
    generator = torch.Generator().manual_seed(seed)
    batches = order if order is not None else _schedule(n, batch_size, epochs, steps, generator)
    model.train()
    loss_sum, seen = 0.0, 0
    with deterministic():
        for idx in batches:
            logits = forward(model, _take(x, idx))
            loss = F.cross_entropy(logits, y_t[idx])
            if proximal_mu:
                trainable = [p for p in model.parameters() if p.requires_grad]
                prox = sum(((p - a) ** 2).sum() for p, a in zip(trainable, anchor, strict=True))
                loss = loss + 0.5 * proximal_mu * prox
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
    model.eval()
    return LocalResult(n, len(batches), seen, loss_sum / max(seen, 1))


def frozen_bn_forward(model: nn.Module, x: Inputs) -> torch.Tensor:
    """``model(x)`` with every BatchNorm in eval mode: its running statistics stay as they are
    (weights still train). Fine-tuning on a client's few samples would otherwise move them most
    of the way to that client's batch statistics, and FedAvg would average those."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model(x)


def _plain_sgd(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Momentum-free SGD (what the C head update on the device does)."""
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)


def _schedule(
    n: int, batch_size: int, epochs: int, steps: int | None, generator: torch.Generator
) -> list[torch.Tensor]:
    """Batches of ``epochs`` seeded shuffles, or the first ``steps`` of as many as needed."""
    batch_size = min(batch_size, n)
    if steps is None:
        return [b for _ in range(epochs) for b in batch_indices(n, batch_size, generator)]
    out: list[torch.Tensor] = []
    while len(out) < steps:
        out += batch_indices(n, batch_size, generator)
    return out[:steps]


@torch.no_grad()
def accuracy(
    model: nn.Module,
    x: np.ndarray | Inputs,
    y: np.ndarray,
    forward: Callable[[nn.Module, Inputs], torch.Tensor] | None = None,
    batch_size: int = 256,
) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on ``(x, y)``; ``nan`` for no samples."""
    forward = forward or (lambda m, xb: m(xb))
    x = as_inputs(x)
    n = _length(x)
    if n == 0:
        return float("nan")
    model.eval()
    correct = 0
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        pred = forward(model, _take(x, idx)).argmax(1).numpy()
        correct += int((pred == np.asarray(y)[start : start + len(idx)]).sum())
    return correct / n


def personalise(
    model: nn.Module,
    support: tuple[Any, np.ndarray],
    query: tuple[Any, np.ndarray],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    forward: Callable[[nn.Module, Inputs], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Few-shot personalisation of a held-out client: query accuracy before and after ``steps``
    local steps on the support set (plain SGD, the same budget for every framework)."""
    before = accuracy(model, *query, forward=forward)
    if steps:
        local_update(
            model,
            *support,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            steps=steps,
            momentum=0.0,
            forward=forward,
        )
    return before, accuracy(model, *query, forward=forward)
