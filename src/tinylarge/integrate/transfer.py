"""Transfer learning (TL), LargeML -> TinyML: a tiny student starts from what the server knows.

The server holds its own labelled data and trains the LargeML teacher on it; it then distils a
*backbone* of the student's own architecture from that teacher (Hinton et al. 2015), because a
microcontroller cannot hold the teacher's layers themselves. A device holds different data of which
only a few labels are known (1 %, 5 %, 10 %): it keeps the transferred backbone, puts a fresh head
on it and adapts on its labels, either fine-tuning everything or training the head alone (a linear
probe on frozen features; Yosinski et al., NeurIPS 2014, "How transferable are features in deep
neural networks?"; survey: Pan & Yang, IEEE TKDE 2010). The same student trained from scratch on
the same labels, by the same recipe, is the baseline; both end as int8 and are measured in TFLM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Unpack

from pydantic import BaseModel, ConfigDict, Field

from tinylarge.integrate.distill import student_train_config
from tinylarge.integrate.pattern import PatternIO, PatternResult, pattern_io
from tinylarge.integrate.server_device import server_side, stratified_fraction, with_train_subset
from tinylarge.integrate.students import (
    Int8Recipe,
    ModelReport,
    StudentRun,
    accuracy_ci,
    compare,
    train_per_seed,
    train_student,
)
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.train import DistillObjective, few_label_config


class TransferMode(StrEnum):
    FINETUNE = "finetune"  # every layer adapts (backbone at lr x finetune_lr_scale)
    LINEAR_PROBE = "linear_probe"  # backbone frozen (BatchNorm statistics too); head only


class TransferConfig(BaseModel):
    """A few-label transfer experiment. ``None`` specs take the dataset's presets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "mnist5k"
    split_seed: int = 0
    server_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="share of the training data the server holds"
    )
    label_fractions: list[float] = Field(
        default_factory=lambda: [0.01, 0.05, 0.1],
        min_length=1,
        description="shares of the device's data that are labelled",
    )
    teacher: ModelSpec | None = None
    student: ModelSpec | None = None
    mode: TransferMode = TransferMode.FINETUNE
    finetune_lr_scale: float = Field(0.3, gt=0.0, description="fine-tune lr / scratch lr")
    min_steps: int = Field(300, ge=1, description="optimizer steps at least, on few labels")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    teacher_seed: int = 0
    pretrain_epochs: int | None = Field(None, ge=1, description="server-side backbone epochs")
    int8: bool = True


@dataclass
class TransferRow:
    """One label fraction: the scratch and transfer students per seed, and their comparison."""

    label_fraction: float
    n_labels: int
    scratch: list[ModelReport]
    transfer: list[ModelReport]
    scratch_accuracy: dict[str, float]
    transfer_accuracy: dict[str, float]
    gain: dict[str, Any]  # transfer - scratch, paired by seed: mean, 95 % interval, p_value


@dataclass(kw_only=True)
class TransferResult(PatternResult):
    """``rows`` per label fraction; ``summary`` has the headline gains (transfer - scratch)."""

    config: TransferConfig
    dataset: str
    teacher: ModelReport
    backbone: ModelReport
    rows: list[TransferRow] = field(default_factory=list)


def run_transfer(config: TransferConfig | None = None, **io: Unpack[PatternIO]) -> TransferResult:
    """Transfer vs scratch at every label fraction and seed of ``config``.

    ``out_dir``: each student's checkpoint and int8 model, ``<role>_<fraction>_seed<k>.*``.
    """
    config = config or TransferConfig()
    ds, cache, out, progress = pattern_io(config, io)
    info, server = ds.info, server_side(ds, config, cache, progress)
    spec = config.student or default_student_spec(info)
    # the backbone: the student's architecture distilled from the teacher on the server's data
    pre_run = StudentRun(
        "backbone", server.server_dataset,
        student_train_config(info, config.teacher_seed, config.pretrain_epochs),
        DistillObjective(alpha=0.9, temperature=4.0), server.teacher,
    )  # fmt: skip
    backbone, backbone_report = train_student(pre_run, spec, cache, int8=None, progress=progress)
    int8 = Int8Recipe(qat_epochs=0) if config.int8 else None
    rows = []
    for fraction in config.label_fractions:

        def runs(seed: int, fraction: float = fraction) -> list[StudentRun]:
            labelled = server.device_idx[stratified_fraction(server.y_device, fraction, seed)]
            device_ds = with_train_subset(ds, labelled)
            base = student_train_config(info, seed)
            n, steps = len(labelled), config.min_steps
            tl_cfg = few_label_config(base, n, steps, config.finetune_lr_scale)
            tag = f"_{fraction:g}"
            return [
                StudentRun("scratch", device_ds, few_label_config(base, n, steps), tag=tag),
                StudentRun(
                    "transfer", device_ds, tl_cfg, backbone=backbone, tag=tag,
                    freeze_backbone=config.mode is TransferMode.LINEAR_PROBE,
                ),
            ]  # fmt: skip

        reports = train_per_seed(
            config.seeds, runs, spec, cache, int8=int8, out_dir=out, progress=progress
        )
        rows.append(
            TransferRow(
                label_fraction=fraction,
                n_labels=len(stratified_fraction(server.y_device, fraction, config.seeds[0])),
                scratch=reports["scratch"],
                transfer=reports["transfer"],
                scratch_accuracy=accuracy_ci(reports["scratch"]),
                transfer_accuracy=accuracy_ci(reports["transfer"]),
                gain=compare(reports["transfer"], reports["scratch"]),
            )
        )
    summary = {
        "teacher_accuracy": server.teacher_report.accuracy,
        "backbone_accuracy": backbone_report.accuracy,
        "int8": config.int8,
        **{
            f"{name}_by_fraction": {str(r.label_fraction): getattr(r, attr) for r in rows}
            for name, attr in (
                ("gain", "gain"), ("scratch", "scratch_accuracy"), ("transfer", "transfer_accuracy")
            )
        },
    }  # fmt: skip
    return TransferResult(
        config=config, dataset=info.name, teacher=server.teacher_report,
        backbone=backbone_report, rows=rows, summary=summary,
    )  # fmt: skip
