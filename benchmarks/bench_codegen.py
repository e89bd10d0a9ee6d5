"""Code generation benchmark (issue 12): generated C against TFLM (+ CMSIS-NN) on the same
emulated core -- bit-exactness, memory, instructions, flash.

Models: the two MLPerf Tiny reference models (TensorFlow's converter), the project's students
(trained briefly here, quantized with litert-torch PT2E), the TF-converter fixtures covering the
codegen op list and the litert-torch op fixtures (tests/tiny/fixtures, see its README).

Per model (:func:`measure_model`, one dict per model, so the TFLM-on-device columns of the
``mcu`` benchmark can be joined by label):

- bit-exact: every output byte against the TFLM interpreter (x86 wheel) on seeded random inputs
  (+ 50 test samples for students) compiled for the host (portable kernels), and on 10 inputs
  on QEMU Cortex-M4 (DSP kernels, ``mps2-an386``);
- memory: our arena (model input, output, every intermediate tensor and kernel scratch inside;
  no I/O buffer outside) / TFLM's planned activation memory, the arena *head* that the x86
  wheel's ``print_allocations()`` reports (I/O tensors and scratch included, persistent tail
  excluded -- the apples-to-apples part; DESIGN.md tool facts);
- instructions per inference: QEMU ``-icount shift=0`` + SysTick around one ``invoke`` with the
  input already in the arena, ``-O2``, on Cortex-M4 with our kernels and with the CMSIS-NN
  backend (the generated C calling CMSIS-NN from ../shared, built ``-O2``: the kernels TFLM +
  CMSIS-NN runs, without TFLM's interpreter -- so a conservative stand-in for TFLM + CMSIS-NN
  until the measured baseline is joined); M0+/M7/M33 with our kernels;
- flash and RAM: the harness linked with the model minus the harness linked with a stub
  (``--gc-sections``, ``-O2``): generated code + kernels + weights, and arena + static data.

Writes the ``codegen`` section of BENCHMARKS.md. Usage: ``.venv/bin/python
benchmarks/bench_codegen.py [--quick]`` (``--quick`` skips the students).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

from tinylarge.tiny.arena_probe import measure_arena_head_bytes  # noqa: E402
from tinylarge.tiny.codegen.cmsis import cmsis_build_inputs, find_shared_tree  # noqa: E402
from tinylarge.tiny.codegen.emit import generate  # noqa: E402
from tinylarge.tiny.codegen.measure import measure_qemu  # noqa: E402
from tinylarge.tiny.codegen.verify import (  # noqa: E402
    dataset_inputs,
    expected_outputs,
    random_float_inputs,
    random_inputs,
    run_host_c,
    run_qemu_c,
)
from tinylarge.tiny.graph import graph_macs, load_graph  # noqa: E402
from tinylarge.tiny.runtime import TflmRuntime  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "tiny" / "fixtures"
SHARED = [
    ("MLPerf KWS DS-CNN", FIXTURES / "mlperf_kws_dscnn_int8.tflite"),
    ("MLPerf AD autoencoder", FIXTURES / "mlperf_ad_autoencoder_int8.tflite"),
]
OP_MODELS = [
    ("TF: convnet", FIXTURES / "tf_convnet_int8.tflite"),
    ("TF: activations", FIXTURES / "tf_activations_int8.tflite"),
    ("TF: tensor ops", FIXTURES / "tf_tensor_ops_int8.tflite"),
    ("TF: transpose conv", FIXTURES / "tf_transpose_conv_int8.tflite"),
    ("TF: float I/O", FIXTURES / "tf_float_io_int8.tflite"),
    ("litert-torch: ops", FIXTURES / "codegen_torchops_int8.tflite"),
    ("litert-torch: activations", FIXTURES / "codegen_torchacts_int8.tflite"),
]
OTHER_TARGETS = ["cortex-m0plus", "cortex-m7", "cortex-m33"]
# Published figure (DESIGN.md tool facts) until the measured TFLM-on-device baseline is joined
TFLM_CMSIS_PUBLISHED = {"MLPerf KWS DS-CNN": 7_600_000}
N_RANDOM = 50
N_QEMU = 10
N_DATASET = 50


def train_students(work: Path) -> list[tuple[str, Path, str]]:
    """Brief training of the default students (mnist5k 2-D CNN, basic-motions 1-D CNN) and a
    small ResNet (residual ADD) on digits; returns (label, tflite, dataset)."""
    from tinylarge.data import load_dataset
    from tinylarge.models import ModelSpec, build_model, default_student_spec
    from tinylarge.tiny.quantize import quantize_and_evaluate
    from tinylarge.train.loop import fit
    from tinylarge.train.presets import default_train_config

    plans = [
        ("mnist5k", None, 4),
        ("basic-motions", None, 40),
        ("digits", ModelSpec(name="resnet2d", width=8, depth=2), 8),
    ]
    out = []
    for name, spec, epochs in plans:
        ds = load_dataset(name)
        spec = spec or default_student_spec(ds.info)
        model = build_model(spec, ds.info.input_shape, ds.info.n_classes)
        config = default_train_config(ds.info, "student").model_copy(update={"epochs": epochs})
        fit(model, ds, config, progress=False)
        path = work / f"{name}_{spec.name}_int8.tflite"
        q = quantize_and_evaluate(
            model, ds.x_train, ds.y_train, ds.x_test, ds.y_test, path, n_calibration=200
        )
        label = f"student {spec.name} on {name} (int8 acc {q.int8_accuracy:.3f})"
        out.append((label, path, name))
    return out


def measure_model(label: str, path: Path, dataset: str | None = None) -> dict:
    """Every number of the section for one model (see the module doc)."""
    graph = load_graph(path)
    model_bytes = path.read_bytes()
    code = generate(graph)
    float_io = code.input.float_index is not None
    if float_io:
        x = random_float_inputs(code, N_RANDOM, seed=0)
        whole_arena = None
    else:
        rt = TflmRuntime(model_bytes)
        whole_arena = rt.arena_bytes
        x = random_inputs(tuple(code.input.shape), N_RANDOM, seed=0)
        if dataset:
            x = np.concatenate([x, dataset_inputs(dataset, rt, N_DATASET)])
    expected = expected_outputs(code, model_bytes, x)
    host = run_host_c(code, x)
    xq = x[:N_QEMU] if not dataset else np.concatenate([x[:5], x[-5:]])
    qemu, _ = run_qemu_c(code, xq, "cortex-m4", opt="-O2")
    row = {
        "label": label,
        "ops": len(code.ops),
        "macs": graph_macs(graph),
        "weights": graph.weight_bytes,
        "n_host": len(x),
        "host_bad": int(np.count_nonzero(host.view(np.uint8) != expected.view(np.uint8))),
        "n_qemu": len(xq),
        "qemu_bad": int(
            np.count_nonzero(
                qemu.view(np.uint8) != expected_outputs(code, model_bytes, xq).view(np.uint8)
            )
        ),
        "arena": code.arena_bytes,
        "io_outside": 0,
        "tflm_head": measure_arena_head_bytes(model_bytes),
        "tflm_arena": whole_arena,
        "n_overlapping": code.plan.n_overlapping,
    }
    one = random_inputs(tuple(code.input.shape), 1, seed=1)
    ours = measure_qemu(code, one, "cortex-m4", "-O2")
    row |= {"instr": ours.instructions, "flash": ours.flash_bytes, "ram": ours.ram_bytes}
    row["instr_targets"] = {
        t: measure_qemu(code, one, t, "-O2").instructions for t in OTHER_TARGETS
    }
    tree = find_shared_tree()
    if tree is not None:
        cm = generate(graph, kernels="cmsis-nn", cmsis_nn=tree)
        src, inc = cmsis_build_inputs(tree, "cortex-m4")
        theirs = measure_qemu(cm, one, "cortex-m4", "-O2", extra_sources=src, include=inc)
        if not np.array_equal(theirs.outputs, ours.outputs):
            raise AssertionError(f"{label}: the CMSIS-NN backend disagrees with our kernels")
        row |= {"cmsis_instr": theirs.instructions, "cmsis_flash": theirs.flash_bytes,
                "cmsis_arena": cm.arena_bytes}  # fmt: skip
    return row


def median_ci(values: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Median and a 95% bootstrap interval (resampling models)."""
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(v, size=(n_boot, len(v)), replace=True), axis=1)
    return float(np.median(v)), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def render(rows: list[dict], failures: list[str], tflm: dict[str, dict] | None = None) -> str:
    """The section. ``tflm`` (label -> {"instructions", "flash_bytes", "ram_bytes"}) adds the
    measured TFLM + CMSIS-NN columns when the mcu baseline is joined."""
    tflm = tflm or {}
    mem = [(r["arena"] + r["io_outside"]) / r["tflm_head"] for r in rows]
    m_med, m_lo, m_hi = median_ci(mem)
    spd = [r["instr"] / r["cmsis_instr"] for r in rows if r.get("cmsis_instr")]
    s_med, s_lo, s_hi = median_ci(spd) if spd else (float("nan"),) * 3
    lines = [
        "## Code generation (`tinylarge codegen`, issue 12)",
        "",
        "`benchmarks/bench_codegen.py`. Generated C99 with tinylarge's kernels (DSP instructions",
        "SMLAD/SXTB16/SMMLAR on M4/M7/M33, portable C elsewhere) against the TFLM interpreter.",
        "*Measured*: everything below except the one row marked *published*.",
        "",
        "### Bit-exactness (output bytes differing from TFLM / samples)",
        "",
        "| model | ops | MACs | host (portable kernels) | QEMU Cortex-M4 (DSP kernels) |",
        "|---|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['ops']} | {r['macs']:,} | {r['host_bad']} / {r['n_host']} "
            f"| {r['qemu_bad']} / {r['n_qemu']} |"
        )
    lines += [
        "",
        "### Memory: (our arena + I/O buffers outside it) / TFLM's planned activation memory",
        "",
        "Our arena holds the model input and output (`<prefix>_input()`/`<prefix>_output()`),",
        "every intermediate tensor and kernel scratch: nothing lives outside it. TFLM's planned",
        "activation memory is its arena head from the x86 wheel's `print_allocations()` (I/O",
        "tensors and scratch included; the pointer-size dependent persistent tail excluded).",
        "The whole smallest working x86 arena is shown for reference. Outputs overlap inputs",
        "where the kernel's read order allows (counted in the last column).",
        "",
        f"Median ratio **{m_med:.2f}** (95% interval over models {m_lo:.2f}-{m_hi:.2f}), "
        f"max **{max(mem):.2f}**; targets: median <= 0.75, none above 1.0 -- "
        f"{'met' if m_med <= 0.75 and max(mem) <= 1.0 else 'NOT met'}.",
        "",
        "| model | our arena (B) | I/O outside (B) | TFLM head (B) | ratio | TFLM whole x86 arena (B) | overlapping ops |",  # noqa: E501
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r, q in zip(rows, mem, strict=True):
        whole = f"{r['tflm_arena']:,}" if r["tflm_arena"] else "n/a (float I/O)"
        lines.append(
            f"| {r['label']} | {r['arena']:,} | {r['io_outside']} | {r['tflm_head']:,} | {q:.2f} "
            f"| {whole} | {r['n_overlapping']} |"
        )
    lines += [
        "",
        "### Speed: instructions per inference on Cortex-M4 (QEMU `-icount`, `-O2`)",
        "",
        "*Ours*: tinylarge kernels. *CMSIS-NN backend*: the same generated C calling CMSIS-NN",
        "(../shared, built `-O2`) for CONV/DEPTHWISE/FC/POOL/SOFTMAX/ADD/MUL -- the kernels",
        "TFLM + CMSIS-NN runs, without TFLM's interpreter, so TFLM + CMSIS-NN itself needs at",
        "least this many. *TFLM + CMSIS-NN*: the measured on-device baseline where joined, else",
        "the published KWS figure.",
        "",
        f"Ours / CMSIS-NN backend: median **{s_med:.2f}** (95% interval {s_lo:.2f}-{s_hi:.2f}),",
        f"max {max(spd):.2f}; target ours <= TFLM + CMSIS-NN on every model (stretch: median",
        "<= 0.6).",
        "",
        "| model | ours | CMSIS-NN backend | ours / CMSIS-NN | TFLM + CMSIS-NN | ours / TFLM + CMSIS-NN |",  # noqa: E501
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c = r.get("cmsis_instr")
        t = tflm.get(r["label"], {}).get("instructions")
        src = "measured"
        if t is None and r["label"] in TFLM_CMSIS_PUBLISHED:
            t, src = TFLM_CMSIS_PUBLISHED[r["label"]], "published"
        cell_c = f"{c:,}" if c else "n/a"
        ratio_c = f"{r['instr'] / c:.2f}" if c else ""
        cell_t = f"{t:,} ({src})" if t else "(mcu baseline)"
        ratio_t = f"{r['instr'] / t:.2f}" if t else ""
        lines.append(
            f"| {r['label']} | {r['instr']:,} | {cell_c} | {ratio_c} | {cell_t} | {ratio_t} |"
        )
    lines += [
        "",
        "Our kernels on the other cores (instructions per inference, `-O2`; M0+ code runs on",
        "the AN385's Cortex-M3, the portable path):",
        "",
        "| model | " + " | ".join(["cortex-m4", *OTHER_TARGETS]) + " |",
        "|---|" + "---:|" * (1 + len(OTHER_TARGETS)),
    ]
    for r in rows:
        cells = [r["instr"], *(r["instr_targets"][t] for t in OTHER_TARGETS)]
        lines.append(f"| {r['label']} | " + " | ".join(f"{c:,}" for c in cells) + " |")
    lines += [
        "",
        "### Flash and RAM on Cortex-M4 (`-O2`, `--gc-sections`, harness with model minus",
        "harness with a stub)",
        "",
        "Flash: generated code + kernels + weights (conv weights are stored widened to int16",
        "for the SMLAD kernels; fully connected weights stay int8). RAM: the arena (+ static",
        "data). TFLM + CMSIS-NN + model: the mcu baseline's measurement where joined.",
        "",
        "| model | weights (B) | flash ours (B) | flash CMSIS-NN backend (B) | TFLM + CMSIS-NN + model (B) | RAM ours (B) |",  # noqa: E501
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = tflm.get(r["label"], {}).get("flash_bytes")
        cell_t = f"{t:,}" if t else "(mcu baseline)"
        lines.append(
            f"| {r['label']} | {r['weights']:,} | {r['flash']:,} | "
            f"{r.get('cmsis_flash', 0):,} | {cell_t} | {r['ram']:,} |"
        )
    if failures:
        lines += ["", "Not measured: " + "; ".join(failures)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    models: list[tuple[str, Path, str | None]] = [(k, v, None) for k, v in SHARED]
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_codegen_") as tmp:
        if not quick:
            try:
                models += train_students(Path(tmp))
            except Exception as exc:  # report, keep the other numbers
                failures.append(f"students ({type(exc).__name__}: {exc})")
        models += [(k, v, None) for k, v in OP_MODELS]
        rows = []
        for label, path, dataset in models:
            t0 = time.perf_counter()
            rows.append(measure_model(label, path, dataset))
            print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    text = render(rows, failures)
    write_section("codegen", text)
    print(text, file=sys.stderr)
    ok = all(r["host_bad"] == 0 and r["qemu_bad"] == 0 for r in rows)
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
