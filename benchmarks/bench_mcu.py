"""TinyML on the emulated device: TFLM (CMSIS-NN and reference kernels) and the generated C under
QEMU, and the cost model calibrated on MLPerf Tiny v1.1 with its leave-one-out error.

Benchmark set: the two MLPerf Tiny models (TensorFlow's converter), the project's students
(trained through the artifact cache, quantized with litert-torch PT2E) and three TF-converter
models (``tests/tiny/fixtures/tfconv_*``), as ``tiny_models`` defines them. For each model it runs,
on seeded random int8 inputs:

- TFLM + CMSIS-NN on Cortex-M4, M7, M33 and M0+ (ARMv6-M on the AN385), TFLM + reference kernels
  on M4 and M33: outputs compared byte for byte with the x86 TFLM oracle (``tflite-micro``
  wheel), flash, 32-bit RAM, instructions per op class and in total
  (:mod:`tinylarge.tiny.mcu.tflm` says how each is counted);
- the generated C (``tinylarge.tiny.codegen``) on the same four cores, counted the same way
  (:mod:`tinylarge.tiny.mcu.generated`);
- the cost model (:mod:`tinylarge.tiny.mcu.costmodel`): one cycles-per-instruction factor per
  core fitted on Krai's microTVM + CMSIS-NN MLPerf Tiny v1.1 results, its leave-one-out error,
  ST's X-CUBE-AI beside it (never fitted), and the predicted latency and energy of every model on
  every catalog MCU for both runtimes, each labelled;
- build costs: a cold build of what the test suite needs (M4, CMSIS-NN, the KWS op set) in an
  empty cache, and ``tinylarge profile MODEL --device all --json`` on a model not run before
  with TFLM already built.

``--write-calibration`` stores the measured calibration instructions and the per-core instruction
models in ``tinylarge/tiny/mcu/calibration.yaml``; without it the stored file is compared with
this run. Usage: ``.venv/bin/python benchmarks/bench_mcu.py [--quick] [--write-calibration]``
(``--quick``: MLPerf + TF models only, no cold build).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402
from tiny_models import FIXTURES, MLPERF, TF_CONVERTER, student_models  # noqa: E402

from tinylarge.tiny.devices import list_devices, load_device  # noqa: E402
from tinylarge.tiny.graph import load_graph  # noqa: E402
from tinylarge.tiny.mcu import costmodel  # noqa: E402
from tinylarge.tiny.mcu.generated import measure_generated  # noqa: E402
from tinylarge.tiny.mcu.tflm import measure_tflm, random_inputs  # noqa: E402
from tinylarge.tiny.mcu.tree import default_cache_root  # noqa: E402
from tinylarge.tiny.profile import CoreRun, ModelFacts, profile_facts  # noqa: E402
from tinylarge.tiny.runtime import TflmRuntime  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m0plus")
REFERENCE_CORES = ("cortex-m4", "cortex-m33")
N_INPUTS = 3


def measure_all(models: list[tuple[str, Path]]) -> list[dict]:
    rows = []
    for label, path in models:
        x = random_inputs(path, N_INPUTS, seed=0)
        oracle = TflmRuntime(path, arena_bytes=1_000_000).invoke_int8(x).reshape(len(x), -1)
        graph = load_graph(path)
        row = {"label": label, "path": path, "size_bytes": path.stat().st_size, "graph": graph}
        row.update({"tflm": {}, "gen": {}, "gen_error": {}})
        for core in CORES:
            for kernels in ("cmsis_nn", "reference"):
                if kernels == "reference" and core not in REFERENCE_CORES:
                    continue
                t0 = time.perf_counter()
                m = measure_tflm(path, x, core, kernels)
                row["tflm"][(core, kernels)] = (m, bool((m.output_array() == oracle).all()))
                print(f"{label} {core} {kernels}: {time.perf_counter() - t0:.1f} s", flush=True)
            try:
                g = measure_generated(path, x, core)
                row["gen"][core] = (g, bool((g.output_array() == oracle).all()))
            except Exception as exc:  # an op the generator lacks: reported, not hidden
                row["gen_error"][core] = str(exc).splitlines()[0][:120]
        rows.append(row)
    return rows


def op_classes(graph, m) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    ops = {op.index: op for op in graph.ops}
    for o in m.ops:
        out[costmodel.op_work(graph, ops[o.index])[0]] += o.instructions
    return out


def calibration(rows: list[dict]):
    """Calibration instructions (KWS, AD on every core) and per-core instruction models, with the
    instruction model's leave-one-model-out error on each model's total."""
    by_stem = {r["path"].stem: r for r in rows}
    instr = {
        (stem, core): by_stem[stem]["tflm"][(core, "cmsis_nn")][0].instructions_median
        for stem in (costmodel.KWS, costmodel.AD)
        for core in CORES
    }
    models, loo = {}, []
    for core in CORES:
        samples = {r["path"].stem: _samples(r, core) for r in rows}
        flat = [s for ss in samples.values() for s in ss]
        models[core] = costmodel.fit_instruction_model(core, flat)
        for r in rows:
            rest = [s for stem, ss in samples.items() if stem != r["path"].stem for s in ss]
            held = costmodel.fit_instruction_model(core, rest)
            measured = r["tflm"][(core, "cmsis_nn")][0].instructions_median
            loo.append((r["label"], core, held.instructions(r["graph"]) / measured - 1))
    return instr, models, loo


def _samples(row: dict, core: str) -> list[tuple[str, int, int]]:
    graph, m = row["graph"], row["tflm"][(core, "cmsis_nn")][0]
    ops = {op.index: op for op in graph.ops}
    return [(*costmodel.op_work(graph, ops[o.index]), o.instructions) for o in m.ops]


def reference_not_slower(rows: list[dict]) -> list[str]:
    """(model, core) where TFLM's reference kernels are not slower than CMSIS-NN (checked here,
    not in the test suite, to spare CI a second cold build of TFLM's core)."""
    return [
        f"{r['label']} {core}"
        for r in rows
        for (core, kernels), (m, _) in r["tflm"].items()
        if kernels == "reference"
        and m.instructions_median <= r["tflm"][(core, "cmsis_nn")][0].instructions_median
    ]


def cold_build_s() -> float:
    """A cold build of the test suite's TFLM (M4, CMSIS-NN, KWS ops) in an empty cache."""
    with tempfile.TemporaryDirectory(prefix="bench_mcu_cold_") as tmp:
        kws = FIXTURES / "mlperf_kws_dscnn_int8.tflite"
        t0 = time.perf_counter()
        measure_tflm(kws, random_inputs(kws, 1), "cortex-m4", "cmsis_nn", cache_root=Path(tmp))
        return time.perf_counter() - t0


def profile_cli_s(model: Path) -> float:
    """``tinylarge profile MODEL --device all --json`` with TFLM built but this model never run:
    a HOME whose cache shares the built objects and the tree copy, with no stored runs."""
    real = default_cache_root()
    with tempfile.TemporaryDirectory(prefix="bench_mcu_home_") as home:
        cache = Path(home) / ".cache" / "tinylarge" / "tflm"
        cache.mkdir(parents=True)
        for entry in real.iterdir():
            if entry.name != "runs":
                (cache / entry.name).symlink_to(entry)
        env = {**os.environ, "HOME": home, "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        res = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "tinylarge"), "profile", str(model), "--device", "all",
             "--json"],
            capture_output=True, env=env, timeout=1200,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr.decode()[-2000:])
    payload = json.loads(res.stdout)
    assert all("basis" in d for d in payload["devices"])
    return elapsed


def predictions(rows: list[dict]) -> list[list[str]]:
    """Every model on every catalog MCU, both runtimes, through the profiler itself."""
    mcus = [d for d in (load_device(n) for n in list_devices()) if d.is_mcu]
    out = []
    for r in rows:
        runs = {
            core: CoreRun(r["tflm"][(core, "cmsis_nn")][0], r["gen"].get(core, (None,))[0],
                          r["gen_error"].get(core))
            for core in CORES
        }  # fmt: skip
        facts = ModelFacts(r["graph"], r["size_bytes"], 0, runs)
        for dev in mcus:
            p = profile_facts(facts, dev)
            t, g = p.runtimes["tflm_cmsis_nn"], p.runtimes["generated_c"]
            out.append(
                [
                    r["label"], dev.name, _ms(t.latency_s), _mj(t.energy_j),
                    _ms(g.latency_s) if g.available else "-",
                    _mj(g.energy_j) if g.available else "-",
                    t.basis.get("instructions", "-"), t.latency_method.split(" x ")[0],
                ]
            )  # fmt: skip
    return out


def _ms(s: float | None) -> str:
    return f"{s * 1e3:.3f}" if s is not None else "-"


def _mj(j: float | None) -> str:
    return f"{j * 1e3:.4f}" if j is not None else "-"


def render(rows, instr, models, loo_instr, cold_s, cli_s, stored_ok) -> str:
    clocks = {p.device: load_device(p.device).clock_hz for p in costmodel.KRAI_CMSIS_NN}
    factors = costmodel.fit_factors(costmodel.KRAI_CMSIS_NN, instr, clocks, CORES)
    loo = costmodel.leave_one_out(costmodel.KRAI_CMSIS_NN, instr, clocks)
    lines = ["## TinyML on the emulated device (`tinylarge.tiny.mcu`, `tinylarge profile`)", ""]
    lines += [
        "TFLM (tree at the pinned commit in shared/third_party, `BUILD_TYPE=release`, its own",
        "make's flags) and the generated C run under QEMU with `-icount shift=0`; instructions",
        "= SysTick ticks x 40 (50 on the AN505), exact to one tick. flash = (text + data) of the",
        "firmware minus the same harness without TFLM and model; TFLM RAM = 32-bit",
        "`arena_used_bytes()` + (data + bss) difference without the static arena buffer; generated",
        "C RAM = (data + bss) difference: its static arena, which holds the input and output",
        "(`<prefix>_input()`/`<prefix>_output()`), + its static data. Stack apart. Inputs:",
        f"{N_INPUTS} seeded uniform int8 per model; instructions are the median over them;",
        '"exact" = every output byte equals the x86 TFLM oracle (`tflite-micro` wheel).',
        "M0+ = ARMv6-M code on QEMU's AN385 (Cortex-M3 core): instructions of the M0+ code.",
        "Op classes: kernel instructions by class (their sum is below the total by TFLM's",
        "dispatch). TFLM objects: compiled objects the model's op set needs (of make's 315).",
        "",
        "| model | core | kernels | exact | flash B | RAM B | arena B | stack B | instructions "
        "| conv | depthwise | FC | pool | elementwise | other | TFLM objects |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for (core, kernels), (m, exact) in r["tflm"].items():
            cls = op_classes(r["graph"], m)
            lines.append(
                f"| {r['label']} | {core} | {kernels} | {'yes' if exact else 'NO'} "
                f"| {m.flash_bytes:,} | {m.ram_bytes:,} | {m.arena_used_bytes:,} "
                f"| {m.stack_bytes:,} | {m.instructions_median:,} | "
                + " | ".join(f"{cls.get(c, 0):,}" for c in costmodel.OP_CLASSES)
                + f" | {m.build.get('n_objects', '-')} |"
            )
        for core in CORES:
            if core in r["gen"]:
                g, exact = r["gen"][core]
                t = r["tflm"][(core, "cmsis_nn")][0]
                lines.append(
                    f"| {r['label']} | {core} | generated C | {'yes' if exact else 'NO'} "
                    f"| {g.flash_bytes:,} | {g.ram_bytes:,} | {g.arena_bytes:,} "
                    f"| {g.stack_bytes:,} | {g.instructions_median:,} "
                    f"({g.instructions_median / t.instructions_median:.2f}x CMSIS-NN) "
                    "| | | | | | | |"
                )
            else:
                lines.append(
                    f"| {r['label']} | {core} | generated C | - | | | | | "
                    f"{r['gen_error'].get(core, '')} | | | | | | | |"
                )
    lines += [
        "",
        "### Cost model: latency = instructions x cycles per instruction (core) / clock",
        "",
        "Calibrated only on MLPerf Tiny v1.1 closed-division medians of Krai's microTVM +",
        "CMSIS-NN (the same kernels as TFLM + CMSIS-NN; our instruction counts are TFLM's, whose",
        "interpreter adds a little). 2 free parameters (one factor per core with points: M4, M33)",
        "for 4 points; a factor is the geometric mean of published x clock / instructions over",
        "its core's points. No split by op class: with 2 points per core it would fit exactly",
        "and predict nothing. Cores without a point (M7, M0+) take the factor pooled over all",
        "4 points (1 parameter), labelled so.",
        "",
        "| core | cycles/instruction | points | basis |",
        "|---|---:|---:|---|",
    ]
    for core in CORES:
        f = factors[core]
        lines.append(f"| {core} | {f.cpi:.3f} | {f.n_points} | {f.basis} |")
    lines += [
        "",
        "Leave-one-out: each point predicted from the factor fitted on the other three (its",
        'core\'s remaining point; "pooled" = one factor over the other three).',
        "",
        "| model | board | published ms | instructions (TFLM + CMSIS-NN) | predicted ms | error "
        "| pooled predicted ms | pooled error |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in loo:
        lines.append(
            f"| {row['model']} | {row['device']} | {row['published_latency_s'] * 1e3:.2f} "
            f"| {row['instructions']:,} | {row['predicted_latency_s'] * 1e3:.2f} "
            f"| {100 * row['error']:+.1f}% | {row['predicted_pooled_latency_s'] * 1e3:.2f} "
            f"| {100 * row['error_pooled']:+.1f}% |"
        )
    errs = [abs(r["error"]) for r in loo]
    lines += [
        "",
        f"Leave-one-out |error|: mean {100 * np.mean(errs):.1f}%, max {100 * max(errs):.1f}% "
        "(per-core factor).",
        "",
        "What a vendor stack reaches (another software stack: shown, never fitted):",
        "",
        "| model | board | stack | published ms | TFLM + CMSIS-NN predicted ms | ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for p in costmodel.VENDOR_REFERENCE:
        pred = instr[(p.model, p.core)] * factors[p.core].cpi / load_device(p.device).clock_hz
        lines.append(
            f"| {p.model} | {p.board} | {p.stack} | {p.latency_s * 1e3:.2f} | {pred * 1e3:.2f} "
            f"| {pred / p.latency_s:.2f}x |"
        )
    lines += [
        "",
        "Instruction model (for models not run in QEMU): per op `per_unit[class] x work +",
        "per_op`, non-negative least squares over the measured ops of this set, per core.",
        "Leave-one-model-out error of each model's total instructions:",
        "",
        "| model | " + " | ".join(CORES) + " |",
        "|---|" + "---:|" * len(CORES),
    ]
    by_model: dict[str, dict[str, float]] = defaultdict(dict)
    for label, core, err in loo_instr:
        by_model[label][core] = err
    for label, errs_core in by_model.items():
        lines.append(
            f"| {label} | " + " | ".join(f"{100 * errs_core[c]:+.0f}%" for c in CORES) + " |"
        )
    lines += [
        "",
        "### Predicted latency and energy on the catalog's MCUs (both runtimes)",
        "",
        "Latency and energy are modelled (instructions x factor / clock; x run-mode power);",
        '"instructions" says whether the instruction count behind them was measured (QEMU runs',
        "the core) or is absent (ESP32-S3: estimated cycles per unit of work, its generated C",
        "scaled by the generated-C / CMSIS-NN instruction ratio measured on the M4).",
        "",
        "| model | device | TFLM + CMSIS-NN ms | mJ | generated C ms | mJ | instructions "
        "| method |",
        "|---|---|---:|---:|---:|---:|---|---|",
        *("| " + " | ".join(r) + " |" for r in predictions(rows)),
        "",
        "### Build and profile cost",
        "",
    ]
    if cold_s is not None:
        lines.append(
            f"- Cold build of the test suite's TFLM (M4, CMSIS-NN, the KWS op set: interpreter "
            f"core + 13 kernel sources + CMSIS-NN's C, 166 of make's 315 commands) in an empty "
            f"cache: {cold_s:.0f} s wall on this machine (2 cores, shared)."
        )
    lines.append(
        f"- `tinylarge profile MODEL --device all --json` on a model never run, TFLM already "
        f"built (4 QEMU cores x TFLM + generated C): {cli_s:.1f} s wall."
    )
    slow = reference_not_slower(rows)
    lines.append(
        "- TFLM reference kernels slower than CMSIS-NN on every model and core run: "
        + ("yes." if not slow else f"NO ({', '.join(slow)}).")
    )
    lines.append(
        "- Stored calibration (`tinylarge/tiny/mcu/calibration.yaml`) "
        + (
            "matches this run."
            if stored_ok
            else "DIFFERS from this run (rerun with --write-calibration)."
        )
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    with tempfile.TemporaryDirectory(prefix="bench_mcu_") as tmp:
        students = [] if quick else [(k, v) for k, v, _ in student_models(Path(tmp))]
        models = MLPERF + TF_CONVERTER + students
        rows = measure_all(models)
        instr, models_fit, loo_instr = calibration(rows)
        if "--write-calibration" in argv:
            meta = {"models": [r["path"].name for r in rows], "inputs": f"{N_INPUTS} seeded"}
            costmodel.dump_calibration(instr, models_fit, meta)
        stored = costmodel.load_calibration()
        stored_ok = all(stored.instructions.get(k) == v for k, v in instr.items())
        cli_s = profile_cli_s(rows[-1]["path"])
    cold_s = None if quick else cold_build_s()
    body = render(rows, instr, models_fit, loo_instr, cold_s, cli_s, stored_ok)
    write_section("mcu", body)
    print(body)
    exact = all(e for r in rows for _, e in r["tflm"].values())
    ok = exact and cli_s < 60 and stored_ok and not reference_not_slower(rows)
    print("targets met" if ok else "TARGETS MISSED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
