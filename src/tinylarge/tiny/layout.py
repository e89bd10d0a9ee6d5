"""Tensor layouts between PyTorch (NCHW) and the converted int8 graphs (NHWC), and model parts.

Converted 4-D models read NHWC (``litert_torch.to_channel_last_io``); a device part that permutes
its feature output to NHWC converts with no TRANSPOSE, so an activation leaves the device in the
layout it is computed in. Used by quantization, split computing, early exit and the device agent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def to_model_layout(x: np.ndarray) -> np.ndarray:
    """NCHW float batch -> the converted model's NHWC input layout (other ranks unchanged)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def to_torch_layout(x: np.ndarray) -> np.ndarray:
    """NHWC activation of an int8 graph -> NCHW for the PyTorch modules that continue from it."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def to_device_layout(x: np.ndarray, input_shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """NCHW float batch -> ``(batch, layout)`` in the layout a ``.tflite`` of ``input_shape`` reads.

    Anything whose shape already matches the model is passed through as NCHW.
    """
    if x.ndim == 4 and len(input_shape) == 4 and tuple(x.shape[1:]) != tuple(input_shape[1:]):
        return to_model_layout(x), "NHWC"
    return x, "NCHW"


def requantize(q: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Int8 output of runtime ``src`` -> int8 input of runtime ``dst`` (their scales differ)."""
    from tinylarge.tiny.runtime import dequantize, quantize

    x = dequantize(q, src.output_scale, src.output_zero_point)
    return quantize(x, dst.input_scale, dst.input_zero_point)


class DevicePart(nn.Module):
    """``blocks[:k]`` of a ``BlockNet`` (plus the head when ``with_head``), with a channels-last
    feature output so the int8 activation leaves the device in its own layout (no TRANSPOSE)."""

    def __init__(self, net: nn.Module, k: int, with_head: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(list(net.blocks[:k]))
        self.head = net.head if with_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x) if self.head is not None else x.permute(0, 2, 3, 1)


class FlattenChannelsLast(nn.Module):
    """Flatten in NHWC order, the device's layout: the int8 graph then needs no TRANSPOSE."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)
