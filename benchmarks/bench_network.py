"""Issue 13: 6G network and orchestration. Writes the ``network`` section of BENCHMARKS.md.

1. Path loss: ``tinylarge.net.pathloss_db`` against the TR 38.901 Table 7.4.1-1 formulas at
   tabulated points, for every scenario, LOS and NLOS. References: (a) an independent scalar
   re-implementation written from the spec with ``math`` (``tests/net/test_pathloss.py::ref_pl``),
   (b) NVIDIA Sionna 2.2's TR 38.901 scenarios (PyTorch, float64, shadow fading off).
2. Scale: 100,000 devices x 10 simulated minutes (``city-100k``), one request per device every
   10 s on average; then cost against fleet size (1k, 10k, 100k on one process; 1M on Ray
   workers), and 1 vs 2 Ray workers on the same seed (metrics must be equal).
3. Policies: the joint optimiser against every other policy in four regimes (light/heavy load x
   good/poor channel), objective mean and 95 % interval over test seeds. Tunable parameters (the
   drift-plus-penalty's V, the joint optimiser's rho_max) are chosen on separate validation seeds
   by the lowest mean objective, the same procedure for both; nothing else is tuned. The policies
   were developed on short runs of seed 0; the test seeds (10-14) were not looked at before.

The machine is shared: the 1-minute load average is recorded around every timed run.
Usage: ``.venv/bin/python benchmarks/bench_network.py [--quick]``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402

from tinylarge.net import pathloss_db, scenario_model  # noqa: E402
from tinylarge.net.sionna_check import SIONNA_SCENARIOS, sionna_pathloss_db  # noqa: E402
from tinylarge.orchestrate.config import load_bundled  # noqa: E402
from tinylarge.orchestrate.policies import policy_names  # noqa: E402
from tinylarge.orchestrate.run import simulate  # noqa: E402
from tinylarge.orchestrate.workload import load_workload  # noqa: E402

QUICK = "--quick" in sys.argv
POLICIES = policy_names()
GRIDS = {
    "drift-plus-penalty": ("v", [1.0, 10.0, 100.0, 1000.0]),
    "joint": ("rho_max", [0.6, 0.8, 1.0]),
}
VALIDATION_SEEDS = [100, 101]
# seed 0 was used while developing the policies: the test seeds are fresh ones
TEST_SEEDS = [10, 11, 12] if QUICK else [10, 11, 12, 13, 14]
HEADER = (
    "| policy | objective (mean ± 95 %) | joint minus this (paired, 95 %) | mJ/inference "
    "| accuracy % | SLA miss % | p95 ms | edge util % | sent % (edge + cloud) |"
)
T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571}  # Student t, two-sided 95 %, by n


def load() -> float:
    return os.getloadavg()[0]


def ci95(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), T95[len(v)] * float(v.std(ddof=1)) / math.sqrt(len(v))


# ---------------------------------------------------------------- 1. path loss
def pathloss_section() -> str:
    spec = importlib.util.spec_from_file_location(
        "ref38901", HERE.parent / "tests" / "net" / "test_pathloss.py"
    )
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    rows = []
    for scenario in ref.ALL:
        m = scenario_model(scenario)
        for los in (True, False):
            pts = list(ref.points(scenario))
            d3 = np.array([p[1] for p in pts])
            fc = np.array([p[2] for p in pts])
            ours = pathloss_db(scenario, d3, fc, los)
            want = np.array(
                [
                    ref.ref_pl(scenario, p[1], p[2], los, m.h_bs_default_m, m.h_ut_default_m)
                    for p in pts
                ]
            )
            err_ref = float(np.max(np.abs(ours - want)))
            if scenario in SIONNA_SCENARIOS:
                errs = []
                for f in sorted(set(fc.tolist())):
                    sel = fc == f
                    d2 = np.array([p[0] for p in pts])[sel]
                    theirs = sionna_pathloss_db(
                        scenario, d2, f, los, m.h_bs_default_m, m.h_ut_default_m
                    )
                    errs.append(np.max(np.abs(ours[sel] - theirs)))
                sionna = f"{max(errs):.1e}"
            else:
                sionna = "n/a (no Sionna model above 100 GHz)"
            rows.append(
                f"| {scenario} | {'LOS' if los else 'NLOS'} | {len(pts)} | "
                f"{m.fc_range_ghz[0]:g}-{m.fc_range_ghz[1]:g} | {float(ours.min()):.1f}-"
                f"{float(ours.max()):.1f} | {err_ref:.1e} | {sionna} |"
            )
    return f"""### Path loss: `tinylarge.net.pathloss_db` vs TR 38.901 Table 7.4.1-1

Tabulated points per scenario: 2D distances 10-4,900 m outdoors (1-140 m indoors, InH/InF) on both
sides of every breakpoint, carriers 0.8-70 GHz (RMa 0.7-28 GHz, the close-in models also 140 GHz),
default heights (UMi 10 m, UMa 25 m, RMa 35 m, InH 3 m, InF-SL/DL 1.5 m, InF-SH/DH 8 m; UT 1-1.5 m).
Reference (a): the spec's formulas re-implemented point by point with `math` in the test suite
(`tests/net/test_pathloss.py::ref_pl`, hand-checked at three points); reference (b): NVIDIA Sionna
2.2 (`sionna-no-rt`, PyTorch, float64) `basic_pathloss` at the same geometry with the LOS state
forced. Max |difference| in dB:

| scenario | state | points | validity (GHz) | path loss range (dB) | vs spec formulas | vs Sionna |
|---|---|---:|---|---|---:|---:|
{chr(10).join(rows)}

`inf` is an alias of InF-DH. The close-in `ci-umi`/`ci-inh` models are TR 38.901's own close-in
forms (UMi PL1 and the optional NLOS models) extended past 100 GHz on Xing & Rappaport's (2021)
measurement that 1-m-referenced exponents hold to 142 GHz; there is no standard to compare with.
"""


# ---------------------------------------------------------------- 2. scale
def run_timed(scenario, workload, workers=1, policies=None):
    before = load()
    r = simulate(scenario, workload, workers=workers, policies=policies)
    return r, before, load()


def scale_section(workload) -> str:
    sc = load_bundled("city-100k")
    if QUICK:
        sc = sc.with_overrides(duration_s=60.0)
    r, l0, l1 = run_timed(sc, workload, policies=["joint"])
    parts = r.shard_wall_s[0]
    joint = r.policy_summary("joint")
    rate = r.n_requests / r.wall_s
    head = f"""### Scale: {sc.devices.n:,} devices x {sc.duration_s / 60:g} simulated minutes

`city-100k`: 5G FR1 UMa, 400 m between sites, 25 regions of 4 cells, Poisson arrivals every 10 s per
device, policy `joint` (the most expensive one). **{r.n_requests:,} requests in {r.wall_s:.1f} s
wall on one process = {rate:,.0f} requests/s** (goal: <= 60 s, >= 100,000 requests/s); 1-minute
load average {l0:.1f} before, {l1:.1f} after (2 cores shared with other builds). Each request gets a
channel draw (path loss, LOS, shadowing, Rician/Rayleigh fading, both directions), a policy
decision (expected cost of 11 actions, capacity pricing, deadline-aware shares) and queueing (exact
FIFO at its edge server, fluid uplink backlog). Where the time goes: setup (placement, all
arrivals) {parts["setup"]:.1f} s, channel {parts["channel"]:.1f} s, policy {parts["policy"]:.1f} s,
queues {parts["queues"]:.1f} s, metrics {parts["metrics"]:.1f} s (the remainder: loading the cached
workload, merging). Result: p50/p95/p99 latency {1e3 * joint["latency_s"]["p50"]:.1f} /
{1e3 * joint["latency_s"]["p95"]:.1f} / {1e3 * joint["latency_s"]["p99"]:.1f} ms, device energy
{1e3 * joint["energy_j_per_inference"]:.2f} mJ per inference,
accuracy {100 * joint["accuracy"]:.2f} %,
SLA (100 ms) violations {100 * joint["sla_violation_rate"]:.2f} %, edge utilisation
{100 * joint["edge_utilisation"]:.1f} %.
"""
    rows = []
    sizes = [1_000, 10_000, 100_000] if QUICK else [1_000, 10_000, 100_000]
    base = sc.with_overrides(duration_s=60.0)
    for n in sizes:
        s = base.with_overrides(**{"devices.n": n})
        rr, a, b = run_timed(s, workload, policies=["joint"])
        p = rr.shard_wall_s[0]
        dominant = max(("channel", "policy", "queues", "metrics", "setup"), key=lambda k: p[k])
        rows.append(
            f"| {n:,} | 1 | {rr.n_requests:,} | {rr.wall_s:.2f} | {rr.n_requests / rr.wall_s:,.0f}"
            f" | {1e6 * (p['total'] - p['setup']) / rr.n_requests:.1f} | {p['setup']:.2f} / "
            f"{p['channel']:.2f} / {p['policy']:.2f} / {p['queues']:.2f} / "
            f"{p['metrics']:.2f} | {dominant} | {a:.1f} / {b:.1f} |"
        )
    big = 200_000 if QUICK else 1_000_000
    s = base.with_overrides(**{"devices.n": big})
    rr, a, b = run_timed(s, workload, workers=2, policies=["joint"])
    worst = max(rr.shard_wall_s, key=lambda w: w["total"])
    dominant = max(("channel", "policy", "queues", "metrics", "setup"), key=lambda k: worst[k])
    loop_s = sum(w["total"] - w["setup"] for w in rr.shard_wall_s)
    rows.append(
        f"| {big:,} | 2 (Ray) | {rr.n_requests:,} | {rr.wall_s:.2f} | "
        f"{rr.n_requests / rr.wall_s:,.0f} | {1e6 * loop_s / rr.n_requests:.1f}"
        f" | {worst['setup']:.2f} / {worst['channel']:.2f} / {worst['policy']:.2f} / "
        f"{worst['queues']:.2f} / {worst['metrics']:.2f} (slowest shard) | {dominant} | "
        f"{a:.1f} / {b:.1f} |"
    )
    eq = base.with_overrides(**{"devices.n": 20_000}, policies=["cascade-threshold", "joint"])
    one, a1, b1 = run_timed(eq, workload, workers=1)
    two, a2, b2 = run_timed(eq, workload, workers=2)
    same = one.to_dict(series=True)["policies"] == two.to_dict(series=True)["policies"]
    return (
        head
        + f"""
Cost against fleet size (60 simulated seconds each, same scenario otherwise; seconds per part of
the simulation: setup / channel / policy / queues / metrics; "loop µs/request" is the slot loop's
CPU time per request, summed over workers). Small fleets pay a fixed cost per slot (600 slots of
numpy calls) and the process's start-up; from ~100,000 devices on the loop's cost per request is
flat, i.e. the simulation is linear in requests:

| devices | workers | requests | wall (s) | requests/s | loop µs/req | parts (s) | dominant | load |
|---:|---|---:|---:|---:|---:|---|---|---|
{chr(10).join(rows)}

Ray (2 local workers, regions sharded in contiguous blocks) on 20,000 devices x 60 s, policies
`cascade-threshold` and `joint`: 1 worker {one.wall_s:.1f} s (load {a1:.1f}/{b1:.1f}), 2 workers
{two.wall_s:.1f} s (load {a2:.1f}/{b2:.1f}, Ray start-up included; on 2 shared cores the two workers
compete with each other and with the other builds). **Every reported metric of the 2-worker run
equals the 1-worker run: {same}** (random numbers are keyed by device/request/tile, not drawn in
order; sums are kept per region and merged in region order; percentiles come from integer
histograms).
"""
    )


# ---------------------------------------------------------------- 3. policies
def objective(sc, workload, policy, params, seed) -> float:
    s = sc.with_overrides(seed=seed, policies=[policy], policy_params={policy: params})
    return simulate(s, workload).policy_summary(policy)["objective"]


def tune(sc, workload) -> dict[str, dict[str, float]]:
    chosen = {}
    for policy, (param, grid) in GRIDS.items():
        scores = {
            value: np.mean(
                [objective(sc, workload, policy, {param: value}, s) for s in VALIDATION_SEEDS]
            )
            for value in grid
        }
        best = min(scores, key=scores.get)
        chosen[policy] = {param: best}
        print(f"  tuned {policy}: {param}={best} ({ {k: round(v, 3) for k, v in scores.items()} })")
    return chosen


def regime(name: str, workload) -> tuple[str, bool, dict]:
    sc = load_bundled(name)
    if QUICK:
        sc = sc.with_overrides(duration_s=20.0)
    params = tune(sc, workload)
    per_seed = {p: [] for p in POLICIES}
    details = {p: [] for p in POLICIES}
    for seed in TEST_SEEDS:
        r = simulate(
            sc.with_overrides(seed=seed, policies=POLICIES, policy_params=params), workload
        )
        for p in POLICIES:
            s = r.policy_summary(p)
            per_seed[p].append(s["objective"])
            details[p].append(s)
    joint = np.array(per_seed["joint"])
    rows, strict, signed = [], True, True
    for p in POLICIES:
        mean, half = ci95(per_seed[p])
        d = details[p]
        if p == "joint":
            diff = "-"
        else:
            delta = joint - np.array(per_seed[p])
            dm, dh = ci95(delta)
            diff = f"{dm:+.3f} ± {dh:.3f} ({int(np.sum(delta < 0))}/{len(delta)})"
            strict &= dm + dh < 0
            signed &= dm + dh < 0 or bool(np.all(delta < 0))
        rows.append(
            f"| {p} | **{mean:.3f} ± {half:.3f}** | {diff} | "
            f"{1e3 * np.mean([x['energy_j_per_inference'] for x in d]):.2f} | "
            f"{100 * np.mean([x['accuracy'] for x in d]):.2f} | "
            f"{100 * np.mean([x['sla_violation_rate'] for x in d]):.2f} | "
            f"{1e3 * np.mean([x['latency_s']['p95'] for x in d]):.1f} | "
            f"{100 * np.mean([x['edge_utilisation'] for x in d]):.1f} | "
            f"{100 * np.mean([x['offload_fraction_edge'] for x in d]):.1f} + "
            f"{100 * np.mean([x['offload_fraction_cloud'] for x in d]):.1f}"
            " |"
        )
    fills = max(x["max_edge_fill"] for x in details["joint"])
    n_req = details["joint"][0]["n_requests"]
    text = f"""#### {name}: {sc.devices.n:,} devices, {sc.duration_s:g} s, {n_req:,} requests/run

{sc.description.strip()}. Tuned on validation seeds {VALIDATION_SEEDS}: {params}.
Test seeds {TEST_SEEDS}.
Joint optimiser's largest (work backlog + admitted work) / slot: {fills:.3f} (must be <= 1).

{HEADER}
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Joint better than every other policy with the paired 95 % interval below 0: **{strict}**; with
that or lower on every test seed (sign test, one-sided p = {0.5 ** len(TEST_SEEDS):.3f}):
**{signed}**.
"""
    return text, (strict, signed), params


def policies_section(workload) -> str:
    sc = load_bundled("regime-light-good")
    obj = sc.objective
    out, wins = [], []
    for name in (
        "regime-light-good",
        "regime-light-poor",
        "regime-heavy-good",
        "regime-heavy-poor",
    ):
        t0, l0 = time.perf_counter(), load()
        text, won, _ = regime(name, workload)
        out.append(text + f"\n_{time.perf_counter() - t0:.0f} s, load {l0:.1f}/{load():.1f}._\n")
        wins.append((name, won))
    n_strict = sum(w[0] for _, w in wins)
    n_signed = sum(w[1] for _, w in wins)
    won_list = ", ".join(
        f"{n.removeprefix('regime-')}: {'yes' if w[0] else ('by sign test' if w[1] else 'no')}"
        for n, w in wins
    )
    return f"""### Policies: the joint optimiser against the others (goal: best in >= 3 of 4)

The objective, fixed in the scenario schema before any policy was tuned (lower is better), per
request: `energy_j / {obj.energy_scale_j:g} J + {obj.error_weight:g} x wrong
+ {obj.sla_weight:g} x (latency > SLA)`:
an error costs as much as 1 J of device energy, a late answer 100 mJ. Every policy runs on the same
arrivals, channels and samples (common random numbers); a regime's table is over test seeds; the
"joint minus this" column is the paired difference (negative: the joint optimiser is better).
Drift-plus-penalty and the joint optimiser use the same predictor of each action's expected cost.

A regime is won when the joint optimiser's objective is below every other policy's with the
paired 95 % interval of the difference below 0, or (a heavy-tailed baseline can make that
interval wide) when it is lower on every test seed. Regimes won: **{n_signed} of 4**
({won_list}); by the paired interval alone {n_strict} of 4. The parenthesis after each difference
counts the test seeds on which the joint optimiser was lower.

{chr(10).join(out)}"""


def main() -> None:
    t0 = time.perf_counter()
    workload = load_workload()
    body = "## 6G network and orchestration (issue 13)\n\n"
    body += pathloss_section() + "\n"
    print(body)
    body += scale_section(workload) + "\n"
    print(body)
    body += policies_section(workload) + "\n"
    w = workload.summary()
    body += f"""### Workload (what the simulator samples)

Measured once on real models and cached: the int8 student in TFLM
({100 * w["student_accuracy"]:.1f} % on the evaluation half), the teacher in torch on the int8 input
({100 * w["teacher_accuracy"]:.1f} %), every split cut of the teacher (int8 device part in TFLM +
torch tail): accuracy by cut {w["cut_accuracy"]}, bytes sent by cut {w["cut_sent_bytes"]}; the
cascade threshold {w["cascade_threshold"]:.3f} (calibrated
on the other half, `tinylarge cascade`'s rule). Device costs from the catalog profiler, server costs
from the catalog cost models. Modelled, not measured: radio powers, wake-up and tail energies (the
sources and assumptions are in `net/bands.yaml`), serving overhead (2 ms, consistent with the
service benchmark's ~550 requests/s on 2 cores).

_Whole benchmark: {time.perf_counter() - t0:.0f} s._
"""
    write_section("network", body)
    print(body)


if __name__ == "__main__":
    main()
