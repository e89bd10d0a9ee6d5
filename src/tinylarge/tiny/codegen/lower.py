"""Lower each graph op to C by dispatching on its opcode (see ``lower_common`` for the shape of
the result; ``lower_conv``, ``lower_pool``, ``lower_elementwise`` and ``lower_shape`` for the
ops)."""

from __future__ import annotations

from collections.abc import Callable

from tinylarge.tiny.codegen.lower_common import Context, Lowered, UnsupportedOpError
from tinylarge.tiny.codegen.lower_conv import (
    lower_conv2d,
    lower_depthwise,
    lower_fully_connected,
    lower_transpose_conv,
)
from tinylarge.tiny.codegen.lower_elementwise import lower_binary, lower_softmax, lower_unary
from tinylarge.tiny.codegen.lower_pool import lower_avg_pool, lower_max_pool, lower_mean
from tinylarge.tiny.codegen.lower_shape import (
    lower_concat,
    lower_pad,
    lower_resize_nearest,
    lower_slice,
    lower_split,
    lower_strided_slice,
    lower_transpose,
    lower_view,
)
from tinylarge.tiny.graph import Op

__all__ = ["LOWERINGS", "Context", "Lowered", "UnsupportedOpError", "lower_op"]


LOWERINGS: dict[str, Callable[[Op, Context], Lowered]] = {
    "CONV_2D": lower_conv2d,
    "DEPTHWISE_CONV_2D": lower_depthwise,
    "FULLY_CONNECTED": lower_fully_connected,
    "TRANSPOSE_CONV": lower_transpose_conv,
    "AVERAGE_POOL_2D": lower_avg_pool,
    "MAX_POOL_2D": lower_max_pool,
    "MEAN": lower_mean,
    "ADD": lower_binary,
    "SUB": lower_binary,
    "MUL": lower_binary,
    "PRELU": lower_binary,
    "RELU": lower_unary,
    "RELU6": lower_unary,
    "RELU_N1_TO_1": lower_unary,
    "LEAKY_RELU": lower_unary,
    "HARD_SWISH": lower_unary,
    "TANH": lower_unary,
    "LOGISTIC": lower_unary,
    "QUANTIZE": lower_unary,
    "SOFTMAX": lower_softmax,
    "CONCATENATION": lower_concat,
    "RESHAPE": lower_view,
    "SQUEEZE": lower_view,
    "EXPAND_DIMS": lower_view,
    "PAD": lower_pad,
    "PADV2": lower_pad,
    "STRIDED_SLICE": lower_strided_slice,
    "SLICE": lower_slice,
    "SPLIT": lower_split,
    "SPLIT_V": lower_split,
    "TRANSPOSE": lower_transpose,
    "RESIZE_NEAREST_NEIGHBOR": lower_resize_nearest,
}


def lower_op(op: Op, ctx: Context) -> Lowered:
    """Dispatch on the opcode; unknown ops name the valid ones."""
    fn = LOWERINGS.get(op.opcode)
    if fn is None:
        raise UnsupportedOpError(
            op,
            f"op not supported; supported: {', '.join(sorted(LOWERINGS))}, "
            "and QUANTIZE/DEQUANTIZE at the model edges",
        )
    return fn(op, ctx)
