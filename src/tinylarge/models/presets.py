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
        # 24-53-116-255 channels: 1.1 M params, 10 M MACs; 98.5-98.8 % on mnist5k in 15 epochs
        return ModelSpec(name="resnet2d", width=24, depth=4, growth=2.2, kernel_size=3)
    return ModelSpec(
        name="resnet1d", width=64, depth=3, kernel_size=7, stem_stride=_series_stem_stride(info)
    )


def default_student_spec(info: HasShape) -> ModelSpec:
    """The TinyML student for a dataset: a small strided CNN (2-D or 1-D)."""
    if info.kind == "image":
        # 14-14-28-56 channels: 20 k params (1.8 % of the teacher), 0.84 M MACs, ~97.5-98 %
        return ModelSpec(name="cnn2d", width=14, depth=3, kernel_size=3)
    return ModelSpec(
        name="cnn1d", width=16, depth=3, kernel_size=5, stem_stride=_series_stem_stride(info)
    )
