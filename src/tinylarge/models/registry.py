"""Architecture families by name, and ``build_model`` turning a ``ModelSpec`` into a module.

LargeML teachers: ``resnet2d`` (images), ``resnet1d`` (time series). TinyML students: ``cnn2d``,
``dscnn2d`` (depthwise-separable), ``cnn1d``, ``dscnn1d``, ``mlp``. Split-able nets for split
computing: ``splitnet2d`` / ``splitnet1d``, a ResNet with a narrow bottleneck early on. Every
family returns a ``BlockNet``: block 0 is the stem, one block per stage after it, then a pooled
linear head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from tinylarge.errors import UnknownNameError
from tinylarge.models.blocks import BasicBlock, BlockNet, Geometry, conv_bn, pooled_head, separable
from tinylarge.models.spec import ModelSpec

Builder = Callable[[ModelSpec, tuple[int, ...], int], BlockNet]


def _resnet(dim: int) -> Builder:
    def build(spec: ModelSpec, input_shape: tuple[int, ...], n_classes: int) -> BlockNet:
        geo, k = Geometry(dim), spec.kernel_size
        channels = spec.stage_channels()
        blocks: list[nn.Module] = [conv_bn(input_shape[0], spec.width, k, spec.stem_stride, geo)]
        c_in = spec.width
        for c_out in channels:
            stage = [BasicBlock(c_in, c_out, k, 2, geo)]
            stage += [BasicBlock(c_out, c_out, k, 1, geo) for _ in range(spec.blocks_per_stage - 1)]
            blocks.append(nn.Sequential(*stage))
            c_in = c_out
        return BlockNet(blocks, pooled_head(c_in, n_classes))

    return build


def bottleneck_channels(spec: ModelSpec) -> int:
    """Channels at a splitnet's bottleneck: an eighth of the stem width, at least 2."""
    return max(2, round(spec.width / 8))


def _splitnet(dim: int) -> Builder:
    """A ResNet with bottleneck injection for split computing (Matsubara et al., "BottleFit",
    WoWMoM 2022): after the first stage a strided conv squeezes the features to a few channels
    (the activation the device sends), a 1x1 conv widens them again, then the remaining stages.
    Blocks: stem, stage 1, bottleneck (cut here to send it), then the decoder and stages 2..depth.
    """

    def build(spec: ModelSpec, input_shape: tuple[int, ...], n_classes: int) -> BlockNet:
        geo, k = Geometry(dim), spec.kernel_size
        channels = spec.stage_channels()
        b = bottleneck_channels(spec)
        blocks: list[nn.Module] = [
            conv_bn(input_shape[0], spec.width, k, spec.stem_stride, geo),
            BasicBlock(spec.width, channels[0], k, 2, geo),
            conv_bn(channels[0], b, k, 2, geo),
        ]
        c_in = channels[0]
        decoder: list[nn.Module] = [conv_bn(b, c_in, 1, 1, geo)]
        for i, c_out in enumerate(channels[1:]):
            # the bottleneck already halved the resolution once more: the first stage keeps it
            decoder.append(BasicBlock(c_in, c_out, k, 1 if i == 0 else 2, geo))
            c_in = c_out
        blocks.append(decoder[0])
        blocks += decoder[1:]
        return BlockNet(blocks, pooled_head(c_in, n_classes))

    return build


def _cnn(dim: int, depthwise: bool) -> Builder:
    def build(spec: ModelSpec, input_shape: tuple[int, ...], n_classes: int) -> BlockNet:
        geo, k = Geometry(dim), spec.kernel_size
        blocks: list[nn.Module] = [conv_bn(input_shape[0], spec.width, k, spec.stem_stride, geo)]
        c_in = spec.width
        for c_out in spec.stage_channels():
            if depthwise:
                blocks.append(separable(c_in, c_out, k, 2, geo))
            else:
                blocks.append(conv_bn(c_in, c_out, k, 2, geo))
            c_in = c_out
        return BlockNet(blocks, pooled_head(c_in, n_classes))

    return build


def _mlp(spec: ModelSpec, input_shape: tuple[int, ...], n_classes: int) -> BlockNet:
    n_in = math.prod(input_shape)
    blocks: list[nn.Module] = [nn.Sequential(nn.Flatten(), nn.Linear(n_in, spec.width), nn.ReLU())]
    blocks += [
        nn.Sequential(nn.Linear(spec.width, spec.width), nn.ReLU()) for _ in range(spec.depth - 1)
    ]
    return BlockNet(blocks, nn.Linear(spec.width, n_classes))


@dataclass(frozen=True)
class Family:
    """One registered architecture family."""

    name: str
    role: str  # "teacher" (LargeML) or "student" (TinyML): a hint, any family can play either
    kind: str  # "image", "timeseries" or "any": the input layout it is meant for
    description: str
    build: Builder


_FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("resnet2d", "teacher", "image", "ResNet-style 2-D CNN (basic blocks)", _resnet(2)),
        Family("resnet1d", "teacher", "timeseries", "1-D ResNet, (1,k) kernels", _resnet(1)),
        Family("cnn2d", "student", "image", "plain strided 2-D CNN", _cnn(2, depthwise=False)),
        Family(
            "dscnn2d", "student", "image", "depthwise-separable 2-D CNN", _cnn(2, depthwise=True)
        ),
        Family("cnn1d", "student", "timeseries", "plain strided 1-D CNN", _cnn(1, depthwise=False)),
        Family("dscnn1d", "student", "timeseries", "depthwise-separable 1-D CNN", _cnn(1, True)),
        Family("mlp", "student", "any", "multilayer perceptron on the flattened input", _mlp),
        Family(
            "splitnet2d", "teacher", "image", "2-D ResNet with an early bottleneck", _splitnet(2)
        ),
        Family(
            "splitnet1d",
            "teacher",
            "timeseries",
            "1-D ResNet with an early bottleneck",
            _splitnet(1),
        ),
    ]
}


def list_models() -> list[str]:
    """Names of every registered family."""
    return list(_FAMILIES)


def family(name: str) -> Family:
    """The family called ``name``; ``UnknownNameError`` listing the valid names otherwise."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise UnknownNameError("model", name, _FAMILIES) from None


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], n_classes: int) -> BlockNet:
    """A freshly initialised model for inputs of shape ``(C, H, W)`` and ``n_classes`` logits.

    Weights come from torch's global RNG: seed it first (``tinylarge.train.seed_everything``).
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return family(spec.name).build(spec, tuple(int(d) for d in input_shape), int(n_classes))
