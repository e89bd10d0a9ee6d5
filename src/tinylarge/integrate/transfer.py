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

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

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
from tinylarge.integrate.distill import student_train_config, train_student
from tinylarge.integrate.losses import DistillObjective
from tinylarge.integrate.trainer import fit_student
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.train import ArtifactCache, TrainConfig
from tinylarge.train.cache import dataset_fingerprint


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
    """One label fraction: the scratch and transfer students per seed, and their means."""

    label_fraction: float
    n_labels: int
    scratch: list[ModelReport]
    transfer: list[ModelReport]
    scratch_accuracy: dict[str, float]
    transfer_accuracy: dict[str, float]
    gain: dict[str, float]


@dataclass
class TransferResult:
    """``rows`` per label fraction; ``summary`` has the headline gains (transfer - scratch)."""

    dataset: str
    config: dict[str, Any]
    teacher: ModelReport
    backbone: ModelReport
    rows: list[TransferRow] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def adapt(
    model: nn.Module,
    backbone: nn.Module,
    dataset: Any,
    config: TrainConfig,
    mode: TransferMode,
    progress: bool = False,
) -> Any:
    """Copy ``backbone``'s blocks into ``model`` (its head stays fresh) and train on ``dataset``."""
    model.blocks.load_state_dict(backbone.blocks.state_dict())
    frozen = model.blocks if mode is TransferMode.LINEAR_PROBE else None
    return fit_student(model, dataset, config, frozen=frozen, progress=progress, name="transfer")


def run_transfer(
    config: TransferConfig | None = None,
    *,
    dataset: Any = None,
    cache: ArtifactCache | None = None,
    progress: bool = False,
) -> TransferResult:
    """Transfer vs scratch at every label fraction and seed of ``config``."""
    config = config or TransferConfig()
    ds = as_dataset(dataset if dataset is not None else config.dataset, seed=config.split_seed)
    info = ds.info
    cache = cache or ArtifactCache()
    server = server_side(
        ds, config.server_fraction, config.split_seed, cache, config.teacher,
        config.teacher_seed, progress,
    )  # fmt: skip
    spec = config.student or default_student_spec(info)
    # the backbone: the student's architecture distilled from the teacher on the server's data
    pre_config = student_train_config(info, config.teacher_seed, config.pretrain_epochs)
    backbone, pre_result = train_student(
        server.server_dataset, spec, pre_config, cache,
        DistillObjective(alpha=0.9, temperature=4.0), server.teacher, progress, "backbone",
    )  # fmt: skip
    backbone_report = describe("backbone", backbone, spec, server.server_dataset, pre_result)
    y_device = ds.y_train[server.device_idx]
    rows = []
    for fraction in config.label_fractions:
        reports: dict[str, list[ModelReport]] = {"scratch": [], "transfer": []}
        for seed in config.seeds:
            labelled = server.device_idx[stratified_fraction(y_device, fraction, seed)]
            device_ds = with_train_subset(ds, labelled)
            base = student_train_config(info, seed)
            scratch_cfg = few_label_config(base, len(labelled), config.min_steps)
            tl_cfg = few_label_config(
                base, len(labelled), config.min_steps, config.finetune_lr_scale
            )
            parts = {"dataset": dataset_fingerprint(device_ds)}
            runs = {
                "scratch": (
                    {**parts, "pattern": "scratch", "config": scratch_cfg.model_dump(mode="json")},
                    lambda m, c=scratch_cfg, d=device_ds: fit_student(m, d, c, progress=progress),
                ),
                "transfer": (
                    {
                        **parts,
                        "pattern": "transfer",
                        "backbone": model_digest(backbone),
                        "mode": str(config.mode),
                        "config": tl_cfg.model_dump(mode="json"),
                    },
                    lambda m, c=tl_cfg, d=device_ds: adapt(
                        m, backbone, d, c, config.mode, progress
                    ),
                ),
            }
            for role, (key_parts, train) in runs.items():
                model, result = cache.get_or_train(
                    key_parts, spec, model_meta(ds), train, seed=seed
                )
                report = describe(role, model, spec, ds, result)
                if config.int8:
                    report = finish_int8(report, model, device_ds, cache, seed=seed, qat_epochs=0)
                reports[role].append(report)
        rows.append(
            TransferRow(
                label_fraction=fraction,
                n_labels=len(stratified_fraction(y_device, fraction, config.seeds[0])),
                scratch=reports["scratch"],
                transfer=reports["transfer"],
                scratch_accuracy=mean_std([r.accuracy for r in reports["scratch"]]),
                transfer_accuracy=mean_std([r.accuracy for r in reports["transfer"]]),
                gain=mean_std(
                    [
                        t.accuracy - s.accuracy
                        for s, t in zip(reports["scratch"], reports["transfer"], strict=True)
                    ]
                ),
            )
        )
    summary = {
        "teacher_accuracy": server.teacher_report.accuracy,
        "backbone_accuracy": backbone_report.accuracy,
        "int8": config.int8,
        "gain_by_fraction": {str(r.label_fraction): r.gain["mean"] for r in rows},
        "scratch_by_fraction": {str(r.label_fraction): r.scratch_accuracy["mean"] for r in rows},
        "transfer_by_fraction": {str(r.label_fraction): r.transfer_accuracy["mean"] for r in rows},
    }
    return TransferResult(
        dataset=info.name,
        config=config.model_dump(mode="json"),
        teacher=server.teacher_report,
        backbone=backbone_report,
        rows=rows,
        summary=summary,
    )
