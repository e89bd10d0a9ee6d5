"""Layers every family is built from, limited to ops that convert to int8 TFLite with PT2E.

Only ``Conv2d`` (incl. depthwise), ``BatchNorm2d`` right after a conv (folds away), ``ReLU``,
residual add, ``AdaptiveAvgPool2d``, ``Flatten`` and ``Linear`` appear. 1-D nets use ``(1, k)``
kernels on ``(n, C, 1, L)`` inputs: ``nn.Conv1d`` leaves TRANSPOSEs and float ops behind in the
converted model (DESIGN.md, "Known facts").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Geometry:
    """Kernel/stride/padding shapes for 2-D (``k x k``) or 1-D-as-2-D (``1 x k``) convolutions."""

    dim: int  # 1 or 2

    def kernel(self, k: int) -> tuple[int, int]:
        return (k, k) if self.dim == 2 else (1, k)

    def stride(self, s: int) -> tuple[int, int]:
        return (s, s) if self.dim == 2 else (1, s)

    def padding(self, k: int) -> tuple[int, int]:
        return (k // 2, k // 2) if self.dim == 2 else (0, k // 2)


def conv_bn(
    c_in: int, c_out: int, k: int, stride: int, geo: Geometry, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """``conv -> bn (-> relu)``, the pattern PT2E folds into one int8 CONV_2D with fused ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            c_in,
            c_out,
            geo.kernel(k),
            stride=geo.stride(stride),
            padding=geo.padding(k),
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al., CVPR 2016): two convs + (projected) shortcut, add, ReLU."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, geo: Geometry) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, k, stride, geo)
        self.conv2 = conv_bn(c_out, c_out, k, 1, geo, relu=False)
        self.shortcut: nn.Module = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else conv_bn(c_in, c_out, 1, stride, geo, relu=False)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


def separable(c_in: int, c_out: int, k: int, stride: int, geo: Geometry) -> nn.Sequential:
    """Depthwise ``k``-conv then pointwise 1x1 (MobileNet, Howard et al. 2017), each bn + relu."""
    return nn.Sequential(
        conv_bn(c_in, c_in, k, stride, geo, groups=c_in),
        conv_bn(c_in, c_out, 1, 1, geo),
    )


def pooled_head(c_in: int, n_classes: int) -> nn.Sequential:
    """Global average pool -> flatten -> linear logits."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_classes))


class BlockNet(nn.Module):
    """A stack of ``blocks`` followed by a ``head``: the shape every family shares.

    Split computing cuts between blocks; feature distillation taps ``forward_features``.
    """

    def __init__(self, blocks: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(self.forward_until(x, len(self.blocks)), len(self.blocks))

    def forward_until(self, x: torch.Tensor, cut: int) -> torch.Tensor:
        """The activation at ``cut``: the output of ``blocks[:cut]`` (``cut = 0``: ``x`` itself)."""
        for block in self.blocks[:cut]:
            x = block(x)
        return x

    def forward_from(self, x: torch.Tensor, cut: int) -> torch.Tensor:
        """Logits from the activation at ``cut``: ``blocks[cut:]`` then the head."""
        for block in self.blocks[cut:]:
            x = block(x)
        return self.head(x)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of every block, in order (the head is not applied)."""
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features
