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
    when the model takes 4-D input) before training.
    """
    from torchao.quantization.pt2e import move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    from tinylarge.tiny.quantize import to_model_layout

    torch.manual_seed(seed)
    quantizer.STATIC_QAT_ONLY_OPS = []  # instance override: no conv-bn patterns (see module doc)
    exported = torch.export.export(
        fold_batchnorm(wrapped).train(), example, dynamic_shapes=(({0: torch.export.Dim.AUTO},),)
    ).module()
    prepared = prepare_qat_pt2e(exported, quantizer)
    move_exported_model_to_train(prepared)
    x = torch.from_numpy(to_model_layout(np.asarray(train_data[0], dtype=np.float32)))
    y = torch.from_numpy(np.asarray(train_data[1], dtype=np.int64))
    optimizer = torch.optim.Adam(prepared.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x) - 1, batch_size):  # skip a last batch of 1 (BatchNorm)
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(prepared(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
    return prepared


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
