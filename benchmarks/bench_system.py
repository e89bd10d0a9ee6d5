"""Issue 16: the whole system, `tinylarge demo` = the closed loop on the smart-camera scenario.

Goals: first run (empty cache) <= 6 min and a cached re-run <= 60 s on this 2-core machine; the
fleet's accuracy after the drift back within 1 point of its pre-drift accuracy within the
scenario's duration. Runs the real console script in a temporary folder with a fresh cache (the
first run trains everything), then re-runs it cached ``N_CACHED`` times (median, min-max). Wall
time depends on what else the shared machine runs: the child processes' CPU time and the load
average are reported beside it. Keeps a headless-Chromium screenshot of the report.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

TINYLARGE = Path(sys.executable).parent / "tinylarge"
HERE = Path(__file__).resolve().parent
N_CACHED = int(os.environ.get("TL_BENCH_SYSTEM_CACHED", "3"))


def timed_demo(cwd: Path) -> tuple[float, float, float, dict]:
    """(wall s, child CPU s, load average before, JSON) of one `tinylarge demo --json`."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(TINYLARGE), "demo", "--json", "--cache-dir", "cache", "--runs-dir", "runs"],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load, json.loads(out.stdout)


def main() -> None:
    from tinylarge.scenario.browser import screenshot

    with tempfile.TemporaryDirectory() as tmp:
        first = timed_demo(Path(tmp))
        cached = [timed_demo(Path(tmp)) for _ in range(N_CACHED)]
        m = first[3]
        report = Path(tmp) / m["report"]
        shot = screenshot(report, HERE / "system_report.png", height=4200)
    assert all(c[3]["teacher"]["cached"] for c in cached)
    assert all(c[3]["accuracy_over_time"] == m["accuracy_over_time"] for c in cached)
    loop = m["loop"]
    walls = [c[0] for c in cached]
    cached_cpu = median(c[1] for c in cached)
    gap = 100 * (loop["pre_drift_accuracy"] - loop["final_accuracy"])
    met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    pre, final = loop["pre_drift_accuracy"], loop["final_accuracy"]
    worst = loop["worst_after_drift_accuracy"]
    w = m["scenario"]["loop"]["recover_window_ticks"]
    first_row = (
        f"| first (empty cache) | {first[0]:.1f} s | {first[1]:.1f} s | {first[2]:.2f} "
        f"| <= 360 s | {met(first[0] <= 360)} |"
    )
    cached_row = (
        f"| cached re-run, median of {N_CACHED} (min-max) | {median(walls):.1f} s "
        f"({min(walls):.1f}-{max(walls):.1f}) | {median(c[1] for c in cached):.1f} s "
        f"| {median(c[2] for c in cached):.2f} | <= 60 s | {met(median(walls) <= 60)} |"
    )
    recovery_row = (
        f"| {100 * pre:.2f}% | {100 * worst:.2f}% | {100 * final:.2f}% | {gap:.2f} points "
        f"| <= 1 point | {met(loop['drift_recovered'])} |"
    )
    int8 = {v: "-" if r["int8_accuracy"] is None else f"{100 * r['int8_accuracy']:.2f}%"
            for v, r in loop["versions"].items()}  # fmt: skip
    versions = "\n".join(
        f"| v{v} | {r['source']} | {int8[v]} |" for v, r in loop["versions"].items()
    )
    events = "\n".join(
        f"| {e['tick']} | {e['event']} | v{e['version']} | {e.get('reason') or ''} |"
        for e in loop["events"] if "device" not in e
    )  # fmt: skip
    curve = " ".join(f"{100 * a:.1f}" for a in loop["accuracy_over_time"])
    body = f"""## The whole system: `tinylarge demo` (issue 16)

`tinylarge demo` runs the smart-camera scenario: train (teacher, student), deploy (int8 in TFLM,
catalog profile, C checked bit-exact on the host), cascade calibration, then the closed loop:
{loop["n_devices"]} devices x {len(loop["ticks"])} simulated hours, sensor noise on half of them
from hour {m["scenario"]["drift"]["at_tick"]}, re-distillation on teacher-labelled offloads, signed
bundles, canary-then-all rollouts, and `report.html`. Run: `python benchmarks/bench_system.py`.

| run | wall time | CPU time (children) | load average before | goal | |
|---|---:|---:|---:|---:|---|
{first_row}
{cached_row}

Wall time is what this run got from a machine shared with other jobs (see the load average);
the CPU time its processes used is what the work costs. With a core to itself a run takes about
its CPU time plus I/O (estimate, not measured): {first[1]:.0f} s first, {cached_cpu:.0f} s cached.

First-run stage times (s): {", ".join(f"{k} {v}" for k, v in m["timings_s"].items())}.

### Drift and recovery (fleet accuracy on the held-out evaluation half)

| pre-drift (last {w} ticks) | worst after drift | final (last {w} ticks) | gap | goal | |
|---:|---:|---:|---:|---:|---|
{recovery_row}

Back within 1 point from tick {loop["recovered_at_tick"]} (and stayed). Fleet accuracy per tick (%):
{curve}

| model version | source | int8 accuracy (TFLM, clean test split) |
|---|---|---:|
{versions}

| tick | rollout event | version | detail |
|---|---|---|---|
{events}

Measured: device answers (int8 models run by LiteRT's reference kernels), teacher labels,
re-distillation, int8 conversion, Ed25519 signing and verification, slot/self-test/trial logic and
the rollout state machine. Modelled: time (ticks), per-request latency and energy (catalog cost
model for inference, links.yaml uplink presets for offloading, 5 ms LargeML inference), the drift
(Gaussian noise of 0.3 in normalised units, fresh per frame) and the labelled feedback devices
report. One seed (0): the loop is deterministic for a seed; other seeds were not run here.
Screenshot of the report (headless Chromium): `benchmarks/system_report.png`.
"""
    write_section("system", body)
    print(body)
    print(shot)


if __name__ == "__main__":
    main()
