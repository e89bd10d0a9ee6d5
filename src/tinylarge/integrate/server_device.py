"""The LargeML / device split of the few-label experiments (transfer, pseudo-labels).

The server trains the LargeML teacher on its own part of the training data; a device holds the
rest, of which only a small labelled share is known. Test data stays the dataset's test split for
every model. Splits are stratified and seeded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from tinylarge.integrate.students import ModelReport, describe
from tinylarge.models import ModelSpec, default_teacher_spec
from tinylarge.train import ArtifactCache, Role, TrainResult, default_train_config


def with_train_subset(dataset: Any, idx: np.ndarray, y: np.ndarray | None = None) -> Any:
    """A copy of ``dataset`` whose training part is ``idx`` (labels replaced by ``y`` if given)."""
    groups = dataset.groups_train
    return dataclasses.replace(
        dataset,
        x_train=dataset.x_train[idx],
        y_train=dataset.y_train[idx] if y is None else np.asarray(y, dtype=np.int64),
        groups_train=None if groups is None else groups[idx],
    )


def stratified_fraction(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class (at least one per class), seeded."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        chosen.append(idx[: max(1, round(fraction * len(idx)))])
    return np.sort(np.concatenate(chosen))


def server_device_split(
    y: np.ndarray, server_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(server, device)`` of the training data: disjoint, stratified, seeded."""
    server = stratified_fraction(y, server_fraction, seed)
    device = np.setdiff1d(np.arange(len(y)), server)
    return server, device


def train_teacher(
    dataset: Any,
    cache: ArtifactCache,
    spec: ModelSpec | None = None,
    seed: int = 0,
    progress: bool = False,
    label_smoothing: float | None = None,
) -> tuple[nn.Module, TrainResult, ModelSpec]:
    """The LargeML teacher for ``dataset`` (preset spec and recipe, optionally another label
    smoothing), from the cache if trained."""
    spec = spec or default_teacher_spec(dataset.info)
    config = default_train_config(dataset.info, Role.TEACHER, seed=seed)
    if label_smoothing is not None:
        config = config.model_copy(update={"label_smoothing": label_smoothing})
    model, result = cache.cached_fit(spec, dataset, config, progress=progress, name="teacher")
    return model.eval(), result, spec


@dataclass
class ServerSide:
    """The LargeML side of a few-label experiment: its data, its teacher, and the device's part
    (``device_idx`` into the full dataset's training part, ``y_device`` their hidden labels)."""

    server_dataset: Any
    device_idx: np.ndarray
    y_device: np.ndarray
    teacher: nn.Module
    teacher_report: ModelReport


def server_side(
    dataset: Any, config: Any, cache: ArtifactCache, progress: bool = False
) -> ServerSide:
    """Split the training data server/device (``config.server_fraction``, ``split_seed``) and
    train the teacher (``config.teacher``, ``teacher_seed``) on the server's part only."""
    server_idx, device_idx = server_device_split(
        dataset.y_train, config.server_fraction, config.split_seed
    )
    server_ds = with_train_subset(dataset, server_idx)
    teacher, result, spec = train_teacher(
        server_ds, cache, config.teacher, seed=config.teacher_seed, progress=progress
    )
    report = describe("teacher", teacher, spec, server_ds, result)
    return ServerSide(server_ds, device_idx, dataset.y_train[device_idx], teacher, report)
