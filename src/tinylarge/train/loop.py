"""The one training loop: deterministic CPU ``fit`` with early stopping on a held-out split.

``fit`` carves a stratified validation split out of the training data (:func:`fit_split` returns
it), trains with the optimizer and schedule of a ``TrainConfig`` and an objective (cross-entropy,
or distillation from a teacher), keeps the weights of the best validation epoch (higher accuracy,
ties broken by lower loss), restores them and reports test accuracy. Same seed, same weights.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from tinylarge.models.checkpoint import atomic_torch_save
from tinylarge.train.augment import random_shift
from tinylarge.train.config import Optimizer, Schedule, TrainConfig
from tinylarge.train.objectives import DistillObjective, match_by_resolution


class TrainData(Protocol):
    """What ``fit`` reads from a ``tinylarge.data.Dataset``: normalised NCHW arrays and labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None


@dataclass
class TrainResult:
    """Outcome of one ``fit``; ``history`` has one dict per epoch run."""

    best_val_accuracy: float
    test_accuracy: float
    n_epochs: int
    best_epoch: int
    train_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        return cls(**data)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global RNGs (model init draws from torch's)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Ask torch for deterministic kernels for the duration (cheap on CPU), then restore."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def split_validation(
    y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: ``val_fraction`` of each class (at least one when it has two)."""
    if val_fraction <= 0.0:
        return np.arange(len(y)), np.array([], dtype=np.int64)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = min(len(idx) - 1, max(1, round(val_fraction * len(idx))))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _as_tensor(a: np.ndarray | torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (
        a.to(dtype) if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a), dtype=dtype)
    )


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 512
) -> np.ndarray:
    """Logits ``(n, n_classes)`` for inputs ``x`` of shape ``(n, C, H, W)``, in eval mode."""
    was_training = model.training
    model.eval()
    xt = _as_tensor(x, torch.float32)
    out = [model(xt[i : i + batch_size]) for i in range(0, len(xt), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def evaluate(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Top-1 accuracy in ``[0, 1]`` of ``model`` on ``(x, y)``."""
    y_np = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if len(y_np) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(axis=1) == y_np).mean())


@torch.no_grad()
def _val_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = torch.from_numpy(predict_logits(model, x))
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or Nesterov SGD over the trainable parameters; no weight decay on BatchNorm and bias
    parameters (He et al. 2019, "Bag of Tricks")."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    if config.optimizer is Optimizer.SGD:
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)


def make_scheduler(
    opt: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of ``config`` over ``total_steps`` optimizer steps."""
    total_steps = max(total_steps, 1)
    # OneCycleLR divides by its warm-up length (pct_start * total_steps - 1): zero at 4 steps and
    # negative below, so a run of a few steps (a small fine-tune) keeps a constant rate instead
    if config.schedule is Schedule.ONECYCLE and total_steps >= 8:
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=config.lr, total_steps=total_steps, pct_start=0.25
        )
    if config.schedule is Schedule.COSINE:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded shuffle cut into batches; a trailing batch of one is dropped (BatchNorm needs 2)."""
    perm = torch.randperm(n, generator=generator)
    batches = list(torch.split(perm, batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches.pop()
    return batches


@dataclass
class TrainArrays:
    """Plain arrays to ``fit`` on when there is no ``Dataset`` (no test part: accuracy is NaN)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def fit_split(dataset: TrainData, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` indices into ``dataset.x_train``, exactly as ``fit`` splits them.

    The validation part is the held-out data later steps may calibrate or select on (never the
    test split); with ``val_fraction == 0`` it is empty and ``fit`` scores on the training data.
    """
    return split_validation(np.asarray(dataset.y_train), config.val_fraction, config.seed)


def _logits_and_features(
    model: nn.Module, x: torch.Tensor, features: bool
) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    if not features:
        return model(x), None
    feats = model.forward_features(x)
    return model.head(feats[-1]), feats


def _feature_pairs(student: nn.Module, teacher: nn.Module, probe: torch.Tensor) -> list:
    """Which student block's attention map matches which teacher block's (by resolution)."""
    with torch.no_grad():
        s_shapes = [tuple(f.shape[1:]) for f in student.eval().forward_features(probe)]
        t_shapes = [tuple(f.shape[1:]) for f in teacher.forward_features(probe)]
    return match_by_resolution(s_shapes, t_shapes)


def _set_frozen(frozen: nn.Module | None, is_frozen: bool) -> None:
    for p in frozen.parameters() if frozen is not None else ():
        p.requires_grad_(not is_frozen)


def fit(
    model: nn.Module,
    dataset: TrainData,
    config: TrainConfig | None = None,
    *,
    objective: DistillObjective | None = None,
    teacher: nn.Module | None = None,
    frozen: nn.Module | None = None,
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    name: str = "train",
) -> TrainResult:
    """Train ``model`` in place on ``dataset.x_train`` and return its ``TrainResult``.

    Every model trains here (teachers, students, transfer, QAT, early-exit heads). ``objective``:
    the loss (default: cross-entropy with the config's label smoothing); one that distils reads
    ``teacher``, run without gradients on the *same* augmented batch (Beyer et al., CVPR 2022).
    ``frozen``: a sub-module kept in eval mode without gradients (linear probe, extra head).
    One best-epoch rule: highest validation accuracy, ties to the lower validation loss; those
    weights are restored (and written to ``checkpoint_path`` when they improve). With
    ``val_fraction == 0`` the score is taken on the unaugmented training data.
    """
    config = config or TrainConfig()
    objective = objective or DistillObjective(label_smoothing=config.label_smoothing)
    if objective.needs_teacher and teacher is None:
        raise ValueError("this objective distils from a teacher, but teacher is None")
    seed_everything(config.seed)
    # channels-last runs oneDNN's convolutions ~1.5-2x faster on CPU; undone before returning
    model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(config.seed)
    train_idx, val_idx = fit_split(dataset, config)
    x_all = _as_tensor(dataset.x_train, torch.float32)
    y_all = _as_tensor(dataset.y_train, torch.long)
    x_tr = x_all[train_idx].contiguous(memory_format=torch.channels_last)
    y_tr = y_all[train_idx]
    x_val, y_val = (x_all[val_idx], y_all[val_idx]) if len(val_idx) else (x_tr, y_tr)
    _set_frozen(frozen, True)
    pairs = None
    if objective.needs_teacher:
        teacher.eval().to(memory_format=torch.channels_last)
        if objective.needs_features:
            pairs = _feature_pairs(model, teacher, x_tr[:2])

    steps_per_epoch = len(
        batch_indices(len(x_tr), config.batch_size, torch.Generator().manual_seed(0))
    )
    opt = make_optimizer(model, config)
    sched = make_scheduler(opt, config, config.epochs * steps_per_epoch)
    best_key, best_epoch, best_state = (-1.0, 0.0), 0, copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    start_s = time.perf_counter()

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    with deterministic(), bar:
        task = bar.add_task(name, total=config.epochs, status="")
        for epoch in range(1, config.epochs + 1):
            model.train()
            if frozen is not None:
                frozen.eval()  # keeps its BatchNorm statistics as they were
            loss_sum, correct, seen = 0.0, 0, 0
            for idx in batch_indices(len(x_tr), config.batch_size, generator):
                xb, yb = x_tr[idx], y_tr[idx]
                if config.augment:
                    xb = random_shift(xb, config.shift_px, generator)
                t_logits = t_feats = None
                if objective.needs_teacher:
                    with torch.no_grad():
                        t_logits, t_feats = _logits_and_features(
                            teacher, xb, objective.needs_features
                        )
                logits, s_feats = _logits_and_features(model, xb, objective.needs_features)
                loss = objective(logits, yb, t_logits, s_feats, t_feats, pairs)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(yb)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(yb)
            val_acc, val_loss = _val_score(model, x_val, y_val)
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": loss_sum / max(seen, 1),
                    "train_accuracy": correct / max(seen, 1),
                    "val_accuracy": val_acc,
                    "val_loss": val_loss,
                    "lr": opt.param_groups[0]["lr"],
                }
            )
            if (val_acc, -val_loss) > best_key:
                best_key, best_epoch = (val_acc, -val_loss), epoch
                best_state = copy.deepcopy(model.state_dict())
                if checkpoint_path is not None:
                    atomic_torch_save(best_state, Path(checkpoint_path))
            bar.update(
                task, advance=1, status=f"val {val_acc:.3f} (best {best_key[0]:.3f} @ {best_epoch})"
            )
            if config.patience and epoch - best_epoch >= config.patience:
                break
    train_time_s = time.perf_counter() - start_s
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)
    if teacher is not None:
        teacher.to(memory_format=torch.contiguous_format)
    _set_frozen(frozen, False)
    model.eval()
    x_test, y_test = getattr(dataset, "x_test", None), getattr(dataset, "y_test", None)
    return TrainResult(
        best_val_accuracy=best_key[0],
        test_accuracy=float("nan") if x_test is None else evaluate(model, x_test, y_test),
        n_epochs=len(history),
        best_epoch=best_epoch,
        train_time_s=train_time_s,
        history=history,
    )
