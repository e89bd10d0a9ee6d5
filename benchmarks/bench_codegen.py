"""Code generation benchmark (issue 12): the generated C against TFLM + CMSIS-NN on the same
emulated cores, side by side in one run -- bit-exactness, instructions, memory, flash.

Models (``tiny_models``): the two MLPerf Tiny models, the project's students (trained through the
artifact cache, PT2E-quantized), three TF-converter models and the op-list fixtures made by TF's
converter and litert-torch (tests/tiny/fixtures, see its README).

Per model (:func:`measure_model`), every on-device figure through the same harnesses and the same
SysTick counting (:mod:`tinylarge.tiny.mcu.generated` for the generated C,
:mod:`tinylarge.tiny.mcu.tflm` for TFLM), ``-O2``, QEMU ``-icount shift=0``:

- bit-exact: every output byte against the TFLM interpreter (x86 wheel): 50 seeded random inputs
  (+ 50 test samples for students) through the generated C compiled for the host (portable
  kernels); 10 of them (5 random + 5 test samples for students) on QEMU for our C (DSP kernels)
  on M4, M7 and M33, our C with the CMSIS-NN backend on M4, and TFLM itself on each core run;
- instructions per inference on the M4 (median over those 10 inputs): our C with its own
  kernels, our C calling CMSIS-NN (``--kernels cmsis-nn``, the copy in ../shared), TFLM +
  CMSIS-NN and TFLM with reference kernels; on the M7 and M33 ours and TFLM + CMSIS-NN;
- memory: (our arena + I/O buffers outside it) / TFLM's planned activation memory (the arena
  head from the x86 wheel's ``print_allocations()``: I/O tensors and scratch included, the
  pointer-size dependent persistent tail excluded); and total RAM measured on the M4: ours =
  (data + bss) the model adds to a firmware, TFLM's = 32-bit ``arena_used_bytes()`` + its static
  data; stacks beside;
- flash on the M4: (text + data) the model adds to a firmware: generated code + kernels +
  weights, against TFLM + CMSIS-NN + the model blob.

Medians over models come with a 95% bootstrap interval (resampling models). Writes the
``codegen`` section of BENCHMARKS.md. Usage: ``.venv/bin/python benchmarks/bench_codegen.py
[--quick]`` (``--quick`` skips the students).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402
from tiny_models import MLPERF, OP_LIST, TF_CONVERTER, student_models  # noqa: E402

from tinylarge.errors import TinylargeError  # noqa: E402
from tinylarge.tiny.arena_probe import measure_arena_head_bytes  # noqa: E402
from tinylarge.tiny.codegen.emit import generate  # noqa: E402
from tinylarge.tiny.codegen.verify import (  # noqa: E402
    dataset_inputs,
    expected_outputs,
    random_float_inputs,
    random_inputs,
    run_host_c,
)
from tinylarge.tiny.graph import graph_macs, load_graph  # noqa: E402
from tinylarge.tiny.mcu.generated import measure_generated  # noqa: E402
from tinylarge.tiny.mcu.tflm import measure_tflm  # noqa: E402
from tinylarge.tiny.runtime import TflmRuntime  # noqa: E402

M4 = "cortex-m4"
OUR_CORES = (M4, "cortex-m7", "cortex-m33")
TFLM_RUNS = ((M4, "cmsis_nn"), (M4, "reference"), ("cortex-m7", "cmsis_nn"),
             ("cortex-m33", "cmsis_nn"))  # fmt: skip
N_RANDOM = 50
N_QEMU = 10
N_DATASET = 50


def _hex_rows(a: np.ndarray) -> list[str]:
    return [row.tobytes().hex() for row in np.ascontiguousarray(a).reshape(len(a), -1)]


def _bad(got: list[str], want: list[str]) -> int:
    """Output bytes that differ."""
    g = np.frombuffer(bytes.fromhex("".join(got)), dtype=np.uint8)
    w = np.frombuffer(bytes.fromhex("".join(want)), dtype=np.uint8)
    return int(np.count_nonzero(g != w)) if len(g) == len(w) else len(w)


def measure_model(label: str, path: Path, dataset: str | None = None) -> dict:
    """Every number of the section for one model (see the module doc)."""
    graph = load_graph(path)
    model_bytes = path.read_bytes()
    code = generate(graph)
    if code.input.float_index is not None:
        x = random_float_inputs(code, N_RANDOM, seed=0)
    else:
        x = random_inputs(tuple(code.input.shape), N_RANDOM, seed=0)
        if dataset:
            rt = TflmRuntime(model_bytes)
            x = np.concatenate([x, dataset_inputs(dataset, rt, N_DATASET)])
    host = run_host_c(code, x)
    xq = np.concatenate([x[:5], x[-5:]]) if dataset else x[:N_QEMU]
    want = _hex_rows(expected_outputs(code, model_bytes, xq))
    row: dict = {
        "label": label,
        "ops": len(code.ops),
        "macs": graph_macs(graph),
        "weights": graph.weight_bytes,
        "n_host": len(x),
        "host_bad": _bad(_hex_rows(host), _hex_rows(expected_outputs(code, model_bytes, x))),
        "n_qemu": len(xq),
        "tflm_head": measure_arena_head_bytes(model_bytes),
        "n_overlapping": code.plan.n_overlapping,
        "ours": {core: measure_generated(code, xq, core) for core in OUR_CORES},
        "cmsis": measure_generated(generate(graph, kernels="cmsis-nn"), xq, M4),
        "tflm": {},
        "tflm_error": {},
    }
    for core, kernels in TFLM_RUNS:
        try:
            row["tflm"][(core, kernels)] = measure_tflm(path, xq, core, kernels, per_op=False)
        except TinylargeError as exc:  # a model TFLM's harness cannot run: say why
            row["tflm_error"][(core, kernels)] = str(exc).splitlines()[0][:160]
    runs = {f"ours {c}": m for c, m in row["ours"].items()} | {"CMSIS-NN backend": row["cmsis"]}
    runs |= {f"TFLM {k} {c}": m for (c, k), m in row["tflm"].items()}
    row["qemu_bad"] = {name: _bad(m.outputs, want) for name, m in runs.items()}
    return row


def median_ci(values: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Median and a 95% bootstrap interval (resampling models)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(v, size=(n_boot, len(v)), replace=True), axis=1)
    return float(np.median(v)), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def _tflm(r: dict, core: str = M4, kernels: str = "cmsis_nn"):
    return r["tflm"].get((core, kernels))


def _summary(name: str, vals: dict[str, float], target: str) -> str:
    med, lo, hi = median_ci(list(vals.values()))
    worst = max(vals, key=vals.get)
    return (
        f"- {name}: median **{med:.2f}** (95% interval {lo:.2f}-{hi:.2f}, {len(vals)} models), "
        f"max {vals[worst]:.2f} ({worst}); {target}"
    )


def _met(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def render(rows: list[dict], failures: list[str]) -> str:
    """The section: targets first, then one table per figure."""
    speed = {r["label"]: r["ours"][M4].instructions_median / _tflm(r).instructions_median
             for r in rows if _tflm(r)}  # fmt: skip
    backend = {r["label"]: r["cmsis"].instructions_median / _tflm(r).instructions_median
               for r in rows if _tflm(r)}  # fmt: skip
    mem = {r["label"]: (r["ours"][M4].arena_bytes + r["ours"][M4].io_bytes_outside_arena)
           / r["tflm_head"] for r in rows}  # fmt: skip
    ram = {r["label"]: r["ours"][M4].ram_bytes / _tflm(r).ram_bytes for r in rows if _tflm(r)}
    flash = {r["label"]: r["ours"][M4].flash_bytes / _tflm(r).flash_bytes
             for r in rows if _tflm(r)}  # fmt: skip
    n_bad = sum(r["host_bad"] + sum(r["qemu_bad"].values()) for r in rows)
    missed = {
        "speed (ours > TFLM + CMSIS-NN)": [k for k, v in speed.items() if v > 1.0],
        "memory ratio > 1.0": [k for k, v in mem.items() if v > 1.0],
        "flash (ours > TFLM + CMSIS-NN + model)": [k for k, v in flash.items() if v > 1.0],
    }
    s_med, m_med = median_ci(list(speed.values()))[0], median_ci(list(mem.values()))[0]
    lines = [
        "## Code generation (`tinylarge codegen`, issue 12)",
        "",
        "`benchmarks/bench_codegen.py`, one run: generated C99 with tinylarge's kernels (DSP",
        "instructions SMLAD/SXTB16/SMMLAR on M4/M7/M33) against TFLM + CMSIS-NN on the same",
        "emulated cores (QEMU `-icount shift=0`, `-O2`, the same SysTick counting and the same",
        "with-minus-without firmware sizing for both: `tinylarge.tiny.mcu`). Everything here is",
        "*measured*; nothing is modelled. Instructions are the median over 10 inputs per model",
        "(they vary by at most a few ticks).",
        "",
        "### Targets",
        "",
        _summary("Speed, ours / TFLM + CMSIS-NN instructions on the M4", speed,
                 f"target <= 1.0 on every model {_met(max(speed.values()) <= 1.0)}, "
                 f"stretch median <= 0.6 {_met(s_med <= 0.6)}."),
        _summary("Our C calling CMSIS-NN / TFLM + CMSIS-NN (the interpreter's share)", backend,
                 "reported, no target."),
        _summary("Memory, (our arena + I/O outside) / TFLM's planned activation memory", mem,
                 f"target median <= 0.75 {_met(m_med <= 0.75)}, none above 1.0 "
                 f"{_met(max(mem.values()) <= 1.0)}."),
        _summary("Total RAM, ours / TFLM's measured 32-bit RAM (M4)", ram, "reported."),
        _summary("Flash, ours (model + kernels) / TFLM + CMSIS-NN + model (M4)", flash,
                 f"target <= 1.0 on every model {_met(max(flash.values()) <= 1.0)}."),
        f"- Bit-exact with TFLM on the host and under QEMU on every model: "
        f"{_met(n_bad == 0)} ({n_bad} differing output bytes in all runs).",
    ]  # fmt: skip
    for what, labels in missed.items():
        if labels:
            lines.append(f"- Missed, {what}: {', '.join(labels)}.")
    lines += [
        "",
        "### Bit-exactness (output bytes differing from the x86 TFLM interpreter / samples)",
        "",
        "| model | ops | MACs | host (portable kernels) | ours QEMU M4 / M7 / M33 (DSP) "
        "| CMSIS-NN backend M4 | TFLM + CMSIS-NN on QEMU M4 / M7 / M33 | TFLM reference M4 |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for r in rows:
        q = r["qemu_bad"]
        ours = " / ".join(str(q[f"ours {c}"]) for c in OUR_CORES)
        tflm = " / ".join(str(q.get(f"TFLM cmsis_nn {c}", "-")) for c in OUR_CORES)
        lines.append(
            f"| {r['label']} | {r['ops']} | {r['macs']:,} | {r['host_bad']} / {r['n_host']} "
            f"| {ours} of {r['n_qemu']} | {q['CMSIS-NN backend']} "
            f"| {tflm} | {q.get(f'TFLM reference {M4}', '-')} |"
        )
    lines += [
        "",
        "### Instructions per inference on the Cortex-M4",
        "",
        "*CMSIS-NN backend*: the same generated C calling CMSIS-NN (../shared, built `-O2`) for",
        "CONV/DEPTHWISE/FC/POOL/SOFTMAX/ADD/MUL -- TFLM + CMSIS-NN's kernels without its",
        "interpreter.",
        "",
        "| model | ours | CMSIS-NN backend | TFLM + CMSIS-NN | TFLM reference | ours / TFLM + "
        "CMSIS-NN | backend / TFLM + CMSIS-NN | ours / TFLM reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o, c = r["ours"][M4].instructions_median, r["cmsis"].instructions_median
        t, ref = _tflm(r), _tflm(r, M4, "reference")
        ti = t.instructions_median if t else None
        ri = ref.instructions_median if ref else None
        lines.append(
            f"| {r['label']} | {o:,} | {c:,} | {_n(ti)} | {_n(ri)} | {_ratio(o, ti)} "
            f"| {_ratio(c, ti)} | {_ratio(o, ri)} |"
        )
    lines += [
        "",
        "### Instructions on the Cortex-M7 and M33 (ours / TFLM + CMSIS-NN)",
        "",
        "| model | M7 ours | M7 TFLM + CMSIS-NN | M7 ratio | M33 ours | M33 TFLM + CMSIS-NN "
        "| M33 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    other = {c: [] for c in OUR_CORES[1:]}
    for r in rows:
        cells = []
        for core in OUR_CORES[1:]:
            o = r["ours"][core].instructions_median
            t = _tflm(r, core)
            ti = t.instructions_median if t else None
            if ti:
                other[core].append(o / ti)
            cells += [f"{o:,}", _n(ti), _ratio(o, ti)]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    lines.append("")
    for core, vals in other.items():
        med, lo, hi = median_ci(vals)
        lines.append(
            f"{core}: median ratio {med:.2f} (95% interval {lo:.2f}-{hi:.2f}), max "
            f"{max(vals):.2f}, {sum(v <= 1.0 for v in vals)} of {len(vals)} models <= 1.0."
        )
    lines += [
        "",
        "### Memory",
        "",
        "Our arena holds the model input and output (`<prefix>_input()`/`<prefix>_output()`;",
        "a float-I/O model's float tensors too, as TFLM plans them), every intermediate tensor",
        "and kernel scratch; nothing lies outside it. Outputs overlap inputs where the kernel's",
        "read order allows (overlapping ops; the edge QUANTIZE/DEQUANTIZE count too). RAM on",
        "the M4: ours = (data + bss) the model adds to a firmware;",
        "TFLM's = 32-bit `arena_used_bytes()` + its static data (interpreter, resolver,",
        "allocator). Stacks (high-water mark of one inference, lower bounds) apart.",
        "",
        "| model | our arena B | I/O outside B | TFLM head B | ratio | overlapping ops "
        "| our RAM B | TFLM RAM B | RAM ratio | our stack B | TFLM stack B |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        g, t = r["ours"][M4], _tflm(r)
        t_ram = t.ram_bytes if t else None
        lines.append(
            f"| {r['label']} | {g.arena_bytes:,} | {g.io_bytes_outside_arena:,} "
            f"| {r['tflm_head']:,} | {mem[r['label']]:.2f} | {r['n_overlapping']} "
            f"| {g.ram_bytes:,} | {_n(t_ram)} | {_ratio(g.ram_bytes, t_ram)} "
            f"| {g.stack_bytes:,} | {_n(t and t.stack_bytes)} |"
        )
    lines += [
        "",
        "### Flash on the Cortex-M4",
        "",
        "(text + data) the model adds to a firmware. Ours: generated code + kernels + weights",
        "(convolution weights stored widened to int16 for the SMLAD kernels; fully connected",
        "weights stay int8). TFLM: TFLM + kernels + the `.tflite` blob. `weights` = the model's",
        "int8 weight bytes.",
        "",
        "| model | weights B | ours B | CMSIS-NN backend B | TFLM + CMSIS-NN + model B | ratio "
        "| TFLM reference + model B |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o, t, ref = r["ours"][M4].flash_bytes, _tflm(r), _tflm(r, M4, "reference")
        tf = t.flash_bytes if t else None
        lines.append(
            f"| {r['label']} | {r['weights']:,} | {o:,} | {r['cmsis'].flash_bytes:,} | {_n(tf)} "
            f"| {_ratio(o, tf)} | {_n(ref and ref.flash_bytes)} |"
        )
    errors = [(r["label"], k, e) for r in rows for k, e in r["tflm_error"].items()]
    if errors:
        lines += ["", "TFLM runs that could not be made (why):", ""]
        lines += [f"- {label}, {c} {k}: {e}" for label, (c, k), e in errors]
    if failures:
        lines += ["", "Not measured: " + "; ".join(failures)]
    return "\n".join(lines)


def _n(v) -> str:
    return f"{v:,}" if v else "-"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if b else "-"


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_codegen_") as tmp:
        models: list[tuple[str, Path, str | None]] = [(k, v, None) for k, v in MLPERF]
        if not quick:
            try:
                models += student_models(Path(tmp))
            except Exception as exc:  # report, keep the other numbers
                failures.append(f"students ({type(exc).__name__}: {exc})")
        models += [(k, v, None) for k, v in TF_CONVERTER + OP_LIST]
        rows = []
        for label, path, dataset in models:
            t0 = time.perf_counter()
            rows.append(measure_model(label, path, dataset))
            print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    text = render(rows, failures)
    write_section("codegen", text)
    print(text, file=sys.stderr)
    ok = all(r["host_bad"] == 0 and not any(r["qemu_bad"].values()) for r in rows)
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
