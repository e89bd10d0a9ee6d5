"""Graph rewrites before planning: fold an explicit PAD into the convolution that reads it.

TensorFlow's and litert-torch's converters emit ``PAD -> CONV_2D(VALID)`` for the asymmetric
padding of strided convolutions. TFLM's convolutions skip taps that fall outside the input, which
is the same as reading the input zero point there (``w * (Zx - Zx) = 0``). So when the PAD pads
only H and W with the zero point of its (unchanged) quantization, and only that convolution reads
it, the convolution can read the unpadded tensor with explicit top/left padding instead: same
integers, and the padded copy never exists (on the mnist5k student it is the largest tensor).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinylarge.tiny.graph import Graph, Op

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _pad_amounts(graph: Graph, pad: Op) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) if ``pad`` is a zero-point PAD of H and W only, else None."""
    x, y = graph.tensors[pad.inputs[0]], graph.tensors[pad.outputs[0]]
    paddings = graph.tensors[pad.inputs[1]].data
    if paddings is None or len(x.shape) != 4 or x.dtype != np.int8:
        return None
    p = paddings.reshape(-1, 2).astype(np.int64)
    if p.shape[0] != 4 or np.any(p < 0) or np.any(p[0] != 0) or np.any(p[3] != 0):
        return None
    if not (np.array_equal(x.scale, y.scale) and np.array_equal(x.zero_point, y.zero_point)):
        return None
    zp = int(y.zero_point[0]) if y.zero_point.size else 0
    if len(pad.inputs) > 2 and pad.inputs[2] >= 0:
        value = graph.tensors[pad.inputs[2]].data
        if value is None or int(value.reshape(-1)[0]) != zp:
            return None
    return int(p[1, 0]), int(p[2, 0]), int(p[1, 1]), int(p[2, 1])


def fuse_pads(graph: Graph, ops: list[Op], keep: set[int]) -> tuple[list[Op], list[int]]:
    """``ops`` with foldable PADs removed and their convolutions rewired; also the removed
    PAD node indices. Tensors in ``keep`` (the model's input/output) are never folded away."""
    readers: dict[int, list[Op]] = {}
    for op in ops:
        for t in op.inputs:
            readers.setdefault(t, []).append(op)
    replaced: dict[int, Op] = {}
    fused: list[int] = []
    for op in ops:
        if op.opcode not in ("PAD", "PADV2") or op.outputs[0] in keep:
            continue
        users = readers.get(op.outputs[0], [])
        if (
            len(users) != 1
            or users[0].opcode not in CONV_OPS
            or users[0].inputs[0] != op.outputs[0]
        ):
            continue
        conv = users[0]
        if conv.options.get("padding") != "VALID" or "explicit_padding" in conv.options:
            continue
        amounts = _pad_amounts(graph, op)
        if amounts is None:
            continue
        replaced[conv.index] = dataclasses.replace(
            conv,
            inputs=[op.inputs[0], *conv.inputs[1:]],
            options={**conv.options, "explicit_padding": amounts, "fused_pad_node": op.index},
        )
        fused.append(op.index)
    out = [replaced.get(op.index, op) for op in ops if op.index not in fused]
    return out, fused
