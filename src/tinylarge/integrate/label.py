"""LargeML labelling, LargeML -> TinyML: the teacher pseudo-labels a device's unlabelled data.

A device holds many readings and few labels. The server's teacher predicts a class for each
unlabelled reading; only confident predictions (max softmax probability >= a threshold) become
labels (Lee, ICML 2013 workshop, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning
Method for Deep Neural Networks"; confidence filtering as in FixMatch, Sohn et al., NeurIPS 2020).
The tiny student then trains on the true labels plus the pseudo-labels, and is compared with the
same student trained on the true labels alone. Reported: how accurate the pseudo-labels are (against
the hidden truth), how much of the unlabelled data they cover, and both students' int8 accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tinylarge.integrate.common import (
    ModelReport,
    as_dataset,
    describe,
    few_label_config,
    finish_int8,
    mean_std,
    model_digest,
    model_meta,
    server_side,
    stratified_fraction,
    with_train_subset,
)
from tinylarge.integrate.distill import student_train_config
from tinylarge.integrate.trainer import fit_student
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.train import ArtifactCache, predict_logits
from tinylarge.train.cache import dataset_fingerprint


class LabelConfig(BaseModel):
    """A pseudo-labelling experiment. ``None`` specs take the dataset's presets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "mnist5k"
    split_seed: int = 0
    server_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    label_fraction: float = Field(0.05, gt=0.0, le=1.0, description="labelled share on device")
    confidence_threshold: float = Field(0.9, ge=0.0, le=1.0)
    teacher: ModelSpec | None = None
    student: ModelSpec | None = None
    min_steps: int = Field(300, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    teacher_seed: int = 0
    int8: bool = True


@dataclass
class PseudoLabels:
    """Which unlabelled samples got a label, the labels, and their quality."""

    idx: np.ndarray  # positions in the unlabelled array that were kept
    labels: np.ndarray
    coverage: float  # kept / unlabelled
    accuracy: float  # agreement of the kept labels with the hidden truth


def pseudo_label(
    teacher: nn.Module, x: np.ndarray, threshold: float, y_true: np.ndarray | None = None
) -> PseudoLabels:
    """The teacher's confident predictions on ``x`` (n, C, H, W); scored if ``y_true`` is given."""
    logits = predict_logits(teacher, x)
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = np.flatnonzero(probs.max(axis=1) >= threshold)
    labels = probs.argmax(axis=1)[keep].astype(np.int64)
    accuracy = float(np.mean(labels == y_true[keep])) if y_true is not None and len(keep) else 0.0
    return PseudoLabels(keep, labels, len(keep) / max(len(x), 1), accuracy)


@dataclass
class LabelResult:
    """Per seed: the pseudo-labelled and labelled-only students; ``summary`` has the headline."""

    dataset: str
    config: dict[str, Any]
    teacher: ModelReport
    n_labelled: int
    n_unlabelled: int
    pseudo_label_accuracy: float
    pseudo_label_coverage: float
    students: list[ModelReport] = field(default_factory=list)
    baselines: list[ModelReport] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_label(
    config: LabelConfig | None = None,
    *,
    dataset: Any = None,
    cache: ArtifactCache | None = None,
    progress: bool = False,
) -> LabelResult:
    """Pseudo-label the device's unlabelled data with the server's teacher; train and compare."""
    config = config or LabelConfig()
    ds = as_dataset(dataset if dataset is not None else config.dataset, seed=config.split_seed)
    info = ds.info
    cache = cache or ArtifactCache()
    server = server_side(
        ds, config.server_fraction, config.split_seed, cache, config.teacher,
        config.teacher_seed, progress,
    )  # fmt: skip
    spec = config.student or default_student_spec(info)
    y_device = ds.y_train[server.device_idx]
    students, baselines, quality = [], [], []
    n_labelled = n_unlabelled = 0
    for seed in config.seeds:
        pos = stratified_fraction(y_device, config.label_fraction, seed)
        labelled = server.device_idx[pos]
        unlabelled = np.setdiff1d(server.device_idx, labelled)
        n_labelled, n_unlabelled = len(labelled), len(unlabelled)
        pl = pseudo_label(
            server.teacher, ds.x_train[unlabelled], config.confidence_threshold,
            ds.y_train[unlabelled],  # the hidden truth, only to score the labels
        )  # fmt: skip
        quality.append((pl.accuracy, pl.coverage))
        labelled_ds = with_train_subset(ds, labelled)
        mixed_ds = with_train_subset(
            ds,
            np.concatenate([labelled, unlabelled[pl.idx]]),
            np.concatenate([ds.y_train[labelled], pl.labels]),
        )
        base = student_train_config(info, seed)
        only_cfg = few_label_config(base, len(labelled), config.min_steps)
        mixed_cfg = base if len(mixed_ds.y_train) >= 10 * info.n_classes else only_cfg
        runs = {
            "pseudo_labelled": (mixed_ds, mixed_cfg, {"teacher": model_digest(server.teacher)}),
            "labelled_only": (labelled_ds, only_cfg, {}),
        }
        for role, (train_ds, train_cfg, extra) in runs.items():
            parts = {
                "pattern": "label",
                "dataset": dataset_fingerprint(train_ds),
                "config": train_cfg.model_dump(mode="json"),
                **extra,
            }
            model, result = cache.get_or_train(
                parts, spec, model_meta(ds),
                lambda m, d=train_ds, c=train_cfg: fit_student(m, d, c, progress=progress),
                seed=seed,
            )  # fmt: skip
            report = describe(role, model, spec, ds, result)
            if config.int8:
                report = finish_int8(report, model, train_ds, cache, seed=seed, qat_epochs=0)
            (students if role == "pseudo_labelled" else baselines).append(report)
    label_acc = float(np.mean([q[0] for q in quality]))
    coverage = float(np.mean([q[1] for q in quality]))
    return LabelResult(
        dataset=info.name,
        config=config.model_dump(mode="json"),
        teacher=server.teacher_report,
        n_labelled=n_labelled,
        n_unlabelled=n_unlabelled,
        pseudo_label_accuracy=label_acc,
        pseudo_label_coverage=coverage,
        students=students,
        baselines=baselines,
        summary={
            "teacher_accuracy": server.teacher_report.accuracy,
            "pseudo_label_accuracy": label_acc,
            "pseudo_label_coverage": coverage,
            "student_accuracy": mean_std([s.accuracy for s in students]),
            "labelled_only_accuracy": mean_std([b.accuracy for b in baselines]),
            "gain": mean_std(
                [s.accuracy - b.accuracy for s, b in zip(students, baselines, strict=True)]
            ),
            "int8": config.int8,
        },
    )
