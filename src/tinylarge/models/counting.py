"""Parameter and multiply-accumulate (MAC) counts.

MACs count the multiply-accumulates of ``Conv2d`` and ``Linear`` for ONE input (batch 1), the
convention of TFLM profilers: ``Conv2d``: ``H_out * W_out * C_out * (C_in / groups) * k_h * k_w``;
``Linear``: ``in_features * out_features`` per row. Bias adds, BatchNorm (folded at deploy time),
ReLU, residual adds and pooling are not counted.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (BatchNorm affine weights included; running stats are buffers, not)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def conv2d_macs(conv: nn.Conv2d, out_shape: tuple[int, ...]) -> int:
    """MACs of one ``Conv2d`` producing ``out_shape = (C_out, H_out, W_out)``."""
    k_h, k_w = conv.kernel_size
    per_output = (conv.in_channels // conv.groups) * k_h * k_w
    return math.prod(out_shape) * per_output


def linear_macs(linear: nn.Linear, out_shape: tuple[int, ...]) -> int:
    """MACs of one ``Linear`` producing ``out_shape = (..., out_features)``."""
    return math.prod(out_shape) * linear.in_features


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass on a single input of shape ``(C, H, W)``, via forward hooks."""
    total = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        out_shape = tuple(output.shape[1:])  # drop the batch dimension (it is 1)
        if isinstance(module, nn.Conv2d):
            total += conv2d_macs(module, out_shape)
        elif isinstance(module, nn.Linear):
            total += linear_macs(module, out_shape)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
