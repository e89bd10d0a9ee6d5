"""Quantization-aware training (QAT) with PT2E: fake-quantize, fine-tune briefly, then convert.

For models that lose too much in post-training quantization: ``prepare_qat_pt2e`` inserts fake
quantization (moving-average observers) on weights and activations, and a short fine-tune at a
small learning rate lets the weights adapt to int8 rounding (Jacob et al., CVPR 2018, "Quantization
and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference"). The caller then
converts as in post-training quantization (``convert_pt2e``).

BatchNorm is folded into the preceding convolution *before* QAT (``torch.fx`` conv-bn fusion in
eval mode), and the quantizer's conv-bn QAT patterns are switched off: litert-torch 0.10's conv-bn
QAT annotator passes a plain function to ``torch.export`` and fails with torch 2.13. Folding first
is the usual "BN folded, frozen statistics" QAT variant, fine for a short fine-tune.
"""

from __future__ import annotations

from copy import deepcopy

import numpy as np
import torch
from torch import nn


class ExportedForTraining(nn.Module):
    """An exported graph ``fit`` can switch: exported graphs refuse ``.train()``/``.eval()``;
    torchao's ``move_exported_model_to_train``/``_eval`` do it instead."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)

    def train(self, mode: bool = True) -> ExportedForTraining:
        from torchao.quantization.pt2e import (
            move_exported_model_to_eval,
            move_exported_model_to_train,
        )

        self.training = mode
        (move_exported_model_to_train if mode else move_exported_model_to_eval)(self.graph)
        return self


def qat_prepare(
    wrapped: nn.Module,
    example: tuple[torch.Tensor, ...],
    quantizer: object,
    train_data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
) -> nn.Module:
    """Export ``wrapped`` in training mode, insert fake quantization, fine-tune; return it.

    ``wrapped`` must already have its BatchNorms folded (:func:`fold_batchnorm`, applied before
    the channels-last wrapper, which ``torch.fx`` cannot trace).

    ``train_data`` is ``(x, y)`` with ``x`` NCHW float32; it is laid out like ``example`` (NHWC
    when the model takes 4-D input) before training. The fine-tune is ``tinylarge.train.fit``
    (Adam at a constant small ``lr``, no augmentation, the best epoch on its validation split).
    """
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    from tinylarge.tiny.layout import to_model_layout
    from tinylarge.train import Schedule, TrainArrays, TrainConfig, fit

    torch.manual_seed(seed)
    quantizer.STATIC_QAT_ONLY_OPS = []  # instance override: no conv-bn patterns (see module doc)
    exported = torch.export.export(
        fold_batchnorm(wrapped).train(), example, dynamic_shapes=(({0: torch.export.Dim.AUTO},),)
    ).module()
    prepared = ExportedForTraining(prepare_qat_pt2e(exported, quantizer))
    x = to_model_layout(np.asarray(train_data[0], dtype=np.float32))
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.0,
        schedule=Schedule.CONSTANT, augment=False, seed=seed,
    )  # fmt: skip
    fit(prepared, TrainArrays(x, np.asarray(train_data[1])), config, progress=False, name="qat")
    return prepared.graph


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with each Conv+BatchNorm pair folded into one Conv (eval statistics).

    Uses ``torch.fx.experimental.optimization.fuse``; a model ``torch.fx`` cannot trace is
    returned as an unfused copy (conversion then names the layer if it fails).
    """
    from torch.fx.experimental.optimization import fuse

    copy = deepcopy(model).eval()
    try:
        return fuse(copy)
    except Exception:  # symbolic tracing fails on data-dependent control flow
        return copy
