"""Is a ``.tflite`` full-integer int8 by the TFLite int8 quantization spec?

Spec (tensorflow.org/lite/performance/quantization_spec): activations and weights int8 (weights
per-channel symmetric for convolutions), biases int32, graph input and output int8. Constant int32
/ int64 tensors without quantization parameters are op parameters (a RESHAPE's shape, a MEAN's
axes, a PAD's paddings), not data, and are allowed.
"""

from __future__ import annotations

import numpy as np

from tinylarge.tiny.graph import Graph

# Ops whose third input is an int32 bias under the spec.
_BIAS_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})
_PARAM_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def int8_violations(graph: Graph) -> list[str]:
    """Every tensor use that breaks the int8 spec, as readable lines (empty: all ops int8)."""
    problems: list[str] = []
    for role, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for i in indices:
            t = graph.tensors[i]
            if t.dtype != np.int8:
                problems.append(f"graph {role} {t.name!r} is {t.dtype.name}, not int8")
    for op in graph.ops:
        for slot, i in enumerate(op.inputs + op.outputs):
            if i < 0:
                continue
            t = graph.tensors[i]
            if t.dtype == np.int8:
                continue
            is_bias = op.opcode in _BIAS_OPS and slot == 2 and t.dtype == np.int32
            is_param = t.is_constant and t.dtype in _PARAM_DTYPES and t.scale.size == 0
            if not (is_bias or is_param):
                problems.append(
                    f"op {op.index} {op.opcode}: tensor {t.name!r} is {t.dtype.name}, not int8"
                )
    return problems
