"""Prove generated C bit-exact with the TFLM interpreter: same int8 inputs, every output byte equal.

``host``: the C is compiled with ``gcc`` and fed inputs on stdin. ``qemu``: it is cross-compiled for
a Cortex-M target with the inputs baked into the firmware as const arrays, run under
``qemu-system-arm`` with semihosting, and prints its outputs as hex. In both cases the oracle is
:class:`tinylarge.tiny.runtime.TflmRuntime` on the same inputs.
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


HOST_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "{prefix}.h"
static int8_t in_buf[{P}_INPUT_SIZE];
static int8_t out_buf[{P}_OUTPUT_SIZE];
int main(int argc, char **argv) {{
  long reps = argc > 1 ? atol(argv[1]) : 0;
  if (reps > 0) {{
    long r;
    clock_t t0;
    double seconds;
    if (fread(in_buf, 1, {P}_INPUT_SIZE, stdin) != {P}_INPUT_SIZE) return 2;
    t0 = clock();
    for (r = 0; r < reps; ++r) {prefix}_invoke(in_buf, out_buf);
    seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("%.9f %d\n", seconds, (int)out_buf[0]);
    return 0;
  }}
  while (fread(in_buf, 1, {P}_INPUT_SIZE, stdin) == {P}_INPUT_SIZE) {{
    if ({prefix}_invoke(in_buf, out_buf) != 0) return 3;
    fwrite(out_buf, 1, {P}_OUTPUT_SIZE, stdout);
  }}
  return 0;
}}
"""

QEMU_MAIN = r"""
#include <stdio.h>
#include "{prefix}.h"
{inputs}
static int8_t out_buf[{P}_OUTPUT_SIZE];
int main(void) {{
  int n, i;
  for (n = 0; n < {n}; ++n) {{
    if ({prefix}_invoke(tl_inputs[n], out_buf) != 0) return 3;
    for (i = 0; i < {P}_OUTPUT_SIZE; ++i) printf("%02x", (unsigned)(uint8_t)out_buf[i]);
    printf("\n");
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
    max_abs_diff: int
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


def _compare(expected: np.ndarray, got: np.ndarray) -> tuple[int, int]:
    diff = np.abs(expected.astype(np.int16) - got.astype(np.int16))
    return int(np.count_nonzero(diff)), int(diff.max(initial=0))


def _write_sources(code: GeneratedCode, work: Path) -> list[Path]:
    paths = []
    for name, text in code.files.items():
        (work / name).write_text(text)
        if name.endswith(".c"):
            paths.append(work / name)
    return paths


def run_host_c(code: GeneratedCode, inputs: np.ndarray, opt: str = "-O2") -> np.ndarray:
    """Compile the generated C on the host and run it on int8 ``inputs`` of shape (n, ...)."""
    with tempfile.TemporaryDirectory(prefix="tl_codegen_") as tmp:
        work = Path(tmp)
        srcs = _write_sources(code, work)
        main = work / "main.c"
        main.write_text(HOST_MAIN.format(prefix=code.prefix, P=code.prefix.upper()))
        exe = toolchain.compile_host([*srcs, main], work / "model", opt=opt)
        raw = toolchain.run_host(exe, np.ascontiguousarray(inputs, dtype=np.int8).tobytes())
    out = np.frombuffer(raw, dtype=np.int8)
    return out.reshape(len(inputs), -1)


def host_throughput(code: GeneratedCode, sample: np.ndarray, reps: int, opt: str = "-O2") -> float:
    """Inferences per second of the generated C on the host (one core, ``opt``)."""
    with tempfile.TemporaryDirectory(prefix="tl_codegen_") as tmp:
        work = Path(tmp)
        srcs = _write_sources(code, work)
        main = work / "main.c"
        main.write_text(HOST_MAIN.format(prefix=code.prefix, P=code.prefix.upper()))
        exe = toolchain.compile_host([*srcs, main], work / "model", opt=opt)
        raw = toolchain.run_host(exe, sample.astype(np.int8).tobytes(), [str(reps)])
    seconds = float(raw.split()[0])
    return reps / max(seconds, 1e-9)


def run_qemu_c(
    code: GeneratedCode, inputs: np.ndarray, target: str = "cortex-m4", opt: str = "-Os"
) -> tuple[np.ndarray, toolchain.SectionSizes]:
    """Cross-compile with the inputs baked in, run on QEMU, parse the hex output lines."""
    tgt = toolchain.get_target(target)
    n = len(inputs)
    flat = np.ascontiguousarray(inputs, dtype=np.int8).reshape(n, -1)
    rows = ",\n".join("    {" + ", ".join(str(int(v)) for v in row) + "}" for row in flat)
    decl = f"static const int8_t tl_inputs[{n}][{code.prefix.upper()}_INPUT_SIZE] = {{\n{rows}\n}};"
    with tempfile.TemporaryDirectory(prefix="tl_codegen_qemu_") as tmp:
        work = Path(tmp)
        srcs = _write_sources(code, work)
        main = work / "main.c"
        main.write_text(
            QEMU_MAIN.format(prefix=code.prefix, P=code.prefix.upper(), inputs=decl, n=n)
        )
        elf = toolchain.compile_target(tgt, [*srcs, main], work / "app.elf", opt=opt)
        sizes = toolchain.section_sizes(elf)
        rc, stdout = toolchain.run_qemu(tgt, elf)
    if rc != 0:
        raise TinylargeError(f"firmware on {target} exited with {rc}; output: {stdout[-500:]!r}")
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if len(lines) != n:
        raise TinylargeError(f"expected {n} output lines from QEMU, got {len(lines)}")
    out = np.array([np.frombuffer(bytes.fromhex(ln), dtype=np.int8) for ln in lines])
    return out, sizes


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
) -> VerifyResult:
    """Compare the generated C with TFLM on seeded random inputs (+ dataset samples)."""
    from tinylarge.tiny.runtime import TflmRuntime

    if mode not in {m.value for m in VerifyMode}:
        raise TinylargeError(f"unknown verify mode {mode!r}; valid: {', '.join(VerifyMode)}")
    rt = runtime or TflmRuntime(model)
    inputs = random_inputs(tuple(rt.input_shape), n_random, seed)
    if dataset:
        inputs = np.concatenate([inputs, dataset_inputs(dataset, rt, n_dataset)])
    t0 = time.perf_counter()
    expected = rt.invoke_int8(inputs).reshape(len(inputs), -1)
    sizes: dict[str, int] = {}
    note = ""
    if mode == "host":
        got = run_host_c(code, inputs)
        tgt_name = "host"
    else:
        got, sec = run_qemu_c(code, inputs, target)
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
