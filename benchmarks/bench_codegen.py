"""Code generation benchmark: bit-exactness, arena vs TFLM, flash/RAM per target, host speed.

For each model -- the two MLPerf Tiny reference models (TensorFlow's converter) and our own
students (trained here briefly, quantized with litert-torch PT2E) -- it generates C, then:

- compares every output byte with the TFLM interpreter on seeded random int8 inputs (+ real test
  samples for the students), compiled for the host (gcc -O2) and for Cortex-M4 under QEMU;
- puts our planned arena next to TFLM's smallest working arena (``TflmRuntime.arena_bytes``);
- compiles the model (no harness) for each Cortex-M target and reports ``arm-none-eabi-size``:
  flash = text + data, RAM = data + bss (weights are ``const``: they stay in flash);
- times the generated C (-O2, one core) against LiteRT (default kernels, 1 thread) on the host.

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
from report import median, write_section  # noqa: E402

from tinylarge.tiny import toolchain  # noqa: E402
from tinylarge.tiny.codegen.emit import generate  # noqa: E402
from tinylarge.tiny.codegen.verify import (  # noqa: E402
    dataset_inputs,
    host_throughput,
    random_inputs,
    run_host_c,
    run_qemu_c,
)
from tinylarge.tiny.graph import graph_macs, load_graph  # noqa: E402
from tinylarge.tiny.runtime import LiteRtRuntime, TflmRuntime  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "tiny" / "fixtures"
SHARED = {
    "MLPerf KWS DS-CNN": FIXTURES / "mlperf_kws_dscnn_int8.tflite",
    "MLPerf AD autoencoder": FIXTURES / "mlperf_ad_autoencoder_int8.tflite",
}
TARGETS = ["cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33"]
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


def bench_model(label: str, path: Path, dataset: str | None) -> dict:
    graph = load_graph(path)
    code = generate(graph)
    tflm = TflmRuntime(path)
    x = random_inputs(tuple(tflm.input_shape), N_RANDOM, seed=0)
    if dataset:
        x = np.concatenate([x, dataset_inputs(dataset, tflm, N_DATASET)])
    expected = tflm.invoke_int8(x).reshape(len(x), -1)
    host = run_host_c(code, x)
    host_bad = int(np.count_nonzero(host != expected))
    xq = x[:N_QEMU] if not dataset else np.concatenate([x[:5], x[-5:]])
    qemu, _ = run_qemu_c(code, xq, "cortex-m4")
    qemu_bad = int(np.count_nonzero(qemu != tflm.invoke_int8(xq).reshape(len(xq), -1)))
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        srcs = []
        for name, text in code.files.items():
            (work / name).write_text(text)
            if name.endswith(".c"):
                srcs.append(work / name)
        for target in TARGETS:
            archive = toolchain.compile_objects(toolchain.get_target(target), srcs, work, "-Os")
            sizes[target] = toolchain.section_sizes(archive)
    # host speed: generated C at -O2 vs LiteRT (XNNPACK default kernels, 1 thread)
    sample = x[:1]
    reps = max(20, int(2e9 / max(graph_macs(graph), 1) / 20))
    c_ips = median([host_throughput(code, sample, reps, "-O2") for _ in range(3)])
    c3_ips = median([host_throughput(code, sample, reps, "-O3") for _ in range(3)])
    lite = LiteRtRuntime(path)
    lite.invoke_int8(sample)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            lite.invoke_int8(sample)
        times.append((time.perf_counter() - t0) / reps)
    lite_ips = 1.0 / median(times)
    return {
        "label": label,
        "ops": len(graph.ops),
        "macs": graph_macs(graph),
        "weights": graph.weight_bytes,
        "n_host": len(x),
        "host_bad": host_bad,
        "n_qemu": len(xq),
        "qemu_bad": qemu_bad,
        "arena": code.arena_bytes,
        "io": code.plan.io_bytes,
        "tflm_arena": tflm.arena_bytes,
        "sizes": sizes,
        "c_ips": c_ips,
        "c3_ips": c3_ips,
        "lite_ips": lite_ips,
    }


def render(rows: list[dict], failures: list[str]) -> str:
    lines = [
        "## Code generation (`tinylarge codegen`)",
        "",
        "Generated C99 vs the TFLM interpreter (the oracle). *Bit-exact* counts output bytes that",
        "differ from TFLM over seeded random int8 inputs (+ 50 real test samples for students);",
        "QEMU runs the Cortex-M4 build (`mps2-an386`, semihosting).",
        "",
        "| model | ops | MACs | host: bytes differing / samples | QEMU M4: differing / samples |",
        "|---|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['ops']} | {r['macs']:,} | {r['host_bad']} / {r['n_host']} "
            f"| {r['qemu_bad']} / {r['n_qemu']} |"
        )
    lines += [
        "",
        "Arena: our planned arena (intermediate tensors only; the generated code reads the",
        "caller's input buffer and writes the caller's output buffer directly) vs the smallest",
        "arena with which TFLM allocates and runs the model (x86-64 build, persistent structures",
        "included). The last column adds our input + output buffers: an apples-to-apples total.",
        "",
        "| model | our arena (B) | TFLM arena (B) | ratio | (arena + I/O) / TFLM |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['arena']:,} | {r['tflm_arena']:,} | "
            f"{r['arena'] / r['tflm_arena']:.2f} | {(r['arena'] + r['io']) / r['tflm_arena']:.2f} |"
        )
    lines += [
        "",
        "Flash / RAM of the model alone (generated model + kernel library, `-Os`, no startup or",
        "harness; `arm-none-eabi-size`): flash = text + data, RAM = data + bss. Weights are",
        "`static const` and stay in flash; RAM is the arena plus a few bytes.",
        "",
        "| model | target | text | data | bss | flash (B) | RAM (B) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for target, s in r["sizes"].items():
            lines.append(
                f"| {r['label']} | {target} | {s.text:,} | {s.data} | {s.bss:,} | "
                f"{s.flash_bytes:,} | {s.ram_bytes:,} |"
            )
    lines += [
        "",
        "Host throughput, one core: generated C (gcc -O2 and -O3; portable C loops, no SIMD",
        "intrinsics) vs LiteRT (ai-edge-litert default XNNPACK kernels, 1 thread, batch 1, Python",
        "call overhead included). The machine is shared (2 cores): read ratios, not absolutes.",
        "",
        "| model | generated C -O2 (inf/s) | -O3 (inf/s) | LiteRT (inf/s) | C -O2 / LiteRT |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['c_ips']:,.0f} | {r['c3_ips']:,.0f} | {r['lite_ips']:,.0f} | "
            f"{r['c_ips'] / r['lite_ips']:.2f} |"
        )
    if failures:
        lines += ["", "Not measured: " + "; ".join(failures)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    models: list[tuple[str, Path, str | None]] = [(k, v, None) for k, v in SHARED.items()]
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_codegen_") as tmp:
        if not quick:
            try:
                models += train_students(Path(tmp))
            except Exception as exc:  # report, keep the shared-model numbers
                failures.append(f"students ({type(exc).__name__}: {exc})")
        rows = []
        for label, path, dataset in models:
            t0 = time.perf_counter()
            rows.append(bench_model(label, path, dataset))
            print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    write_section("codegen", render(rows, failures))
    ok = all(r["host_bad"] == 0 and r["qemu_bad"] == 0 for r in rows)
    print(render(rows, failures), file=sys.stderr)
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
