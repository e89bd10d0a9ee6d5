"""Tuned training recipes per kind of data and role, used by ``tinylarge demo`` and benchmarks.

Tuned on this project's 2-core CPU: on mnist5k the teacher (98.5-99 %) and the student (~97.5-98 %)
train in about two minutes together on an otherwise idle machine (BENCHMARKS.md, "foundation").
Time series sets are tiny (tens to hundreds of series), so they get small batches and as many
epochs as a fixed budget of optimizer steps allows.
"""

from __future__ import annotations

import math
from typing import Protocol

from tinylarge.errors import UnknownNameError
from tinylarge.train.config import Optimizer, Role, Schedule, TrainConfig

SERIES_STEPS = 1200  # optimizer steps per time-series run: enough to converge, bounded in time


class HasKind(Protocol):
    """What the presets read from a ``DatasetInfo`` (``n_samples``/``test_fraction`` optional)."""

    kind: str
    input_shape: tuple[int, ...]


def _series_epochs(info: HasKind, batch_size: int, val_fraction: float) -> int:
    n_samples = getattr(info, "n_samples", 0) or 0
    n_fit = n_samples * (1 - getattr(info, "test_fraction", 0.3)) * (1 - val_fraction)
    steps_per_epoch = max(1, math.ceil(n_fit / batch_size))
    return int(min(300, max(30, SERIES_STEPS // steps_per_epoch)))


def epochs_for_steps(n_samples: int, batch_size: int, min_steps: int, epochs: int) -> int:
    """At least ``epochs``, and enough of them for ``min_steps`` optimizer steps on few samples."""
    steps_per_epoch = max(1, -(-n_samples // batch_size))
    return max(epochs, -(-min_steps // steps_per_epoch))


def few_label_config(
    base: TrainConfig, n_samples: int, min_steps: int = 300, lr_scale: float = 1.0
) -> TrainConfig:
    """``base`` adapted to a few labelled samples.

    No validation split (a 1 % share of mnist5k is two samples per class: none can be spared),
    a batch no larger than a quarter of the data, and enough epochs for ``min_steps`` steps.
    """
    batch_size = max(2, min(base.batch_size, n_samples // 4))
    return base.model_copy(
        update={
            "val_fraction": 0.0,
            "batch_size": batch_size,
            "epochs": epochs_for_steps(n_samples, batch_size, min_steps, base.epochs),
            "lr": base.lr * lr_scale,
        }
    )


def default_train_config(
    info: HasKind, role: Role | str = Role.TEACHER, seed: int = 0
) -> TrainConfig:
    """The recipe for training a ``role`` model on a dataset described by ``info``."""
    if role not in {r.value for r in Role}:
        raise UnknownNameError("role", str(role), [r.value for r in Role])
    role = Role(role)
    if info.kind == "image":
        common = dict(
            epochs=15 if role is Role.TEACHER else 20,
            batch_size=64,
            optimizer=Optimizer.ADAMW,
            schedule=Schedule.ONECYCLE,
            val_fraction=0.1,
            augment=True,  # +-2 px shifts: worth ~0.5 % on mnist5k for both roles
            # ~7 % of the width: 2 px at 28x28; 1 px at 8x8, where 2 px cost a student ~8 points
            shift_px=max(1, round(info.input_shape[-1] / 14)),
            seed=seed,
        )
        if role is Role.TEACHER:
            return TrainConfig(lr=3e-3, weight_decay=5e-4, label_smoothing=0.05, **common)
        return TrainConfig(lr=1e-2, weight_decay=1e-4, **common)
    batch_size, val_fraction = 16, 0.15
    return TrainConfig(
        epochs=_series_epochs(info, batch_size, val_fraction),
        batch_size=batch_size,
        lr=3e-3 if role is Role.TEACHER else 1e-2,
        weight_decay=1e-4,
        optimizer=Optimizer.ADAMW,
        schedule=Schedule.ONECYCLE,
        val_fraction=val_fraction,
        augment=False,
        seed=seed,
    )
