"""Prove generated C bit-exact with the TFLM interpreter: same inputs, every output byte equal.

``host``: the C is compiled with ``gcc`` (the portable kernels) and fed inputs on stdin. ``qemu``:
it is cross-compiled for a Cortex-M target (the DSP kernels on M4/M7/M33) with the inputs baked
into the firmware, run under ``qemu-system-arm`` with semihosting, and prints its outputs as hex.
The oracle is the ``tflite-micro`` interpreter on the same inputs. Models with float I/O (QUANTIZE
in, DEQUANTIZE out at the edges) get floats written to ``<prefix>_input()`` (inside the arena),
quantized in place, and are compared float bit for float bit on ``<prefix>_output()`` after
``<prefix>_dequantize_output(NULL)``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny import toolchain
from tinylarge.tiny.codegen.emit import GeneratedCode


class VerifyMode(StrEnum):
    """Where the generated C runs against TFLM: built for this host, or on a Cortex-M in QEMU."""

    HOST = "host"
    QEMU = "qemu"


HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "{prefix}.h"
{inputs}
static {in_t} in_buf[{P}_INPUT_SIZE];
static {out_t} out_buf[{P}_OUTPUT_SIZE];
static int next_input(int n) {{
#ifdef TL_BAKED
  if (n >= TL_N) return 0;
  memcpy(in_buf, tl_inputs[n], sizeof in_buf);
  return 1;
#else
  (void)n;
  return fread(in_buf, sizeof in_buf[0], {P}_INPUT_SIZE, stdin) == {P}_INPUT_SIZE;
#endif
}}
int main(void) {{
  int n, i;
  for (n = 0; next_input(n); ++n) {{
    {load_input}
    if ({prefix}_invoke(NULL, NULL) != 0) return 3;
    {store_output}
#ifdef TL_BAKED
    for (i = 0; i < (int)sizeof out_buf; ++i) printf("%02x", ((const unsigned char *)out_buf)[i]);
    printf("\n");
#else
    (void)i;
    fwrite(out_buf, sizeof out_buf[0], {P}_OUTPUT_SIZE, stdout);
#endif
  }}
  return 0;
}}
"""


@dataclass
class VerifyResult:
    """Outcome of one verification run."""

    mode: str  # "host" or "qemu"
    target: str
    n_samples: int
    n_mismatched_bytes: int
    max_abs_diff: float
    bit_exact: bool
    elapsed_s: float
    sizes: dict[str, int] = field(default_factory=dict)  # text/data/bss of the firmware (qemu)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def random_inputs(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """``n`` seeded uniform int8 inputs of the model's input shape (batch dim replaced by n)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *shape[1:]), dtype=np.int16).astype(np.int8)


def random_float_inputs(code: GeneratedCode, n: int, seed: int) -> np.ndarray:
    """Seeded floats spanning a little more than the input's int8 range (clamping included)."""
    e = code.input
    lo, hi = (-128 - e.zero_point) * e.scale, (127 - e.zero_point) * e.scale
    pad = 0.1 * (hi - lo)
    rng = np.random.default_rng(seed)
    return rng.uniform(lo - pad, hi + pad, size=(n, *e.shape[1:])).astype(np.float32)


def dataset_inputs(name: str, runtime, n: int) -> np.ndarray:
    """The first ``n`` test samples of a bundled dataset, NCHW -> NHWC, quantized with the model
    input tensor's scale and zero point."""
    from tinylarge.data import load_dataset
    from tinylarge.tiny.runtime import quantize

    ds = load_dataset(name)
    x = np.asarray(ds.x_test[:n], dtype=np.float32)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    want = tuple(runtime.input_shape[1:])
    if int(np.prod(x.shape[1:])) != int(np.prod(want)):
        raise TinylargeError(
            f"dataset {name!r} samples {x.shape[1:]} do not fit model input {want}"
        )
    x = x.reshape(len(x), *want)
    return quantize(x, runtime.input_scale, runtime.input_zero_point)


def _harness(code: GeneratedCode, baked: np.ndarray | None = None) -> str:
    p, up = code.prefix, code.prefix.upper()
    f_in, f_out = code.input.float_index is not None, code.output.float_index is not None
    inputs = ""
    if baked is not None:
        flat = np.ascontiguousarray(baked).reshape(len(baked), -1)
        fmt = (lambda v: f"{float(v)!r}f") if f_in else (lambda v: str(int(v)))
        rows = ",\n".join("  {" + ", ".join(fmt(v) for v in row) + "}" for row in flat)
        ctype = "float" if f_in else "int8_t"
        inputs = (
            f"#define TL_BAKED 1\n#define TL_N {len(flat)}\n"
            f"static const {ctype} tl_inputs[TL_N][{up}_INPUT_SIZE] = {{\n{rows}\n}};"
        )
    return HARNESS.format(
        prefix=p, P=up, inputs=inputs,
        in_t="float" if f_in else "int8_t", out_t="float" if f_out else "int8_t",
        # the caller writes and reads the model's tensors in place in the arena (float ones too)
        load_input=(
            f"memcpy({p}_input(), in_buf, sizeof in_buf);"
            + (f" {p}_quantize_input(NULL);" if f_in else "")
        ),
        store_output=(
            (f"{p}_dequantize_output(NULL); " if f_out else "")
            + f"memcpy(out_buf, {p}_output(), sizeof out_buf);"
        ),
    )  # fmt: skip


def _write_sources(code: GeneratedCode, work: Path) -> list[Path]:
    paths = []
    for name, text in code.files.items():
        (work / name).write_text(text)
        if name.endswith(".c"):
            paths.append(work / name)
    return paths


def _out_dtype(code: GeneratedCode) -> np.dtype:
    return np.dtype(np.float32 if code.output.float_index is not None else np.int8)


def run_host_c(code: GeneratedCode, inputs: np.ndarray, opt: str = "-O2") -> np.ndarray:
    """Compile the generated C on the host and run it on ``inputs`` of shape (n, ...)."""
    in_dtype = np.float32 if code.input.float_index is not None else np.int8
    with tempfile.TemporaryDirectory(prefix="tl_codegen_") as tmp:
        work = Path(tmp)
        srcs = _write_sources(code, work)
        main = work / "main.c"
        main.write_text(_harness(code))
        exe = toolchain.compile_host([*srcs, main], work / "model", opt=opt)
        raw = toolchain.run_host(exe, np.ascontiguousarray(inputs, dtype=in_dtype).tobytes())
    return np.frombuffer(raw, dtype=_out_dtype(code)).reshape(len(inputs), -1)


def run_qemu_c(
    code: GeneratedCode,
    inputs: np.ndarray,
    target: str = "cortex-m4",
    opt: str = "-Os",
    extra_sources: tuple[Path, ...] = (),
    include: tuple[Path, ...] = (),
) -> tuple[np.ndarray, toolchain.SectionSizes]:
    """Cross-compile with the inputs baked in, run on QEMU, parse the hex output lines."""
    tgt = toolchain.get_target(target)
    with tempfile.TemporaryDirectory(prefix="tl_codegen_qemu_") as tmp:
        work = Path(tmp)
        srcs = _write_sources(code, work)
        main = work / "main.c"
        main.write_text(_harness(code, baked=inputs))
        elf = toolchain.compile_target(
            tgt, [*srcs, *extra_sources, main], work / "app.elf", opt=opt, include=include
        )
        sizes = toolchain.section_sizes(elf)
        rc, stdout = toolchain.run_qemu(tgt, elf)
    if rc != 0:
        raise TinylargeError(f"firmware on {target} exited with {rc}; output: {stdout[-500:]!r}")
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if len(lines) != len(inputs):
        raise TinylargeError(f"expected {len(inputs)} output lines from QEMU, got {len(lines)}")
    out = np.array([np.frombuffer(bytes.fromhex(ln), dtype=_out_dtype(code)) for ln in lines])
    return out, sizes


class FloatTflm:
    """The TFLM interpreter on a model with float I/O (TflmRuntime takes int8 I/O only)."""

    def __init__(self, model_bytes: bytes, arena_bytes: int = 1 << 20) -> None:
        from tflite_micro.python.tflite_micro import runtime as tflm

        from tinylarge.tiny.runtime import quiet_native_stderr

        with quiet_native_stderr():
            self._interp = tflm.Interpreter.from_bytes(model_bytes, arena_size=arena_bytes)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for row in x:
            self._interp.set_input(row[None], 0)
            self._interp.invoke()
            outs.append(np.asarray(self._interp.get_output(0)).reshape(-1))
        return np.stack(outs)


def _compare(expected: np.ndarray, got: np.ndarray) -> tuple[int, float]:
    a = np.ascontiguousarray(expected).view(np.uint8).reshape(len(expected), -1)
    b = np.ascontiguousarray(got).view(np.uint8).reshape(len(got), -1)
    diff = np.abs(expected.astype(np.float64) - got.astype(np.float64))
    return int(np.count_nonzero(a != b)), float(diff.max(initial=0))


def expected_outputs(code: GeneratedCode, model_bytes: bytes, inputs: np.ndarray, runtime=None):
    """TFLM's outputs for ``inputs`` (int8, or float for float-I/O models)."""
    if code.input.float_index is not None or code.output.float_index is not None:
        return FloatTflm(model_bytes).invoke(inputs)
    from tinylarge.tiny.runtime import TflmRuntime

    rt = runtime or TflmRuntime(model_bytes)
    return rt.invoke_int8(inputs).reshape(len(inputs), -1)


def verify(
    code: GeneratedCode,
    model: str | Path | bytes,
    mode: str = "host",
    target: str = "cortex-m4",
    n_random: int = 20,
    seed: int = 0,
    dataset: str | None = None,
    n_dataset: int = 20,
    runtime=None,
    cmsis_nn: str | Path | None = None,
) -> VerifyResult:
    """Compare the generated C with TFLM on seeded random inputs (+ dataset samples)."""
    from tinylarge.tiny.runtime import TflmRuntime, read_model

    if mode not in {m.value for m in VerifyMode}:
        raise TinylargeError(f"unknown verify mode {mode!r}; valid: {', '.join(VerifyMode)}")
    model_bytes = read_model(model)
    float_in = code.input.float_index is not None
    if float_in:
        inputs = random_float_inputs(code, n_random, seed)
    else:
        inputs = random_inputs(tuple(code.input.shape), n_random, seed)
        if dataset:
            rt = runtime or TflmRuntime(model_bytes)
            inputs = np.concatenate([inputs, dataset_inputs(dataset, rt, n_dataset)])
    t0 = time.perf_counter()
    expected = expected_outputs(code, model_bytes, inputs, runtime)
    sizes: dict[str, int] = {}
    note = ""
    cmsis_nn = cmsis_nn if cmsis_nn is not None else code.cmsis_nn
    if mode == "host":
        if cmsis_nn is not None:
            raise TinylargeError("the CMSIS-NN backend targets Cortex-M; verify it with qemu")
        got = run_host_c(code, inputs)
        tgt_name = "host"
    else:
        from tinylarge.tiny.codegen.cmsis import cmsis_build_inputs

        extra, include = cmsis_build_inputs(cmsis_nn, target) if cmsis_nn else ((), ())
        got, sec = run_qemu_c(code, inputs, target, extra_sources=extra, include=include)
        sizes = {"text": sec.text, "data": sec.data, "bss": sec.bss}
        tgt_name = target
        note = toolchain.get_target(target).note
    elapsed = time.perf_counter() - t0
    n_bad, max_diff = _compare(expected, got)
    return VerifyResult(
        mode=mode,
        target=tgt_name,
        n_samples=len(inputs),
        n_mismatched_bytes=n_bad,
        max_abs_diff=max_diff,
        bit_exact=n_bad == 0,
        elapsed_s=elapsed,
        sizes=sizes,
        note=note,
    )
