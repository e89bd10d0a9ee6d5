"""Lower each graph op to C by dispatching on its opcode (see ``lower_common`` for the shape of
the result, ``lower_conv`` and ``lower_misc`` for the ops)."""

from __future__ import annotations

from collections.abc import Callable

from tinylarge.tiny.codegen.lower_common import Context, Lowered, UnsupportedOpError
from tinylarge.tiny.codegen.lower_conv import (
    lower_avg_pool,
    lower_conv2d,
    lower_depthwise,
    lower_fully_connected,
    lower_max_pool,
    lower_mean,
)
from tinylarge.tiny.codegen.lower_misc import (
    lower_add,
    lower_concat,
    lower_logistic,
    lower_mul,
    lower_pad,
    lower_quantize,
    lower_softmax,
    lower_view,
)
from tinylarge.tiny.graph import Op

__all__ = ["LOWERINGS", "Context", "Lowered", "UnsupportedOpError", "lower_op"]


LOWERINGS: dict[str, Callable[[Op, Context], Lowered]] = {
    "CONV_2D": lower_conv2d,
    "DEPTHWISE_CONV_2D": lower_depthwise,
    "FULLY_CONNECTED": lower_fully_connected,
    "AVERAGE_POOL_2D": lower_avg_pool,
    "MAX_POOL_2D": lower_max_pool,
    "MEAN": lower_mean,
    "ADD": lower_add,
    "MUL": lower_mul,
    "CONCATENATION": lower_concat,
    "RESHAPE": lower_view,
    "SQUEEZE": lower_view,
    "EXPAND_DIMS": lower_view,
    "PAD": lower_pad,
    "PADV2": lower_pad,
    "SOFTMAX": lower_softmax,
    "LOGISTIC": lower_logistic,
    "QUANTIZE": lower_quantize,
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
