"""Issue 6 (offloading half): cascade, early exit and split computing on the mnist5k demo models.

- Cascade: the int8 student (run in TFLM) + the teacher; threshold calibrated on half the test set
  for accuracy within 0.2 points of the teacher, everything reported on the other half, repeated
  over five seeded calibration/evaluation splits (mean, 95 % interval and paired test corrected
  for the overlap of the splits, Nadeau & Bengio 2003); device energy per inference vs sending
  every input up, on each link of the catalog.
- Early exit: a side exit after block k of the student, int8 graphs in TFLM, the same calibration.
- Split: every cut of the teacher (device part as real int8 TFLite on STM32H7A3, tail on a Jetson
  Orin Nano), the chosen cut per link vs all-on-device / all-on-server, optimiser vs brute force.

Models come from the artifact cache with the demo's presets (trained on first use).
Usage: ``.venv/bin/python benchmarks/bench_offload.py``; writes the ``offload`` section.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

from tinylarge.data import load_dataset  # noqa: E402
from tinylarge.integrate.calibration import GateCalibration  # noqa: E402
from tinylarge.integrate.cascade import (  # noqa: E402
    CascadeConfig,
    cascade_inputs,
    cascade_result,
    run_cascade,
)
from tinylarge.integrate.early_exit import EarlyExitConfig, run_early_exit  # noqa: E402
from tinylarge.integrate.split import SplitConfig  # noqa: E402
from tinylarge.models import (  # noqa: E402
    default_student_spec,
    default_teacher_spec,
    load_checkpoint,
    save_checkpoint,
)
from tinylarge.tiny.gates import Gate  # noqa: E402
from tinylarge.tiny.quantize import quantize_and_evaluate  # noqa: E402
from tinylarge.train import ArtifactCache, default_train_config  # noqa: E402
from tinylarge.train.stats import format_ci  # noqa: E402


def trained(ds, spec, role: str, work: Path, name: str) -> Path:
    """The demo's preset model (from the artifact cache), saved as a checkpoint in ``work``."""
    cfg = default_train_config(ds.info, role, seed=0)
    model, _ = ArtifactCache().cached_fit(spec, ds, cfg, progress=False, name=name)
    meta = {
        "dataset": ds.info.name,
        "input_shape": list(ds.info.input_shape),
        "n_classes": ds.info.n_classes,
        "split_seed": ds.seed,
    }
    return save_checkpoint(work / f"{name}.pt", model.eval(), spec, meta)


def points(d: dict) -> str:
    return f"{format_ci(d, unit=' points')} (p = {d['p_value']:.2g})"


def cascade_section(ds, teacher: Path, student: Path, work: Path) -> str:
    model = load_checkpoint(student).model
    q = quantize_and_evaluate(
        model, ds.x_train, ds.y_train, ds.x_test, ds.y_test, work / "student.tflite"
    )
    r = run_cascade(
        CascadeConfig(teacher=teacher, student=q.tflite_path, max_accuracy_drop=0.002), dataset=ds
    )
    small, big, _ = cascade_inputs(q.tflite_path, load_checkpoint(teacher).model, ds)
    gates = []
    for gate in Gate:
        g = cascade_result(
            small, big, ds.y_test, GateCalibration(gate=gate, max_accuracy_drop=0.002)
        ).summary
        gates.append(
            f"| {gate} | {format_ci(g['accuracy'])} | {points(g['vs_teacher'])} "
            f"| {format_ci(g['offload_fraction'])} |"
        )
    gate_rows = "\n".join(gates)
    s = r.summary
    gap = 100 * (r.accuracy - r.big_accuracy)
    rows = "\n".join(
        f"| {e['link']} | {1e3 * e['cascade_energy_j']:.4f} | {1e3 * e['all_offload_energy_j']:.4f}"
        f" | {100 * e['saving']:.1f}% | {1e3 * e['cascade_latency_s']:.1f}"
        f" | {1e3 * e['all_offload_latency_s']:.1f} |"
        for e in r.energy
    )
    return f"""### Cascade (max-prob gate, int8 student in TFLM on nRF52840 + teacher)

Over {s["n_splits"]} seeded calibration/evaluation splits of the mnist5k test set ({r.n_calibration}
to calibrate, {r.n_eval} to evaluate; mean and 95% interval, corrected resampled t):
**cascade {format_ci(s["accuracy"])}, vs the teacher alone {points(s["vs_teacher"])} (goal: at most
0.2 below), offloading {format_ci(s["offload_fraction"])} of inputs (goal <= 15%)**; vs the
student alone {points(s["vs_student"])}. The deployable threshold (first split,
{r.threshold:.4f}): student alone {100 * r.small_accuracy:.2f}%, teacher alone
{100 * r.big_accuracy:.2f}%, cascade {100 * r.accuracy:.2f}% ({gap:+.2f} points) offloading
{100 * r.offload_fraction:.1f}%; the energy table below is at that point.

Device energy and latency per inference, cascade vs sending every int8 input up (radio at the
link's transmit power, sleep power while waiting; sensing not counted):

| link | cascade (mJ) | all-offload (mJ) | energy saving | cascade (ms) | all-offload (ms) |
|---|---:|---:|---:|---:|---:|
{rows}

Every gate calibrated the same way (same splits, same target):

| gate | held-out accuracy | vs teacher | offloaded |
|---|---:|---:|---:|
{gate_rows}

Where the saving is negative, sending the int8 input over that link costs the nRF52840 less
than its own int8 inference: there the device should offload everything (what `tinylarge split`
chooses, below), and the table says so rather than hiding it.
"""


HEADER = (
    "| k | side exit | exits early | accuracy | final exit | vs final exit | ms (exit/none) "
    "| mJ (exit/none) | energy saved |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def early_exit_section(ds, student: Path, work: Path) -> str:
    rows = []
    for k in range(1, len(load_checkpoint(student).model.blocks)):
        config = EarlyExitConfig(model=student, exit_after=k)
        r = run_early_exit(config, dataset=ds, out_dir=work / f"exit{k}")
        s = r.summary
        rows.append(
            f"| {k} | {100 * r.small_accuracy:.2f}% | {100 * r.exit_fraction:.1f}% "
            f"| {format_ci(s['accuracy'])} | {100 * r.big_accuracy:.2f}% "
            f"| {points(s['vs_final_exit'])} "
            f"| {1e3 * r.latency_s:.2f} / {1e3 * r.full_latency_s:.2f} "
            f"| {1e3 * r.energy_j:.4f} / {1e3 * r.full_energy_j:.4f} "
            f"| {format_ci(s['energy_saving'])} |"
        )
    table = "\n".join(rows)
    return f"""### Early exit (side exit after block k of the student; three int8 graphs in TFLM)

The exit head trains through `tinylarge.train.fit` on the frozen blocks; the gate is calibrated as
the cascade's, to stay within 0.2 points of the final exit, over five seeded calibration/evaluation
splits of the test set (mean and 95% interval, corrected resampled t). Side exit, exits early,
final exit, ms and mJ are at the deployable threshold (first split), device costs on the nRF52840
with the early exit / without it (the whole network every time).

{HEADER}
{table}
"""


def _all_device(ch, key: str) -> str:
    value = getattr(ch, "all_device_" + key)
    return "does not fit" if value is None else f"{1e3 * value:.3f}"


def _split_tables(results: dict) -> str:
    """Cut costs once, then the best cut per link for each objective (``results[objective]``)."""
    r = results["latency"]
    cuts = "\n".join(
        f"| {c.cut} | {1e3 * c.device_latency_s:.2f} | {1e3 * c.device_energy_j:.3f} "
        f"| {c.sent_bytes:,} | {1e3 * c.server_latency_s:.3f} "
        f"| {'yes' if c.fits else 'no: ' + '; '.join(c.reasons)} "
        f"| {'-' if c.accuracy is None else f'{100 * c.accuracy:.1f}%'} |"
        for c in r.cuts
    )
    out = f"""| cut | device (ms) | device (mJ) | sent (B) | server (ms) | fits | accuracy |
|---|---:|---:|---:|---:|---|---:|
{cuts}
"""
    for objective, unit, key in (("latency", "ms", "latency_s"), ("energy", "mJ", "energy_j")):
        rows = "\n".join(
            f"| {ch.link} | {ch.rate_bps:,.0f} | {ch.best_cut} | {1e3 * getattr(ch, key):.3f} "
            f"| {_all_device(ch, key)} "
            f"| {1e3 * getattr(ch, 'all_server_' + key):.3f} | {ch.brute_force_cut} |"
            for ch in results[objective].choices
        )
        sweep = ", ".join(
            f"cut {s['cut']} from {s['from_rate_bps']:,.0f} b/s" for s in r.sweep[objective]
        )
        out += f"""
Best cut per link, minimising {"end-to-end latency" if objective == "latency" else "device energy"}
({unit}):

| link | uplink (b/s) | best cut | best | all on device | all on server | brute force |
|---|---:|---:|---:|---:|---:|---:|
{rows}

Rate sweep ({objective}; 5G NR round trip and radio power): {sweep}.
"""
    return out


def split_section(ds, path: Path, title: str, work: Path) -> str:
    from tinylarge.integrate.split import Objective, profile_cuts, reprofile, split_result

    body = ""
    net = load_checkpoint(path).model
    base = SplitConfig(model=path, device="stm32h7a3", n_eval=300)
    cuts = profile_cuts(net, ds, base, work / type(net).__name__ / str(len(net.blocks)))
    all_match = True
    for device in ("stm32h7a3", "nrf52840"):
        dev_cuts = cuts if device == base.device else reprofile(cuts, device)
        results = {
            str(obj): split_result(
                dev_cuts,
                len(net.blocks),
                base.model_copy(update={"device": device, "objective": obj}),
            )
            for obj in Objective
        }
        all_match &= all(v.optimiser_matches_brute_force for v in results.values())
        body += f"""
#### {device} -> {base.server}

{_split_tables(results)}"""
    return f"""### Split computing: {title} ({len(net.blocks)} blocks + head)

Every cut: the device part is a real int8 TFLite profiled on the device (measured TFLM arena),
the tail runs in float on the server's cost model; the accuracy column is the split pipeline
itself (int8 device part -> dequantized activation -> float tail) on 300 test samples. Cut 0
sends the int8 input; the last cut runs everything on the device and sends nothing.
{body}
Optimiser (lower envelope over 1/rate) equals brute force on every link, device and objective:
**{all_match}**.
"""


def main() -> None:
    ds = load_dataset("mnist5k", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        teacher = trained(ds, default_teacher_spec(ds.info), "teacher", work, "teacher")
        student = trained(ds, default_student_spec(ds.info), "student", work, "student")
        # the split-able net: the teacher's size and recipe with a 3-channel bottleneck (7x7x3)
        spec = default_teacher_spec(ds.info).model_copy(update={"name": "splitnet2d"})
        net = trained(ds, spec, "teacher", work, "splitnet")
        from tinylarge.train import evaluate

        net_acc = evaluate(load_checkpoint(net).model, ds.x_test, ds.y_test)
        body = "## TinyML -> LargeML offloading (issues 6, 9)\n\n"
        body += cascade_section(ds, teacher, student, work) + "\n"
        body += early_exit_section(ds, student, work) + "\n"
        body += split_section(ds, teacher, "the teacher (resnet2d)", work) + "\n"
        body += split_section(
            ds,
            net,
            f"splitnet2d (bottleneck after block 2; float accuracy {100 * net_acc:.2f}%)",
            work,
        )
    write_section("offload", body)
    print(body)


if __name__ == "__main__":
    main()
