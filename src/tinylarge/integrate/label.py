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

from dataclasses import dataclass, field
from typing import Unpack

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tinylarge.integrate import students as st
from tinylarge.integrate.distill import student_train_config
from tinylarge.integrate.pattern import PatternIO, PatternResult, pattern_io
from tinylarge.integrate.server_device import server_side, stratified_fraction, with_train_subset
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.tiny.gates import softmax
from tinylarge.train import few_label_config, predict_logits


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
    probs = softmax(predict_logits(teacher, x).astype(np.float64))
    keep = np.flatnonzero(probs.max(axis=1) >= threshold)
    labels = probs.argmax(axis=1)[keep].astype(np.int64)
    accuracy = float(np.mean(labels == y_true[keep])) if y_true is not None and len(keep) else 0.0
    return PseudoLabels(keep, labels, len(keep) / max(len(x), 1), accuracy)


@dataclass(kw_only=True)
class LabelResult(PatternResult):
    """Per seed: the pseudo-labelled and labelled-only students; ``summary`` has the headline
    (``gain``: pseudo-labelled - labelled only, paired by seed, with interval and p-value)."""

    config: LabelConfig
    dataset: str
    teacher: st.ModelReport
    n_labelled: int
    n_unlabelled: int
    pseudo_label_accuracy: float
    pseudo_label_coverage: float
    students: list[st.ModelReport] = field(default_factory=list)
    baselines: list[st.ModelReport] = field(default_factory=list)


def run_label(config: LabelConfig | None = None, **io: Unpack[PatternIO]) -> LabelResult:
    """Pseudo-label the device's unlabelled data with the server's teacher; train and compare."""
    config = config or LabelConfig()
    ds, cache, out, progress = pattern_io(config, io)
    info, server = ds.info, server_side(ds, config, cache, progress)
    quality: list[PseudoLabels] = []
    n_labelled = n_unlabelled = 0

    def runs(seed: int) -> list[st.StudentRun]:
        nonlocal n_labelled, n_unlabelled
        labelled = server.device_idx[
            stratified_fraction(server.y_device, config.label_fraction, seed)
        ]
        unlabelled = np.setdiff1d(server.device_idx, labelled)
        n_labelled, n_unlabelled = len(labelled), len(unlabelled)
        pl = pseudo_label(
            server.teacher, ds.x_train[unlabelled], config.confidence_threshold,
            ds.y_train[unlabelled],  # the hidden truth, only to score the labels
        )  # fmt: skip
        quality.append(pl)
        mixed_ds = with_train_subset(
            ds,
            np.concatenate([labelled, unlabelled[pl.idx]]),
            np.concatenate([ds.y_train[labelled], pl.labels]),
        )
        base = student_train_config(info, seed)
        only_cfg = few_label_config(base, len(labelled), config.min_steps)
        mixed_cfg = base if len(mixed_ds.y_train) >= 10 * info.n_classes else only_cfg
        return [
            st.StudentRun("pseudo_labelled", mixed_ds, mixed_cfg),
            st.StudentRun("labelled_only", with_train_subset(ds, labelled), only_cfg),
        ]

    reports = st.train_per_seed(
        config.seeds, runs, config.student or default_student_spec(info), cache,
        int8=st.Int8Recipe(qat_epochs=0) if config.int8 else None, out_dir=out, progress=progress,
    )  # fmt: skip
    students, baselines = reports["pseudo_labelled"], reports["labelled_only"]
    label_acc = float(np.mean([q.accuracy for q in quality]))
    coverage = float(np.mean([q.coverage for q in quality]))
    summary = {
        "teacher_accuracy": server.teacher_report.accuracy,
        "pseudo_label_accuracy": label_acc,
        "pseudo_label_coverage": coverage,
        "student_accuracy": st.accuracy_ci(students),
        "labelled_only_accuracy": st.accuracy_ci(baselines),
        "gain": st.compare(students, baselines),
        "int8": config.int8,
    }
    return LabelResult(
        config=config, dataset=info.name, teacher=server.teacher_report, n_labelled=n_labelled,
        n_unlabelled=n_unlabelled, pseudo_label_accuracy=label_acc, pseudo_label_coverage=coverage,
        students=students, baselines=baselines, summary=summary,
    )  # fmt: skip
