"""Run a full-integer int8 ``.tflite``: in TFLM (the oracle) or in LiteRT (the fast path).

Both runtimes implement :class:`Int8Runtime`, so a simulation can pick the fast one and a check the
exact one:

- :class:`TflmRuntime` is the real TensorFlow Lite Micro interpreter (``tflite-micro`` wheel: TFLM's
  reference kernels built for x86-64), run sample by sample as on a microcontroller. Its
  :attr:`TflmRuntime.arena_bytes` is the smallest tensor arena with which TFLM allocates and
  invokes the model, found by bisection in a worker process (:mod:`tinylarge.tiny.arena_probe`:
  the wheel can crash on an arena slightly too small). The wheel has no "arena used" call, and
  the recording allocator's total is below what actually allocates on FC-heavy models
  (DESIGN.md), so "the smallest arena that works" is the honest number. It is measured on
  x86-64, where the persistent structures (pointers, node structs) are larger than on a 32-bit
  MCU: an upper bound there.
- :class:`LiteRtRuntime` is ``ai-edge-litert``, batched. ``reference=True`` selects the builtin
  reference kernels (``OpResolverType.BUILTIN_REF``), which match TFLM except FULLY_CONNECTED
  requantization (LiteRT rounds once, TFLM twice: 1-step differences that can grow downstream);
  the default kernels (XNNPACK) differ more and are never an oracle.

Quantization follows the TFLite int8 spec: ``real = scale * (q - zero_point)``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny.arena_probe import arena_is_enough, measure_arena_bytes

ModelSource = str | Path | bytes


class UnsupportedModelError(TinylargeError):
    """The ``.tflite`` is not a valid flatbuffer, or not full-integer int8 at its input/output."""


@runtime_checkable
class Int8Runtime(Protocol):
    """What every int8 runtime offers; shapes keep the model's stored batch dimension of 1."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int

    def invoke_int8(self, x: np.ndarray) -> np.ndarray:
        """Run int8 ``x`` of shape ``(n, *input_shape[1:])``; int8 ``(n, *output_shape[1:])``."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Quantize float ``x``, invoke, dequantize: float32 ``(n, *output_shape[1:])``."""
        ...


def read_model(model: ModelSource) -> bytes:
    """The ``.tflite`` bytes of ``model`` (a path or the bytes themselves)."""
    if isinstance(model, bytes | bytearray):
        return bytes(model)
    path = Path(model)
    if not path.is_file():
        raise TinylargeError(f"model file not found: {str(path)!r}")
    return path.read_bytes()


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 by the TFLite spec: ``q = clamp(round(x / scale) + zero_point, -128, 127)``."""
    q = np.round(np.asarray(x, dtype=np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Int8 -> float by the TFLite spec: ``x = scale * (q - zero_point)``."""
    return (np.float32(scale) * (q.astype(np.float32) - np.float32(zero_point))).astype(np.float32)


class _Int8Io(ABC):
    """Shared I/O bookkeeping: shapes, quantization parameters, float predict on top of int8."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int

    def _set_io(self, input_detail: dict, output_detail: dict) -> None:
        self.input_shape = tuple(int(d) for d in input_detail["shape"])
        self.output_shape = tuple(int(d) for d in output_detail["shape"])
        self.input_scale, self.input_zero_point = _tensor_qparams(input_detail)
        self.output_scale, self.output_zero_point = _tensor_qparams(output_detail)

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise TinylargeError(f"invoke_int8 needs int8 input, got {x.dtype}")
        if tuple(x.shape[1:]) != self.input_shape[1:]:
            raise TinylargeError(
                f"input shape {tuple(x.shape)} does not match the model's "
                f"(n, {', '.join(map(str, self.input_shape[1:]))})"
            )
        return x

    @abstractmethod
    def invoke_int8(self, x: np.ndarray) -> np.ndarray:
        """Int8 outputs for int8 inputs ``(n, *input_shape[1:])``; each runtime its own way."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Quantize float ``x`` with the input tensor's parameters, invoke, dequantize."""
        q = quantize(x, self.input_scale, self.input_zero_point)
        return dequantize(self.invoke_int8(q), self.output_scale, self.output_zero_point)


def _tensor_qparams(detail: dict) -> tuple[float, int]:
    q = detail.get("quantization_parameters", {})
    scales, zero_points = q.get("scales", ()), q.get("zero_points", ())
    if len(scales):
        return float(scales[0]), int(zero_points[0])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def _litert_interpreter(model_bytes: bytes, reference: bool, num_threads: int | None = 1):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    try:
        return Interpreter(
            model_content=model_bytes,
            experimental_op_resolver_type=resolver,
            num_threads=num_threads,
        )
    except (ValueError, RuntimeError) as exc:
        raise UnsupportedModelError(f"not a loadable .tflite model: {exc}") from None


def check_int8_io(model_bytes: bytes) -> tuple[dict, dict]:
    """Verify the flatbuffer (LiteRT's verifier) and that its one input and output are int8.

    Returns the LiteRT input and output tensor details. Raises :class:`UnsupportedModelError`
    naming what is wrong (float I/O, several inputs, not a model at all).
    """
    interp = _litert_interpreter(model_bytes, reference=True)
    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"model has {len(inputs)} inputs and {len(outputs)} outputs; "
            "tinylarge runtimes take exactly one of each"
        )
    for role, detail in (("input", inputs[0]), ("output", outputs[0])):
        dtype = np.dtype(detail["dtype"])
        if dtype != np.int8:
            raise UnsupportedModelError(
                f"model {role} tensor {detail['name']!r} is {dtype.name}, not int8: tinylarge "
                "needs a full-integer int8 .tflite (make one with `tinylarge quantize`)"
            )
    return inputs[0], outputs[0]


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C-level stderr (file descriptor 2) for the block: native libraries' log noise."""
    try:
        fd = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


class TflmRuntime(_Int8Io):
    """The TFLM interpreter from the ``tflite-micro`` wheel, invoked one sample at a time.

    Parameters
    ----------
    model : path or bytes of a full-integer int8 ``.tflite``.
    arena_bytes : tensor arena to run with; ``None`` measures the smallest that works (bisection)
        and runs with exactly that, so every invoke also proves the arena is sufficient.
    """

    def __init__(self, model: ModelSource, arena_bytes: int | None = None) -> None:
        self.model_bytes = read_model(model)
        input_detail, output_detail = check_int8_io(self.model_bytes)
        self._set_io(input_detail, output_detail)
        if arena_bytes is None:
            arena_bytes = measure_arena_bytes(self.model_bytes, self.input_shape)
        elif not arena_is_enough(self.model_bytes, self.input_shape, int(arena_bytes)):
            # checked first because a too-small arena can crash TFLM instead of failing
            raise TinylargeError(
                f"TFLM cannot allocate and run this model in {int(arena_bytes)} bytes"
            )
        self.arena_bytes = int(arena_bytes)
        from tflite_micro.python.tflite_micro import runtime as tflm

        with quiet_native_stderr():
            self._interp = tflm.Interpreter.from_bytes(
                self.model_bytes, arena_size=self.arena_bytes
            )

    def invoke_int8(self, x: np.ndarray) -> np.ndarray:
        """Invoke TFLM on each of the ``n`` int8 samples in ``x``; int8 outputs stacked."""
        x = self._check_input(x)
        out = np.empty((x.shape[0], *self.output_shape[1:]), dtype=np.int8)
        for i in range(x.shape[0]):
            self._interp.set_input(x[i : i + 1], 0)
            self._interp.invoke()
            out[i] = self._interp.get_output(0)[0]
        return out


class LiteRtRuntime(_Int8Io):
    """LiteRT (``ai-edge-litert``), batched: one resize and one invoke per chunk of samples.

    ``reference=True`` uses the builtin reference kernels (close to TFLM, see the module doc);
    otherwise LiteRT's default optimized kernels. ``batch_size`` bounds the memory of one invoke.
    """

    def __init__(
        self,
        model: ModelSource,
        reference: bool = False,
        batch_size: int = 256,
        num_threads: int | None = 1,
    ) -> None:
        self.model_bytes = read_model(model)
        input_detail, output_detail = check_int8_io(self.model_bytes)
        self._set_io(input_detail, output_detail)
        self.reference = reference
        self.batch_size = int(batch_size)
        self._interp = _litert_interpreter(self.model_bytes, reference, num_threads)
        self._in_index = int(input_detail["index"])
        self._out_index = int(output_detail["index"])
        self._allocated_n = 0

    def _resize(self, n: int) -> None:
        if n != self._allocated_n:
            self._interp.resize_tensor_input(self._in_index, [n, *self.input_shape[1:]])
            self._interp.allocate_tensors()
            self._allocated_n = n

    def invoke_int8(self, x: np.ndarray) -> np.ndarray:
        """Invoke on ``x`` in chunks of ``batch_size``; int8 outputs stacked."""
        x = self._check_input(x)
        out = np.empty((x.shape[0], *self.output_shape[1:]), dtype=np.int8)
        for start in range(0, x.shape[0], self.batch_size):
            chunk = np.ascontiguousarray(x[start : start + self.batch_size])
            self._resize(chunk.shape[0])
            self._interp.set_tensor(self._in_index, chunk)
            self._interp.invoke()
            out[start : start + chunk.shape[0]] = self._interp.get_tensor(self._out_index)
        return out


def compare_outputs(reference: np.ndarray, other: np.ndarray) -> dict[str, float | int]:
    """Two int8 output batches: top-1 agreement and the largest |diff| in int8 steps."""
    ref = reference.reshape(reference.shape[0], -1)
    oth = other.reshape(other.shape[0], -1)
    diff = np.abs(ref.astype(np.int32) - oth.astype(np.int32))
    return {
        "n_samples": int(ref.shape[0]),
        "top1_agreement": float(np.mean(ref.argmax(axis=1) == oth.argmax(axis=1))),
        "max_abs_diff_steps": int(diff.max(initial=0)),
        "frac_outputs_different": float(np.mean(diff > 0)) if diff.size else 0.0,
    }
