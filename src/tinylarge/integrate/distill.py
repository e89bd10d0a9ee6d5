"""Knowledge distillation, LargeML -> TinyML: a large teacher trains a tiny int8 student.

Soft targets with a temperature and a mixing weight (Hinton, Vinyals & Dean 2015, "Distilling the
Knowledge in a Neural Network", arXiv:1503.02531), optionally plus attention transfer from the
teacher's intermediate feature maps (Zagoruyko & Komodakis, ICLR 2017, arXiv:1612.03928); the
losses are in :mod:`tinylarge.train.objectives`. The student ends int8-aware: post-training int8
quantization, quantization-aware training when PTQ loses too much, so the accuracy reported is the
deployed int8 model's, measured in the TFLM interpreter.

Every student is compared with the same architecture trained by the same recipe without the
teacher, per seed (paired: mean gain, 95 % interval, paired t-test). Students are cached (keyed
by the dataset, the teacher's weights, the objective and the recipe), so a rerun is instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Unpack

from pydantic import BaseModel, ConfigDict, Field

from tinylarge.integrate.pattern import PatternIO, PatternResult, pattern_io
from tinylarge.integrate.server_device import train_teacher
from tinylarge.integrate.students import (
    Int8Recipe,
    ModelReport,
    StudentRun,
    accuracy_ci,
    compare,
    describe,
    train_per_seed,
)
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.train import DistillObjective, Role, TrainConfig, default_train_config
from tinylarge.train.stats import mean_ci


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
    teacher_label_smoothing: float | None = Field(
        None, ge=0.0, lt=1.0, description="the teacher recipe's label smoothing [preset]"
    )
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

    def int8_recipe(self) -> Int8Recipe | None:
        return (
            Int8Recipe(self.max_ptq_drop, self.qat_epochs, self.n_calibration)
            if self.int8
            else None
        )


@dataclass(kw_only=True)
class DistillResult(PatternResult):
    """Teacher, distilled students and no-teacher baselines (one each per seed), and a summary.

    ``summary`` holds the headline numbers: ``teacher_accuracy``, ``student_accuracy`` and
    ``baseline_accuracy`` (mean and 95 % interval over seeds, int8 in TFLM when quantized),
    ``accuracy_ratio`` (student / teacher), ``param_ratio`` (student / teacher params) and
    ``gain`` (student - baseline paired by seed: mean, interval, ``p_value``).
    """

    config: DistillConfig
    dataset: str
    teacher: ModelReport
    students: list[ModelReport]
    baselines: list[ModelReport] = field(default_factory=list)


def student_train_config(info: Any, seed: int, epochs: int | None = None) -> TrainConfig:
    """The student recipe of ``tinylarge.train`` (optionally with other epochs)."""
    config = default_train_config(info, Role.STUDENT, seed=seed)
    return config if epochs is None else config.model_copy(update={"epochs": epochs})


def run_distill(config: DistillConfig | None = None, **io: Unpack[PatternIO]) -> DistillResult:
    """Distil a teacher into a tiny student for every seed of ``config``; compare, quantize.

    ``dataset``: a loaded ``tinylarge.data.Dataset`` to use instead of ``config.dataset``.
    ``out_dir``: where each student is written: ``<role>_seed<k>.pt`` (checkpoint) and
    ``<role>_seed<k>_int8.tflite``, role ``student`` (distilled) or ``baseline``.
    """
    config = config or DistillConfig()
    ds, cache, out, progress = pattern_io(config, io)
    teacher, t_result, t_spec = train_teacher(
        ds, cache, config.teacher, config.teacher_seed, progress, config.teacher_label_smoothing
    )
    teacher_report = describe("teacher", teacher, t_spec, ds, t_result)
    objective = config.objective()

    def runs(seed: int) -> list[StudentRun]:
        train_config = student_train_config(ds.info, seed, config.epochs)
        out = [StudentRun("student", ds, train_config, objective, teacher)]
        if config.compare_baseline:
            out.append(StudentRun("baseline", ds, train_config))
        return out

    reports = train_per_seed(
        config.seeds, runs, config.student or default_student_spec(ds.info), cache,
        int8=config.int8_recipe(), out_dir=out, progress=progress,
    )  # fmt: skip
    students, baselines = reports["student"], reports.get("baseline", [])
    return DistillResult(
        config=config,
        dataset=ds.info.name,
        teacher=teacher_report,
        students=students,
        baselines=baselines,
        summary=summarize(teacher_report, students, baselines),
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
        "student_accuracy": accuracy_ci(students),
        "student_float_accuracy": mean_ci([s.float_accuracy for s in students]).to_dict(),
        "student_val_accuracy": mean_ci([s.val_accuracy for s in students]).to_dict(),
        "accuracy_ratio": mean_ci([s.accuracy / teacher.accuracy for s in students]).to_dict(),
        "int8": students[0].int8_accuracy is not None,
        "qat_used": any(s.qat for s in students + baselines),
    }
    if baselines:
        summary["baseline_accuracy"] = accuracy_ci(baselines)
        summary["baseline_val_accuracy"] = mean_ci([b.val_accuracy for b in baselines]).to_dict()
        summary["gain"] = compare(students, baselines)
    return summary
