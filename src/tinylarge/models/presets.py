"""Tuned default architectures per kind of data, used by ``tinylarge demo`` and the benchmarks.

Sizes aim at distillation later on: a teacher of ~1 M parameters and a student of <= 2 % of it
(<= 25 k parameters) that fits a Cortex-M class device.
"""

from __future__ import annotations

import math
from typing import Protocol

from tinylarge.models.spec import ModelSpec


class HasShape(Protocol):
    """What presets read from a ``DatasetInfo``."""

    kind: str
    input_shape: tuple[int, ...]
    n_classes: int


def _series_stem_stride(info: HasShape) -> int:
    """Long series (ACSF1 has 1,460 steps) start with a strided stem so ~100-200 steps remain."""
    length = info.input_shape[-1]
    return 1 if length <= 256 else 2 ** int(math.log2(length / 128))


def default_teacher_spec(info: HasShape) -> ModelSpec:
    """The LargeML teacher for a dataset: a 2-D ResNet for images, a 1-D ResNet for time series."""
    if info.kind == "image":
        return ModelSpec(name="resnet2d", width=32, depth=4, kernel_size=3, stem_stride=2)
    return ModelSpec(
        name="resnet1d", width=64, depth=3, kernel_size=7, stem_stride=_series_stem_stride(info)
    )


def default_student_spec(info: HasShape) -> ModelSpec:
    """The TinyML student for a dataset: a small strided CNN (2-D or 1-D)."""
    if info.kind == "image":
        return ModelSpec(name="cnn2d", width=12, depth=3, kernel_size=3)
    return ModelSpec(
        name="cnn1d", width=16, depth=3, kernel_size=5, stem_stride=_series_stem_stride(info)
    )
