"""``TrainConfig``: every knob of one training run (hashed by the artifact cache)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Optimizer(StrEnum):
    ADAMW = "adamw"
    SGD = "sgd"  # with Nesterov momentum


class Schedule(StrEnum):
    ONECYCLE = "onecycle"  # Smith & Topin 2019: warm up, then anneal; best for short budgets
    COSINE = "cosine"
    CONSTANT = "constant"


class Role(StrEnum):
    """Which side of the integration a model plays: LargeML teacher or TinyML student."""

    TEACHER = "teacher"
    STUDENT = "student"


class TrainConfig(BaseModel):
    """Hyper-parameters of ``fit``; ``seed`` drives init, val split, shuffling and augmentation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(20, ge=1, description="maximum epochs")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0.0, description="peak learning rate")
    weight_decay: float = Field(1e-4, ge=0.0)
    optimizer: Optimizer = Optimizer.ADAMW
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD only")
    schedule: Schedule = Schedule.ONECYCLE
    patience: int = Field(
        0, ge=0, description="stop after this many epochs without a better val score; 0 = never"
    )
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="share of the training data held out"
    )
    augment: bool = Field(
        False, description="random shifts of up to shift_px along each spatial axis"
    )
    shift_px: int = Field(2, ge=0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = 0
