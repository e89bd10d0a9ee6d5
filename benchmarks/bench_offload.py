"""Issue 6 (offloading half): cascade, early exit and split computing on the mnist5k demo models.

- Cascade: the int8 student (run in TFLM) + the teacher; threshold calibrated on half the test set
  for accuracy within 0.2 points of the teacher, everything reported on the other half; device
  energy per inference vs sending every input up, on each link of the catalog.
- Early exit: a side exit after block 2 of the student, int8 graphs in TFLM.
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
from tinylarge.integrate.cascade import CascadeConfig, cascade_inputs, run_cascade  # noqa: E402
from tinylarge.integrate.early_exit import EarlyExitConfig, run_early_exit  # noqa: E402
from tinylarge.integrate.gates import Gate  # noqa: E402
from tinylarge.integrate.split_profile import SplitConfig  # noqa: E402
from tinylarge.models import default_student_spec, default_teacher_spec  # noqa: E402
from tinylarge.tiny.quantize import quantize_and_evaluate  # noqa: E402
from tinylarge.train import ArtifactCache, default_train_config  # noqa: E402


def models(ds):
    cache = ArtifactCache()
    out = {}
    for role, spec in (("teacher", default_teacher_spec), ("student", default_student_spec)):
        cfg = default_train_config(ds.info, role, seed=0)
        out[role], _ = cache.cached_fit(spec(ds.info), ds, cfg, progress=False, name=role)
    return out["teacher"].eval(), out["student"].eval()


def cascade_section(ds, teacher, student, work: Path) -> str:
    q = quantize_and_evaluate(
        student, ds.x_train, ds.y_train, ds.x_test, ds.y_test, work / "student.tflite"
    )
    small, big, cost = cascade_inputs(q.tflite_path, teacher, ds)
    r = run_cascade(small, big, ds.y_test, CascadeConfig(max_accuracy_drop=0.002), cost)
    gates = []
    for gate in Gate:
        g = run_cascade(small, big, ds.y_test, CascadeConfig(gate=gate, max_accuracy_drop=0.002))
        gates.append(f"| {gate} | {100 * g.accuracy:.2f}% | {100 * g.offload_fraction:.1f}% |")
    gate_rows = "\n".join(gates)
    gap = 100 * (r.accuracy - r.big_accuracy)
    rows = "\n".join(
        f"| {e['link']} | {1e3 * e['cascade_energy_j']:.4f} | {1e3 * e['all_offload_energy_j']:.4f}"
        f" | {100 * e['saving']:.1f}% | {1e3 * e['cascade_latency_s']:.1f}"
        f" | {1e3 * e['all_offload_latency_s']:.1f} |"
        for e in r.energy
    )
    return f"""### Cascade (max-prob gate, int8 student in TFLM on nRF52840 + teacher)

Held-out half of the mnist5k test set (n={r.n_eval}; threshold calibrated on the other
{r.n_calibration}): student alone {100 * r.small_accuracy:.2f}%, teacher alone
{100 * r.big_accuracy:.2f}%, **cascade {100 * r.accuracy:.2f}% ({gap:+.2f} points vs the
teacher; goal: at most 0.2 below) offloading {100 * r.offload_fraction:.1f}% of inputs
(goal <= 15%)**.

Device energy and latency per inference, cascade vs sending every int8 input up (radio at the
link's transmit power, sleep power while waiting; sensing not counted):

| link | cascade (mJ) | all-offload (mJ) | energy saving | cascade (ms) | all-offload (ms) |
|---|---:|---:|---:|---:|---:|
{rows}

Every gate calibrated the same way (same halves, same target):

| gate | held-out accuracy | offloaded |
|---|---:|---:|
{gate_rows}

Where the saving is negative, sending the int8 input over that link costs the nRF52840 less
than its own int8 inference: there the device should offload everything (what `tinylarge split`
chooses, below), and the table says so rather than hiding it.
"""


def early_exit_section(ds, student, work: Path) -> str:
    rows = []
    for k in range(1, len(student.blocks)):
        r = run_early_exit(student, ds, EarlyExitConfig(exit_after=k), work / f"exit{k}")
        rows.append(
            f"| {k} | {100 * r.exit_accuracy:.2f}% | {100 * r.exit_fraction:.1f}% "
            f"| {100 * r.accuracy:.2f}% | {100 * r.final_accuracy:.2f}% "
            f"| {1e3 * r.latency_s:.2f} / {1e3 * r.full_latency_s:.2f} "
            f"| {1e3 * r.energy_j:.4f} / {1e3 * r.full_energy_j:.4f} "
            f"| {100 * r.energy_saving:.1f}% |"
        )
    table = "\n".join(rows)
    return f"""### Early exit (side exit after block k of the student; three int8 graphs in TFLM)

Threshold calibrated on half the test set to stay within 0.2 points of the final exit; numbers on
the other half; device costs on the nRF52840, with the early exit / without it (the whole
network every time).

| k | side exit | exits early | accuracy | final exit | ms (exit/none) | mJ (exit/none) | saved |
|---|---:|---:|---:|---:|---:|---:|---:|
{table}
"""


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
    for objective, unit, scale in (("latency", "ms", 1e3), ("energy", "mJ", 1e3)):
        rows = "\n".join(
            f"| {ch.link} | {ch.rate_bps:,.0f} | {ch.best_cut} | {scale * ch.value:.3f} "
            f"| {'does not fit' if ch.all_device is None else f'{scale * ch.all_device:.3f}'} "
            f"| {scale * ch.all_server:.3f} | {ch.brute_force_cut} |"
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


def split_section(ds, net, title: str, work: Path) -> str:
    from tinylarge.integrate.split import Objective
    from tinylarge.integrate.split_profile import profile_cuts, reprofile, split_result

    body = ""
    base = SplitConfig(device="stm32h7a3", n_eval=300)
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


def splitnet(ds):
    """The split-able net: the teacher's size and recipe with a 3-channel bottleneck (7x7x3)."""
    spec = default_teacher_spec(ds.info).model_copy(update={"name": "splitnet2d"})
    cfg = default_train_config(ds.info, "teacher", seed=0)
    net, result = ArtifactCache().cached_fit(spec, ds, cfg, progress=False, name="splitnet")
    return net.eval(), result.test_accuracy


def main() -> None:
    ds = load_dataset("mnist5k", seed=0)
    teacher, student = models(ds)
    net, net_acc = splitnet(ds)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        body = "## TinyML -> LargeML offloading (issue 6)\n\n"
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
