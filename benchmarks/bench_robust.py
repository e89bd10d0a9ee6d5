"""Issue 15 (learning half): robust aggregation under poisoning, and client-level DP. Writes the
``robust`` section of BENCHMARKS.md.

Setting (all measured; nothing modelled): mnist5k (its bundled 5,000 real MNIST digits, split
seed 0), a 784-64-10 MLP (no BatchNorm, so every array is a parameter the defences and DP see),
FedAvg-shaped rounds with every training client each round, local SGD (lr 0.05, momentum 0.9,
batch 32, one epoch; the framework's defaults, not tuned here). The server keeps 30 % of the
training data (stratified): FLTrust's 100-sample root set and the validation split come from it.
Runs use Flower's own ClientApp, Messages and strategies on an in-process grid (direct calls
instead of Ray or gRPC, so that ~150 runs fit in minutes; `tests/.../test_engines.py` runs the
real engines).

1. Robust aggregation: 20 clients, Dirichlet(0.3) label skew (the framework default), 4 of them
   (20 %, drawn per seed) poison. Attacks: sign-flip x10 (send ``w_g - 10 (w - w_g)``), label
   flipping (``9 - y``), a 3x3 white-corner backdoor to class 0 on half of an attacker's samples
   (attack success rate on triggered test images of other classes). Aggregators: FedAvg, Flower's
   Krum / MultiKrum (m = n - f) / Bulyan / FedMedian / FedTrimmedAvg (f = 4 given to the Krums
   and Bulyan), and FLTrust (ours). Clean accuracy = FedAvg without attackers on the same seeds.
2. DP-FedAvg: each client clips its update to L2 norm C, Flower's client-side fixed-clipping
   wrapper adds N(0, (z C / n)^2) to the unweighted mean, then a server momentum step on that noisy
   mean (post-processing); Opacus's RDP accountant gives epsilon at delta = 1e-5 over the rounds
   (full participation, no subsampling amplification claimed).

Hyper-parameters chosen on validation (the server's held-out share, seeds 100-101), never on
test: FedTrimmedAvg's cut beta in {0.1, 0.2, 0.3} by mean validation accuracy under the
sign-flip attack; DP-FedAvg's clip norm C x local epochs x server momentum (``DP_GRID``) by mean
validation accuracy at epsilon 8, and the non-private baseline's local epochs x server momentum
(``NP_GRID``) the same way.
Test numbers: mean and Student-t 95 % interval over the test seeds (0-4), and the paired
difference to the clean run per seed.

Usage: ``.venv/bin/python benchmarks/bench_robust.py [--quick] [--only dp]`` (~25 min on 2 busy
cores; ``--only dp`` reruns the DP half and keeps the poisoning half from BENCHMARKS.md). DP runs
go through ``TL_BENCH_WORKERS`` processes (default 3).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402

from tinylarge.integrate.federated.robust import RobustConfig, run_robust  # noqa: E402

QUICK = "--quick" in sys.argv
TEST_SEEDS = [0, 1, 2] if QUICK else [0, 1, 2, 3, 4]
EXTRA_SEEDS = [0, 1, 2]  # label flip and backdoor
VALIDATION_SEEDS = [100, 101]
ROUNDS = 10
AGGREGATORS = ["fedavg", "krum", "multikrum", "bulyan", "fedmedian", "fedtrimmedavg", "fltrust"]
BETAS = [0.1, 0.2, 0.3]
ROBUST = dict(dataset="mnist5k", n_clients=20, rounds=ROUNDS, partition="dirichlet:0.3")
ATTACK = dict(malicious_fraction=0.2, attack_scale=10.0)

DP_CLIENTS = int(os.environ.get("TL_DP_CLIENTS", "100"))
DP = dict(dataset="mnist5k", n_clients=DP_CLIENTS, rounds=ROUNDS, partition="iid", batch_size=16)
EPSILONS = [1.0, 2.0, 4.0, 8.0, 16.0]
# DP-FedAvg's knobs (McMahan et al. 2018): clip norm, local work per round, server momentum (on
# the noisy mean, post-processing). The non-private baseline is tuned over the same local epochs
# and server momentum (Flower's FedAvgM, server lr 1), so both sides get the same search.
DP_GRID = {"dp_clip": [0.3, 1.0, 3.0], "local_epochs": [1, 5], "server_momentum": [0.0, 0.9]}
NP_GRID = {"local_epochs": [1, 5], "server_momentum": [0.0, 0.9]}
ONLY_DP = "--only" in sys.argv and sys.argv[sys.argv.index("--only") + 1] == "dp"
WORKERS = int(os.environ.get("TL_BENCH_WORKERS", "3"))
DP_JSON = HERE / "out" / "robust_dp.json"
T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571}
LOG: list[str] = []
TABLE_A = (
    "| aggregator | clean | sign-flip x10 | sign-flip minus clean FedAvg | label flip "
    "| backdoor: accuracy | backdoor: attack success |\n|---|---|---|---|---|---|---|"
)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
    LOG.append(msg)


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and Student-t 95 % half-width over seeds."""
    v = np.asarray(values, float)
    half = T95[len(v)] * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(half)


def fmt(values: list[float], scale: float = 100.0) -> str:
    m, h = ci95(values)
    return f"{m * scale:.1f} ± {h * scale:.1f}"


def run(**kw: object) -> dict:
    t = time.perf_counter()
    r = run_robust(RobustConfig(**kw, engine="inprocess"))
    s = r.summary
    say(
        f"  {kw.get('strategy', 'fedavg')} attack={kw.get('attack', 'none')} seed={kw['seed']}"
        f" eps={kw.get('dp_epsilon')} clip={kw.get('dp_clip')} beta={kw.get('trim_beta')}:"
        f" acc {s['final_accuracy']:.3f} asr {s.get('attack_success_rate')}"
        f" ({time.perf_counter() - t:.1f} s)"
    )
    return s


def choose(grid: list[float], **kw: object) -> tuple[float, dict[float, float]]:
    """The value of ``grid`` (the config field named by ``kw["field"]``) with the best mean
    validation accuracy over the validation seeds."""
    field = kw.pop("field")
    scores = {
        v: float(
            np.mean(
                [
                    run(**kw, **{field: v}, seed=s, evaluate_on="validation")["final_accuracy"]
                    for s in VALIDATION_SEEDS
                ]
            )
        )
        for v in grid
    }
    return max(scores, key=scores.get), scores


def robust_part(beta: float) -> dict:
    out: dict = {"clean": {}, "sign-flip": {}, "label-flip": {}, "backdoor": {}, "asr": {}}
    for name in AGGREGATORS:
        kw = dict(**ROBUST, strategy=name, trim_beta=beta)
        out["clean"][name] = [run(**kw, seed=s)["final_accuracy"] for s in TEST_SEEDS]
        out["sign-flip"][name] = [
            run(**kw, **ATTACK, attack="sign-flip", seed=s)["final_accuracy"] for s in TEST_SEEDS
        ]
        out["label-flip"][name] = [
            run(**kw, **ATTACK, attack="label-flip", seed=s)["final_accuracy"] for s in EXTRA_SEEDS
        ]
        bd = [run(**kw, **ATTACK, attack="backdoor", seed=s) for s in EXTRA_SEEDS]
        out["backdoor"][name] = [b["final_accuracy"] for b in bd]
        out["asr"][name] = [b["attack_success_rate"] for b in bd]
    return out


def _run_kw(kw: dict) -> dict:
    return run(**kw)


def run_many(kws: list[dict]) -> list[dict]:
    """``run`` over ``kws`` in ``WORKERS`` processes (each run is single-threaded)."""
    if WORKERS <= 1:
        return [run(**kw) for kw in kws]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(WORKERS) as pool:
        return pool.map(_run_kw, kws, chunksize=1)


def grid_points(grid: dict[str, list]) -> list[dict]:
    import itertools

    return [dict(zip(grid, v, strict=True)) for v in itertools.product(*grid.values())]


def choose_grid(grid: dict[str, list], **kw: object) -> tuple[dict, list[tuple[dict, float]]]:
    """The point of ``grid`` with the best mean validation accuracy over the validation seeds
    (all points x seeds run in parallel)."""
    points = grid_points(grid)
    kws = [
        {**kw, **p, "seed": s, "evaluate_on": "validation"}
        for p in points
        for s in VALIDATION_SEEDS
    ]
    accs = [r["final_accuracy"] for r in run_many(kws)]
    k = len(VALIDATION_SEEDS)
    scores = [(p, float(np.mean(accs[i * k : (i + 1) * k]))) for i, p in enumerate(points)]
    return max(scores, key=lambda t: t[1])[0], scores


def dp_part(dp_best: dict, np_best: dict) -> dict:
    seeds = EXTRA_SEEDS
    kws = [{**DP, **np_best, "strategy": "fedavgm", "seed": s} for s in seeds] + [
        {**DP, **dp_best, "strategy": "dp-fedavg", "dp_epsilon": eps, "seed": s}
        for eps in EPSILONS
        for s in seeds
    ]
    rows = run_many(kws)
    k = len(seeds)
    out: dict = {"nonprivate": [r["final_accuracy"] for r in rows[:k]]}
    for i, eps in enumerate(EPSILONS):
        part = rows[k * (i + 1) : k * (i + 2)]
        out[eps] = {
            "acc": [r["final_accuracy"] for r in part],
            "eps": part[0]["dp_epsilon"],
            "z": part[0]["dp_noise_multiplier"],
        }
    return out


def dp_selection() -> tuple[dict, list, dict, list]:
    dp_best, dp_scores = choose_grid(DP_GRID, **DP, strategy="dp-fedavg", dp_epsilon=8.0)
    say(f"DP setting {dp_best} (validation {dp_scores})")
    np_best, np_scores = choose_grid(NP_GRID, **DP, strategy="fedavgm")
    say(f"non-private setting {np_best} (validation {np_scores})")
    return dp_best, dp_scores, np_best, np_scores


def main() -> int:
    import gc

    from tinylarge.integrate.federated.clients import load_split

    load_split("mnist5k", 0)
    if ONLY_DP:
        return main_only_dp()
    # Flower's ArrayRecord.to_numpy_ndarrays(keep_input=False) (Bulyan) calls gc.collect() per
    # record: 0.5 s each over torch's heap (torch imports more on the first training step).
    # One warm-up run imports everything, then frozen objects are not scanned (Bulyan ~20x faster)
    run_robust(
        RobustConfig(
            **{**ROBUST, "n_clients": 7, "rounds": 1}, strategy="bulyan", engine="inprocess"
        )
    )
    gc.freeze()
    t0 = time.perf_counter()
    beta, beta_scores = choose(
        BETAS, **ROBUST, **ATTACK, attack="sign-flip", strategy="fedtrimmedavg", field="trim_beta"
    )
    say(f"beta = {beta} (validation {beta_scores})")
    rb = robust_part(beta)
    sel = dp_selection()
    dp = dp_part(sel[0], sel[2])
    save_dp(sel, dp)
    write_section("robust", report(beta, beta_scores, rb, t0) + dp_report(sel, dp, t0))
    return 0


def save_dp(sel: tuple, dp: dict) -> None:
    import json

    DP_JSON.parent.mkdir(parents=True, exist_ok=True)
    DP_JSON.write_text(
        json.dumps({"selection": sel, "dp": {str(k): v for k, v in dp.items()}}, indent=1)
    )


def main_only_dp() -> int:
    """Rerun the DP half only; keep the section's poisoning half as BENCHMARKS.md has it."""
    import re

    from report import BENCHMARKS_MD

    t0 = time.perf_counter()
    text = BENCHMARKS_MD.read_text()
    m = re.search(r"<!-- robust:start -->\n(.*?)### Client-level DP", text, re.S)
    if m is None:
        print("--only dp needs an existing robust section in BENCHMARKS.md", file=sys.stderr)
        return 2
    head = m.group(1).replace(
        "Krum, MultiKrum and Bulyan are told f = 4.", F_SENTENCE.replace("\n", " ")
    )
    sel = dp_selection()
    dp = dp_part(sel[0], sel[2])
    save_dp(sel, dp)
    write_section("robust", head + dp_report(sel, dp, t0, partial=True))
    return 0


PARTIAL = " (DP half only, `--only dp`; the poisoning half is from the previous full run)"
F_SENTENCE = (
    "Krum, MultiKrum and Bulyan are told f = the true attacker count\n(4 under attack, 0 in the"
    " clean column)."
)


def report(beta, beta_scores, rb, t0) -> str:
    clean = rb["clean"]["fedavg"]
    rows = []
    best, best_gap = None, -1e9
    for name in AGGREGATORS:
        diff = [a - c for a, c in zip(rb["sign-flip"][name], clean, strict=True)]
        m, h = ci95(diff)
        if name != "fedavg" and m > best_gap:
            best, best_gap = name, m
        rows.append(
            f"| {name} | {fmt(rb['clean'][name])} | {fmt(rb['sign-flip'][name])} "
            f"| {m * 100:+.1f} ± {h * 100:.1f} | {fmt(rb['label-flip'][name])} "
            f"| {fmt(rb['backdoor'][name])} | {fmt(rb['asr'][name])} |"
        )
    bm, bh = ci95([a - c for a, c in zip(rb["sign-flip"][best], clean, strict=True)])
    fa = ci95(rb["sign-flip"]["fedavg"])
    met_a, met_a_strict = bm > -0.03, bm - bh > -0.03
    n_seeds, n_extra = len(TEST_SEEDS), len(EXTRA_SEEDS)
    return f"""## Robust and private federated learning (issue 15)

`benchmarks/bench_robust.py`{" --quick" if QUICK else ""}: mnist5k, 784-64-10 MLP, {ROUNDS} rounds,
every client each round, local SGD lr 0.05 / momentum 0.9 / batch 32 / 1 epoch (defaults, not
tuned); Flower's ClientApp, Messages and strategies on an in-process grid. Accuracy on the test
split (1,000 digits) in %, mean ± Student-t 95 % interval over seeds (a seed draws the partition,
the attackers and the initial model). Everything here is measured; nothing is modelled.

### Poisoning: 20 clients, Dirichlet(0.3), 4 attackers (20 %)

FedTrimmedAvg's beta = {beta} (validation accuracy under sign-flip on seeds
{VALIDATION_SEEDS}: {", ".join(f"{b}: {v * 100:.1f} %" for b, v in beta_scores.items())}).
{F_SENTENCE} Clean and sign-flip over {n_seeds} seeds; label flip
and backdoor over {n_extra}. "minus clean" is the paired difference to clean FedAvg per seed.

{TABLE_A}
{chr(10).join(rows)}

**Target (a): best robust aggregator within 3 points of clean while FedAvg collapses.** Clean
FedAvg {fmt(clean)} %; FedAvg under sign-flip x10 {fa[0] * 100:.1f} ± {fa[1] * 100:.1f} %. Best
robust aggregator: **{best}**, {bm * 100:+.1f} ± {bh * 100:.1f} points against clean FedAvg
(paired). Met by the mean: **{"yes" if met_a else "no"}**; by the whole 95 % interval above
-3 points: **{"yes" if met_a_strict else "no"}**.

"""


def dp_report(sel: tuple, dp: dict, t0: float, partial: bool = False) -> str:
    dp_best, dp_scores, np_best, np_scores = sel
    n_extra = len(EXTRA_SEEDS)

    def point(p: dict) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in p.items())

    dp_val = "; ".join(f"{point(p)}: {v * 100:.1f} %" for p, v in dp_scores)
    np_val = "; ".join(f"{point(p)}: {v * 100:.1f} %" for p, v in np_scores)
    nonpriv = ci95(dp["nonprivate"])
    curve = []
    for eps in EPSILONS:
        d = [a - b for a, b in zip(dp[eps]["acc"], dp["nonprivate"], strict=True)]
        dm, dh = ci95(d)
        curve.append(
            f"| {eps:g} | {dp[eps]['eps']:.2f} | {dp[eps]['z']:.3f} | {fmt(dp[eps]['acc'])} "
            f"| {dm * 100:+.1f} ± {dh * 100:.1f} |"
        )
    d8 = ci95([a - b for a, b in zip(dp[8.0]["acc"], dp["nonprivate"], strict=True)])
    met_b = d8[0] > -0.05
    return f"""### Client-level DP-FedAvg: {DP_CLIENTS} clients, iid, delta = 1e-5

Local SGD lr 0.05 / momentum 0.9 as above but batch 16; local epochs (and the server
momentum) are the validated choice below, for both the private and the non-private side.
Setting chosen on validation (seeds {VALIDATION_SEEDS}, the server's held-out share), never on
test, by the best mean validation accuracy over a full grid. DP-FedAvg at epsilon 8 over clip
norm C x local epochs x server momentum (server learning rate 1; momentum acts on the noisy mean,
post-processing): **{point(dp_best)}** ({dp_val}). Non-private FedAvg(M) over the same local
epochs x server momentum: **{point(np_best)}** ({np_val}). Noise multiplier z is the smallest
reaching the target epsilon over {ROUNDS} full-participation rounds (Opacus RDP, no subsampling
amplification); the epsilon column is what the accountant reports for the run. Non-private
FedAvg(M) with its own best setting on the same {DP_CLIENTS} clients: {nonpriv[0] * 100:.1f} ±
{nonpriv[1] * 100:.1f} % ({n_extra} seeds).

| target epsilon | epsilon spent | z | accuracy | minus non-private (paired) |
|---|---|---|---|---|
{chr(10).join(curve)}

**Target (b): DP-FL at epsilon <= 8 within 5 points of non-private.** At epsilon
{dp[8.0]["eps"]:.2f}: {d8[0] * 100:+.1f} ± {d8[1] * 100:.1f} points. Met by the mean:
**{"yes" if met_b else "no"}**; by the whole 95 % interval above -5 points:
**{"yes" if d8[0] - d8[1] > -0.05 else "no"}** ({n_extra} seeds).

Run time {time.perf_counter() - t0:.0f} s{PARTIAL if partial else ""}.
"""


if __name__ == "__main__":
    sys.exit(main())
