"""Knowledge distillation, LargeML -> TinyML: a large teacher trains a tiny int8 student.

Soft targets with a temperature and a mixing weight (Hinton, Vinyals & Dean 2015, "Distilling the
Knowledge in a Neural Network", arXiv:1503.02531), optionally plus attention transfer from the
teacher's intermediate feature maps (Zagoruyko & Komodakis, ICLR 2017, arXiv:1612.03928); the
losses are in :mod:`tinylarge.integrate.losses`. The student ends int8-aware: post-training int8
quantization, quantization-aware training when PTQ loses too much (:func:`finish_int8`), so the
accuracy reported is the deployed int8 model's, measured in the TFLM interpreter.

Every student is compared with the same architecture trained by the same recipe without the
teacher, per seed. Students are cached through ``ArtifactCache.get_or_train`` (keyed by the
dataset, the teacher's weights, the objective and the recipe), so a rerun is instant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from tinylarge.integrate.common import (
    ModelReport,
    as_dataset,
    describe,
    finish_int8,
    mean_std,
    model_digest,
    model_meta,
    train_teacher,
)
from tinylarge.integrate.losses import DistillObjective
from tinylarge.integrate.trainer import fit_student
from tinylarge.models import (
    ModelSpec,
    count_macs,
    count_params,
    default_student_spec,
    save_checkpoint,
)
from tinylarge.train import ArtifactCache, Role, TrainConfig, default_train_config
from tinylarge.train.cache import dataset_fingerprint


class FeatureLoss(StrEnum):
    """The feature-based term added to the soft targets."""

    NONE = "none"
    ATTENTION = "attention"  # attention transfer, Zagoruyko & Komodakis 2017


class DistillConfig(BaseModel):
    """What to distil into what, and how. ``None`` specs take the dataset's presets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "mnist5k"
    split_seed: int = Field(0, description="seed of the dataset's train/test split")
    teacher: ModelSpec | None = None
    student: ModelSpec | None = None
    temperature: float = Field(4.0, gt=0.0, description="softmax temperature T of soft targets")
    alpha: float = Field(0.9, ge=0.0, le=1.0, description="weight of the soft-target term")
    feature_loss: FeatureLoss = FeatureLoss.NONE
    attention_weight: float = Field(50.0, ge=0.0, description="beta of attention transfer")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    teacher_seed: int = 0
    epochs: int | None = Field(None, ge=1, description="student epochs (default: the preset's)")
    compare_baseline: bool = Field(True, description="also train the student without teacher")
    int8: bool = Field(True, description="quantize and report TFLM int8 accuracy")
    max_ptq_drop: float = Field(0.01, ge=0.0, description="PTQ loss above which QAT is tried")
    qat_epochs: int = Field(2, ge=0)
    n_calibration: int = Field(300, ge=1)

    def objective(self) -> DistillObjective:
        beta = self.attention_weight if self.feature_loss is FeatureLoss.ATTENTION else 0.0
        return DistillObjective(
            alpha=self.alpha, temperature=self.temperature, attention_weight=beta
        )


@dataclass
class DistillResult:
    """Teacher, distilled students and no-teacher baselines (one each per seed), and a summary.

    ``summary`` holds the headline numbers: ``teacher_accuracy``, ``student_accuracy`` and
    ``baseline_accuracy`` (``{"mean", "std", "n"}`` over seeds, int8 in TFLM when quantized),
    ``accuracy_ratio`` (student / teacher, mean), ``param_ratio`` (student / teacher params) and
    ``gain`` (student - baseline, mean over seeds).
    """

    dataset: str
    config: dict[str, Any]
    teacher: ModelReport
    students: list[ModelReport]
    baselines: list[ModelReport] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def student_train_config(info: Any, seed: int, epochs: int | None = None) -> TrainConfig:
    """The student recipe of ``tinylarge.train`` (optionally with other epochs)."""
    config = default_train_config(info, Role.STUDENT, seed=seed)
    return config if epochs is None else config.model_copy(update={"epochs": epochs})


def train_student(
    dataset: Any,
    spec: ModelSpec,
    train_config: TrainConfig,
    cache: ArtifactCache,
    objective: DistillObjective,
    teacher: nn.Module | None,
    progress: bool = False,
    name: str = "student",
) -> tuple[nn.Module, Any]:
    """Train (or load from the cache) ``spec`` on ``dataset`` with ``objective``."""
    parts = {
        "pattern": "distill",
        "dataset": dataset_fingerprint(dataset),
        "teacher": model_digest(teacher) if objective.needs_teacher else None,
        "objective": asdict(objective),
        "config": train_config.model_dump(mode="json"),
    }
    return cache.get_or_train(
        parts,
        spec,
        model_meta(dataset),
        lambda model: fit_student(
            model, dataset, train_config, objective, teacher, progress=progress, name=name
        ),
        seed=train_config.seed,
    )


def run_distill(
    config: DistillConfig | None = None,
    *,
    dataset: Any = None,
    teacher: nn.Module | None = None,
    cache: ArtifactCache | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> DistillResult:
    """Distil a teacher into a tiny student for every seed of ``config``; compare, quantize.

    Parameters
    ----------
    dataset : a ``tinylarge.data.Dataset`` to use instead of loading ``config.dataset``.
    teacher : a trained LargeML model to distil from; default: the preset teacher, trained (or
        loaded from ``cache``) on the dataset.
    out_dir : where each student is written: ``<role>_seed<k>.pt`` (checkpoint) and
        ``<role>_seed<k>_int8.tflite``, role ``student`` (distilled) or ``baseline``.
    """
    config = config or DistillConfig()
    ds = as_dataset(dataset if dataset is not None else config.dataset, seed=config.split_seed)
    info = ds.info
    cache = cache or ArtifactCache()
    if teacher is None:
        teacher, t_result, t_spec = train_teacher(
            ds, cache, config.teacher, seed=config.teacher_seed, progress=progress
        )
        teacher_report = describe("teacher", teacher, t_spec, ds, t_result)
    else:
        from tinylarge.train import evaluate

        teacher.eval()
        teacher_report = ModelReport(
            role="teacher",
            spec={"name": type(teacher).__name__},
            params=count_params(teacher),
            macs=count_macs(teacher, tuple(info.input_shape)),
            float_accuracy=evaluate(teacher, ds.x_test, ds.y_test),
        )
    spec = config.student or default_student_spec(info)
    out = Path(out_dir) if out_dir is not None else None
    runs = [("student", config.objective(), teacher)]
    if config.compare_baseline:
        runs.append(("baseline", DistillObjective(), None))
    reports: dict[str, list[ModelReport]] = {"student": [], "baseline": []}
    for seed in config.seeds:
        train_config = student_train_config(info, seed, config.epochs)
        for role, objective, t in runs:
            model, result = train_student(
                ds, spec, train_config, cache, objective, t, progress, f"{role} seed {seed}"
            )
            report = describe(role, model, spec, ds, result)
            if out is not None:
                save_checkpoint(out / f"{role}_seed{seed}.pt", model, spec, model_meta(ds))
            if config.int8:
                report = finish_int8(
                    report, model, ds, cache,
                    out_path=out / f"{role}_seed{seed}_int8.tflite" if out else None,
                    max_ptq_drop=config.max_ptq_drop, qat_epochs=config.qat_epochs,
                    n_calibration=config.n_calibration, seed=seed,
                )  # fmt: skip
            reports[role].append(report)
    return DistillResult(
        dataset=info.name,
        config=config.model_dump(mode="json"),
        teacher=teacher_report,
        students=reports["student"],
        baselines=reports["baseline"],
        summary=summarize(teacher_report, reports["student"], reports["baseline"]),
    )


def summarize(
    teacher: ModelReport, students: list[ModelReport], baselines: list[ModelReport]
) -> dict[str, Any]:
    """The headline numbers of a distillation run (see :class:`DistillResult`)."""
    summary: dict[str, Any] = {
        "teacher_accuracy": teacher.accuracy,
        "teacher_params": teacher.params,
        "student_params": students[0].params,
        "param_ratio": students[0].params / teacher.params,
        "student_accuracy": mean_std([s.accuracy for s in students]),
        "student_float_accuracy": mean_std([s.float_accuracy for s in students]),
        "accuracy_ratio": mean_std([s.accuracy / teacher.accuracy for s in students]),
        "int8": students[0].int8_accuracy is not None,
        "qat_used": any(s.qat for s in students + baselines),
    }
    if baselines:
        summary["baseline_accuracy"] = mean_std([b.accuracy for b in baselines])
        summary["gain"] = mean_std(
            [s.accuracy - b.accuracy for s, b in zip(students, baselines, strict=True)]
        )
    return summary
