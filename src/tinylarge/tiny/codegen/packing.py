"""Weight layouts the fast kernels read, folded biases and accumulator bounds (pure numpy).

The layouts are described in ``kernels/tl_kernels.h``: matrix rows interleaved 4 bytes at a time
in groups (so one pass over the weights feeds 2 or 4 output channels), and depthwise taps as int16
in the lane order SXTB16 produces. Reordering changes neither values nor sums: the kernels compute
the same integers as TFLM's loops.
"""

from __future__ import annotations

import numpy as np


def round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def pack_rows(w2d: np.ndarray, group: int) -> tuple[np.ndarray, int]:
    """``w2d`` (rows, k) int8 -> (packed int8 bytes, k4): rows padded to a multiple of ``group``
    and to ``k4 = round_up(k, 4)`` with zeros, each group's rows interleaved per 4 columns."""
    rows, k = w2d.shape
    k4 = round_up(max(k, 1), 4)
    padded = np.zeros((round_up(rows, group), k4), dtype=np.int8)
    padded[:rows, :k] = w2d
    # (groups, group, quads, 4) -> (groups, quads, group, 4)
    packed = padded.reshape(-1, group, k4 // 4, 4).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(packed).reshape(-1), k4


def pack_rows_int16(w2d: np.ndarray) -> tuple[np.ndarray, int]:
    """``w2d`` (rows, k) int8 -> (packed int16, k4) for ``tl_conv_s8``: rows in pairs, per 4
    columns ``[r0: w0 w2 w1 w3][r1: w0 w2 w1 w3]`` -- the lane order SXTB16 gives the input side,
    so one SMLAD multiplies two int16 pairs with no unpacking of the weights at run time."""
    rows, k = w2d.shape
    k4 = round_up(max(k, 1), 4)
    padded = np.zeros((round_up(rows, 2), k4), dtype=np.int16)
    padded[:rows, :k] = w2d
    quads = padded.reshape(-1, 2, k4 // 4, 4)[:, :, :, [0, 2, 1, 3]].transpose(0, 2, 1, 3)
    return np.ascontiguousarray(quads).reshape(-1), k4


def unpack_rows(packed: np.ndarray, rows: int, k: int, group: int) -> np.ndarray:
    """Inverse of :func:`pack_rows` (for tests)."""
    k4 = round_up(max(k, 1), 4)
    g = packed.reshape(-1, k4 // 4, group, 4).transpose(0, 2, 1, 3).reshape(-1, k4)
    return g[:rows, :k]


def fold_bias(bias: np.ndarray | None, w2d: np.ndarray, input_offset: int) -> np.ndarray:
    """``bias + input_offset * sum_k w[c, k]`` as int64 (the generator checks it fits int32)."""
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else bias.astype(np.int64)
    return b + input_offset * w2d.astype(np.int64).sum(axis=1)


def acc_bound(bias: np.ndarray, w2d: np.ndarray, max_abs_x: int) -> int:
    """Largest ``|accumulator|`` any input can produce: ``|b_c| + max|x| * sum_k |w[c, k]|``."""
    w_abs = np.abs(w2d.astype(np.int64)).sum(axis=1)
    return int(np.max(np.abs(bias.astype(np.int64)) + max_abs_x * w_abs, initial=0))


def pad_to(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` (1-D or rows) extended with zero rows to length ``n``."""
    out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
    out[: len(values)] = values
    return out


def pack_depthwise(w: np.ndarray) -> np.ndarray:
    """Depthwise filter ``(fh, fw, c)`` int8 -> int16 ``[c/4][tap][c0, c2, c1, c3]`` with the
    channels padded to a multiple of 4: the lanes of SXTAB16 over 4 input bytes, each group of
    4 channels' taps contiguous (one pointer, immediate offsets)."""
    fh, fw, c = w.shape
    c4 = round_up(c, 4)
    padded = np.zeros((fh * fw, c4), dtype=np.int16)
    padded[:, :c] = w.reshape(fh * fw, c)
    quads = padded.reshape(fh * fw, c4 // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2)
    return np.ascontiguousarray(quads).reshape(-1)
