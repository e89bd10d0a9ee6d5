"""Network-aware (TiFL-like tiered) client selection vs random selection in FedAvg.

Run alone: ``.venv/bin/python benchmarks/bench_fl_selection.py`` (validation step: 12 runs, then
15 test runs; ~35 s a run on a quiet host, ~10 min with 2 workers);
``--chosen W`` reuses the saved validation step, ``--from-json`` only re-summarises
``benchmarks/out/fl_selection.json``. Writes the "fl-selection" section of BENCHMARKS.md.

Procedure (written here, followed by the code below):

1. The setting is the federated benchmark's mnist5k one (copied from ``bench_federated.py``:
   20 clients, Dirichlet 0.3, 10 per round, 2 local epochs), FedAvg at the local rate 0.1 that
   benchmark chose on validation, 15 rounds, accuracy target 0.5 fixed up front.
2. The rule's one knob, ``data_weight`` (how often each tier trains: 0 = every client at random's
   rate, 1 = tiers in proportion to their examples), is chosen from {0, 0.5, 1} on validation
   (``evaluate_on="validation"``: the server's share of the training split), seeds 0-2 (one
   seed's final accuracy moves by several points from round to round): among the candidates
   whose mean paired validation accuracy is at most 1 point below random's, the one with the
   largest mean time ratio random / aware; if none, the one losing least accuracy. Accuracy is
   scored twice, and a candidate must pass both: the final round's, and the mean of the last
   :data:`CYCLE` rounds (one cycle of the n // k = 2 tiers). The rule's outer step (below) makes
   a round of the small, fast tier move the model less and one of the data-rich tier more, so
   the accuracy after a fast and after a slow round differ; the final round alone would reward
   the tier that happens to train last. (Fixed before the runs of this step, after the runs of
   the rule without the step, kept in ``fl_selection*_no_step.json``.)
3. The test split is then read on seeds 5-9, random and aware paired by seed (same partition,
   initialisation, channels). Time per round: the ratio random / aware per seed, its mean with the
   95% percentile-bootstrap interval. Accuracy: the paired difference aware - random with the
   95% Student-t interval (``tinylarge.train.stats.paired``). Participation: every client's count
   of rounds trained, and the FedAvg weight the smaller half of the clients (by examples) got.
   The target is met when the time interval lies above 1 and the mean paired accuracy
   difference is at least -1 point on both accuracy scores (and "met" outright when both
   accuracy intervals' lower ends are too). (Seeds 0-4 were read once, before this procedure
   existed, for the rule with ``data_weight`` 0 and no outer step; that run is kept and shown.)

The rule's outer step: the server applies the round's FedAvg average with step
``sum_i (n_i / N) / pi_i`` (``tinylarge.orchestrate.fl_selection.tier_step``), which keeps every
client's expected weight at its share of the examples whatever the tiers' rates.

Measured: test and validation accuracy (real training on Flower's Messages, in-process grid).
Modelled: the round times (the 6G channel model with per-round fading and the device compute
price, as every federated benchmark here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_federated import boot_ci  # noqa: E402  (95% percentile bootstrap of the mean)
from report import median, write_section  # noqa: E402

from tinylarge.integrate.federated.clients import load_split, partition_indices  # noqa: E402
from tinylarge.integrate.federated.fl import FLConfig  # noqa: E402
from tinylarge.integrate.federated.registry import run_framework  # noqa: E402
from tinylarge.train.stats import paired  # noqa: E402

SETTING = dict(  # bench_federated.SETTINGS["mnist5k"], its chosen FedAvg rate, 15 rounds
    dataset="mnist5k",
    n_clients=20,
    partition="dirichlet:0.3",
    clients_per_round=10,
    local_epochs=2,
    lr=0.1,
    rounds=15,
    engine="inprocess",
    accuracy_target=0.5,
)
ARMS = {"random": "random", "aware": "tinylarge.orchestrate.fl_selection:network_aware"}
ARMS["aware-other"] = ARMS["aware"]  # the other end of the knob, same test seeds (shown only)
CANDIDATES = [0.0, 0.5, 1.0]  # data_weight, fixed before any run
VALIDATION_SEEDS = [0, 1, 2]
CYCLE = 2  # rounds in one cycle of the tiers (n // k with 20 clients, 10 per round)
OUT = Path(__file__).resolve().parent / "out" / "fl_selection.json"
EARLIER = OUT.with_name("fl_selection_equal_rate_seeds0-4.json")
VALIDATION = OUT.with_name("fl_selection_validation.json")
NO_STEP = OUT.with_name("fl_selection_validation_no_step.json")  # the rule before its outer step


def cycle_accuracy(run: dict[str, Any]) -> float:
    """Mean accuracy of the last :data:`CYCLE` rounds (one cycle of the tiers)."""
    return float(np.mean(run["accuracy_per_round"][-CYCLE:]))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(job: tuple) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    arm, seed, extra = job
    start = time.perf_counter()
    config = FLConfig(framework="fl", selection=ARMS[arm], seed=seed, **{**SETTING, **extra})
    result = run_framework(config)
    s = result.summary
    out = {
        "arm": arm,
        "seed": seed,
        "extra": extra,
        "final_accuracy": s["final_accuracy"],
        "sim_time_s_per_round": s["sim_time_s_per_round"],
        "sim_time_s": s["sim_time_s"],
        "rounds_to_target": s.get("rounds_to_target"),
        "round_times_s": [r.sim_time_s for r in result.rounds],
        "round_clients": [r.clients for r in result.rounds],
        "accuracy_per_round": [r.accuracy for r in result.rounds],
        "selected_counts": result.selected_counts,
        "n_examples": [
            len(p) for p in partition_indices(load_split(config.dataset, config.split_seed), config)
        ],
        "wall_s": time.perf_counter() - start,
    }
    log(
        f"  {arm} {extra} seed {seed}: acc {out['final_accuracy']:.4f}, "
        f"{out['sim_time_s_per_round']:.2f} s/round sim, {out['wall_s']:.0f} s wall"
    )
    return out


def round_step(run: dict[str, Any], clients: list[int]) -> float:
    """The rule's outer step in a round of ``clients`` (``fl_selection.tier_step``): 1 for random
    and for data_weight 1 with tiers of k; with data_weight 0 every client's inclusion
    probability is k / n, so the step is (n / k) x the round's share of the examples."""
    dw = run["extra"].get("selection_params", {}).get("data_weight")
    if run["arm"] == "random" or dw == 1.0:
        return 1.0
    if dw == 0.0:
        n = run["n_examples"]
        return len(n) / len(clients) * sum(n[c] for c in clients) / sum(n)
    raise ValueError(f"no outer-step formula here for data_weight {dw}")


def small_half_weight(run: dict[str, Any], stepped: bool = True) -> tuple[float, float] | None:
    """The mean effective weight per round (FedAvg's weight x the rule's outer step) of the half
    of the clients holding fewer examples, and that half's share of all examples (random
    selection gives it about that share)."""
    n = run.get("n_examples")
    if not n:
        return None
    small = set(np.argsort(n, kind="stable")[: len(n) // 2].tolist())
    w = [
        (round_step(run, cs) if stepped else 1.0)
        * sum(n[c] for c in cs if c in small)
        / sum(n[c] for c in cs)
        for cs in run["round_clients"]
    ]
    return float(np.mean(w)), sum(n[c] for c in small) / sum(n)


def summarise(runs: list[dict[str, Any]], stepped: bool = True) -> dict[str, Any]:
    """Paired comparison of the aware and random runs (``stepped``: runs of the rule with its
    outer step; the saved runs from before it had none)."""
    by = {
        arm: sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
        for arm in ("random", "aware")
    }
    assert [r["seed"] for r in by["random"]] == [r["seed"] for r in by["aware"]]
    t_rand = [r["sim_time_s_per_round"] for r in by["random"]]
    t_aware = [r["sim_time_s_per_round"] for r in by["aware"]]
    ratio = [a / b for a, b in zip(t_rand, t_aware, strict=True)]
    lo, hi = boot_ci(ratio)
    acc = {arm: [r["final_accuracy"] for r in by[arm]] for arm in by}
    p = paired(acc["aware"], acc["random"])
    cyc = {arm: [cycle_accuracy(r) for r in by[arm]] for arm in by}
    pc = paired(cyc["aware"], cyc["random"])
    counts = {
        arm: [sorted(int(v) for v in r["selected_counts"].values()) for r in by[arm]] for arm in by
    }
    return {
        "seeds": [r["seed"] for r in by["random"]],
        "time_ratio": {"per_seed": ratio, "mean": float(np.mean(ratio)), "lo": lo, "hi": hi},
        "time_s_per_round": {"random": t_rand, "aware": t_aware},
        "accuracy": acc,
        "accuracy_diff": {
            "per_seed": [a - b for a, b in zip(acc["aware"], acc["random"], strict=True)],
            "mean": p.difference.mean,
            "lo": p.difference.ci_low,
            "hi": p.difference.ci_high,
            "p": p.p_value,
        },
        "cycle_accuracy": cyc,
        "cycle_accuracy_diff": {
            "mean": pc.difference.mean,
            "lo": pc.difference.ci_low,
            "hi": pc.difference.ci_high,
            "p": pc.p_value,
        },
        "counts": counts,
        "small_half": {arm: [small_half_weight(r, stepped) for r in by[arm]] for arm in by},
        "rounds_to_target": {arm: [r["rounds_to_target"] for r in by[arm]] for arm in by},
    }


FEDERATED = OUT.with_name("federated.json")  # bench_federated: the same setting on seeds 0-2


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """This benchmark's test pairs pooled with the federated benchmark's network-aware vs FedAvg
    runs (the same setting, other seeds): time ratio and both accuracy differences."""
    if not FEDERATED.exists():
        return None
    fed = json.loads(FEDERATED.read_text())
    aware, rand = fed.get("fl_network_aware"), fed["runs"]["mnist5k"].get("fl")
    if not aware or not rand or len(aware) != len(rand):
        return None
    by = {arm: sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
          for arm in ("random", "aware")}  # fmt: skip
    a, b = aware + by["aware"], rand + by["random"]
    ratio = [
        y["sim_time_s_per_round"] / x["sim_time_s_per_round"] for x, y in zip(a, b, strict=True)
    ]
    fin = paired([x["final_accuracy"] for x in a], [y["final_accuracy"] for y in b])
    cyc = paired([cycle_accuracy(x) for x in a], [cycle_accuracy(y) for y in b])
    lo, hi = boot_ci(ratio)
    return {
        "n": len(a),
        "time_ratio": {"mean": float(np.mean(ratio)), "lo": lo, "hi": hi, "min": min(ratio)},
        "final": fin.difference,
        "cycle": cyc.difference,
    }


def section(s: dict[str, Any], earlier: dict[str, Any] | None, other: dict | None = None) -> str:
    n = len(s["seeds"])
    r, d, v = s["time_ratio"], s["accuracy_diff"], s["validation"]
    dc = s["cycle_accuracy_diff"]
    # "equal accuracy within 1 point" read as: no more than 1 point below random, on both the
    # final round's accuracy and the last tier cycle's mean
    met = r["lo"] > 1.0 and min(d["lo"], dc["lo"]) >= -0.01
    mean_met = r["lo"] > 1.0 and min(d["mean"], dc["mean"]) >= -0.01

    def pct(vals: list[float]) -> str:
        return ", ".join(f"{100 * x:.1f}" for x in vals)

    def spread(cs: list[list[int]]) -> str:
        return "; ".join(f"{c[0]}-{c[-1]}" for c in cs)

    def half(arm: str) -> str:
        vals = [x for x in s["small_half"][arm] if x]
        return ", ".join(f"{100 * w:.0f}% ({100 * sh:.0f}%)" for w, sh in vals) or "-"

    def cand(sc: dict) -> str:
        cyc = sc.get("cycle_acc_diff")
        last = "" if cyc is None else f" ({100 * cyc:+.1f} on the last {CYCLE} rounds' mean)"
        return f"{100 * sc['acc_diff']:+.1f} points{last}, {sc['time_ratio']:.2f}x"

    cands = "; ".join(f"{float(w):g}: {cand(sc)}" for w, sc in v.items() if w != "chosen")
    old = s.get("no_step")
    before = (
        " Before the rule had its outer step, the same validation runs gave "
        + "; ".join(f"{float(w):g}: {cand(sc)}" for w, sc in old["scores"].items())
        + f" and chose {float(old['chosen']):g} (`benchmarks/out/fl_selection*_no_step.json`)."
        if old
        else ""
    )
    lines = [
        "## Federated client selection: tiered network-aware vs random (FedAvg)",
        "",
        "`benchmarks/bench_fl_selection.py`: the federated benchmark's mnist5k setting (20 "
        "clients, Dirichlet 0.3, 10 per round, 2 local epochs, FedAvg lr 0.1 as chosen there on "
        "validation), 15 rounds, in-process Flower grid. The rule "
        "(`tinylarge.orchestrate.fl_selection:network_aware`, after TiFL, Chai et al. HPDC "
        "2020) cuts the clients into n // k = 2 tiers by expected round time and trains one "
        "tier a round, the tier furthest behind its share of the rounds; `data_weight` sets the "
        "share (0: tier size, every client at random's rate k/n; 1: the tier's examples, every "
        "client's expected FedAvg weight as under random). FedAvg renormalises a round's weights "
        "over its own clients, so the rule also sets the server's outer step, "
        "sum_i (n_i / N) / pi_i over the round's clients (pi_i: the client's inclusion "
        "probability per round under the rule; Li et al., ICLR 2020, scheme II): every "
        "client's expected weight is its share of the examples at any `data_weight` (1 with "
        "`data_weight` 1). Accuracy is measured; round times "
        "are modelled (6G channel model with fading + device compute price). Here compute "
        "dominates the round time (radio ~0.1-0.7 s of 2-25 s), so the slow tier is the "
        "data-rich half.",
        "",
        f"Validation (seeds 0-2, mean paired accuracy vs random and time ratio) per "
        f"data_weight: {cands}; chosen: **{float(v['chosen']):g}** (rule: the largest time "
        f"ratio within 1 point of random's accuracy on both the final round and the last "
        f"{CYCLE} rounds' mean, else the least loss).{before}",
        "",
        f"Test, seeds {s['seeds'][0]}..{s['seeds'][-1]} paired (same partition, "
        "initialisation, channels):",
        "",
        "| | random | network-aware |",
        "|---|---|---|",
        f"| final test accuracy, % (per seed) | {pct(s['accuracy']['random'])} | "
        f"{pct(s['accuracy']['aware'])} |",
        f"| mean test accuracy of the last {CYCLE} rounds (one tier cycle), % | "
        f"{pct(s['cycle_accuracy']['random'])} | {pct(s['cycle_accuracy']['aware'])} |",
        "| simulated s per round (per seed) | "
        + ", ".join(f"{t:.2f}" for t in s["time_s_per_round"]["random"])
        + " | "
        + ", ".join(f"{t:.2f}" for t in s["time_s_per_round"]["aware"])
        + " |",
        f"| rounds per client over 15 (min-max, per seed) | {spread(s['counts']['random'])} | "
        f"{spread(s['counts']['aware'])} |",
        f"| weight of the smaller half of the clients per round, FedAvg's x the outer step "
        f"(their share of examples) | "
        f"{half('random')} | {half('aware')} |",
        "",
        f"- **Time per round, random / aware**: {r['mean']:.2f}x "
        f"[{r['lo']:.2f}, {r['hi']:.2f}] (mean over {n} seeds, 95% percentile bootstrap; "
        f"median {median(r['per_seed']):.2f}x).",
        f"- **Accuracy, aware - random**: {100 * d['mean']:+.2f} points "
        f"[{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}] (paired t, 95%; p = {d['p']:.2f}); "
        f"on the last {CYCLE} rounds' mean {100 * dc['mean']:+.2f} points "
        f"[{100 * dc['lo']:+.2f}, {100 * dc['hi']:+.2f}] (p = {dc['p']:.2f}).",
        "- Target (shorter rounds at equal accuracy, read as no more than 1 point below "
        "random): "
        + (
            "**met**: the time interval is above 1 and both accuracy intervals' lower ends are "
            "above -1 point."
            if met
            else (
                "**met on the mean, not on the interval**: shorter rounds (interval above 1) "
                "and no mean accuracy loss beyond 1 point on either accuracy score, but an "
                "accuracy interval reaches below -1 point "
                f"with {n} seeds (the final round's accuracy moves by several points from "
                "round to round in both arms)."
                if mean_met
                else "**not met** (see the numbers above)."
            )
        ),
    ]
    if pl := s.get("pooled"):
        t, f, c = pl["time_ratio"], pl["final"], pl["cycle"]
        lines += [
            f"- Pooled with the federated benchmark's {pl['n'] - n} test seeds of the same "
            f"setting (`benchmarks/out/federated.json`, seeds 0-{pl['n'] - n - 1}), {pl['n']} "
            f"pairs: time per round {t['mean']:.2f}x [{t['lo']:.2f}, {t['hi']:.2f}] (every "
            f"pair >= {t['min']:.2f}x); accuracy {100 * f.mean:+.2f} points "
            f"[{100 * f.ci_low:+.2f}, {100 * f.ci_high:+.2f}] final, {100 * c.mean:+.2f} "
            f"[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}] on the last {CYCLE} rounds' mean. "
            "Those seeds' partitions, initialisations and channels are also the validation "
            "seeds of step 2 (scored there on the server's share of the training data, not the "
            "test split), so the clean test of the choice is seeds 5-9 alone, above.",
        ]
    if s.get("bound"):
        bd = s["bound"]
        lines += [
            "- Modelled bound (expected times, no fading): the least mean round time any "
            "selection can reach while giving every client random's expected FedAvg weight "
            "(a linear programme over all C(20,10) subsets) is "
            + ", ".join(f"{b['random_s'] / b['bound_s']:.2f}x" for b in bd)
            + " below random's per seed; equal-rate tiers reach "
            + ", ".join(f"{b['random_s'] / b['equal_rate_tiers_s']:.2f}x" for b in bd)
            + " by shifting that weight. In this compute-bound setting (round time ~ the "
            "largest client's examples) selection alone, under FedAvg's renormalised "
            "aggregation, cannot cut much time without shifting weight; the outer step "
            "restores each client's expected weight, which is what lets equal-rate tiers "
            "(data_weight 0) keep their time without the accuracy loss they had before.",
        ]
    if other:
        o, od = other["time_ratio"], other["accuracy_diff"]
        lines += [
            f"- Also on these test seeds, the other end of the knob (data_weight "
            f"{1.0 - float(v['chosen']):g}, not chosen): time ratio {o['mean']:.2f}x "
            f"[{o['lo']:.2f}, {o['hi']:.2f}], accuracy {100 * od['mean']:+.2f} points "
            f"[{100 * od['lo']:+.2f}, {100 * od['hi']:+.2f}], rounds per client "
            f"{spread(other['counts']['aware'])}.",
        ]
    if earlier:
        e, ed = earlier["time_ratio"], earlier["accuracy_diff"]
        eh = [x for x in earlier["small_half"]["aware"] if x]
        rh = [x for x in earlier["small_half"]["random"] if x]
        lines += [
            f"- Earlier look (before this procedure and the outer step; test seeds 0-4, "
            f"data_weight 0, every "
            f"client at k/n, counts {spread(earlier['counts']['aware'])}): time ratio "
            f"{e['mean']:.2f}x [{e['lo']:.2f}, {e['hi']:.2f}], accuracy "
            f"{100 * ed['mean']:+.2f} points [{100 * ed['lo']:+.2f}, {100 * ed['hi']:+.2f}]. "
            "The smaller half of the clients (by examples) is the fast tier and each of its "
            "rounds renormalises FedAvg's weights over it alone: it got "
            f"{100 * np.mean([w for w, _ in eh]):.0f}% of the weight per round vs "
            f"{100 * np.mean([w for w, _ in rh]):.0f}% under random, for "
            f"{100 * np.mean([sh for _, sh in eh]):.0f}% of the examples; data_weight 1 "
            "restores random's weighting, and so does the outer step at any data_weight.",
        ]
    return "\n".join(lines)


def weight_matched_bound(seed: int) -> dict[str, float]:
    """Modelled: the least mean expected round time of any selection of k of n clients that gives
    every client random selection's expected FedAvg weight (a linear programme over all k-subsets
    with scipy's HiGHS), and random's mean expected round time. Expected times as the server
    knows them (mean SNR, compute price), no fading."""
    import itertools

    from scipy import sparse
    from scipy.optimize import linprog

    from tinylarge.integrate.federated.fl import student_task
    from tinylarge.integrate.federated.pricing import RadioEnvironment

    config = FLConfig(framework="fl", seed=seed, **SETTING)
    parts = partition_indices(load_split(config.dataset, config.split_seed), config)
    n = np.array([len(p) for p in parts], float)
    task = student_task(config)
    size = task.initial.count_bytes()
    k = config.n_selected
    radio = RadioEnvironment(config.radio, config.n_clients, seed)
    ul, dl = radio.mean_uplink_rate_bps(1 / k), radio.mean_downlink_rate_bps(1 / k)
    t = np.array([
        2 * radio.band.scheduling_delay_s + 8 * size / dl[c] + task.expected_compute_s(int(n[c]))
        + 8 * size / ul[c] for c in range(len(n))
    ])  # fmt: skip
    subsets = np.array(list(itertools.combinations(range(len(n)), k)))
    member = np.zeros((len(subsets), len(n)), bool)
    member[np.arange(len(subsets))[:, None], subsets] = True
    weight = member * n / (member @ n)[:, None]  # each client's FedAvg weight in each subset
    cost = t[subsets].max(axis=1)
    a_eq = sparse.csr_matrix(np.vstack([weight.T, np.ones(len(subsets))]))
    res = linprog(cost, A_eq=a_eq, b_eq=np.append(weight.mean(0), 1.0), method="highs")
    order = np.argsort(t)
    tiers_s = float((t[order[:k]].max() + t[order[-k:]].max()) / 2) if len(n) == 2 * k else np.nan
    return {
        "random_s": float(cost.mean()),
        "bound_s": float(res.fun),
        "equal_rate_tiers_s": tiers_s,
    }


def pool_map(jobs: list[tuple], workers: int) -> list[dict[str, Any]]:
    import multiprocessing as mp

    log(f"{len(jobs)} runs over {workers} workers")
    with mp.get_context("fork").Pool(workers) as pool:
        return pool.map(run, jobs, chunksize=1)


def choose(workers: int) -> dict[str, Any]:
    """Step 2 of the procedure: ``data_weight`` on validation (module docstring)."""
    val = {"evaluate_on": "validation"}
    jobs = [("random", s, val) for s in VALIDATION_SEEDS]
    jobs += [("aware", s, {**val, "selection_params": {"data_weight": w}})
             for w in CANDIDATES for s in VALIDATION_SEEDS]  # fmt: skip
    runs = pool_map(jobs, workers)
    rand = {r["seed"]: r for r in runs if r["arm"] == "random"}
    scores = {}
    for w in CANDIDATES:
        mine = [
            r
            for r in runs
            if r["arm"] == "aware" and r["extra"]["selection_params"]["data_weight"] == w
        ]
        base = [rand[r["seed"]] for r in mine]
        scores[w] = {
            "acc_diff": float(np.mean([r["final_accuracy"] - b["final_accuracy"]
                                       for r, b in zip(mine, base, strict=True)])),
            "cycle_acc_diff": float(np.mean([cycle_accuracy(r) - cycle_accuracy(b)
                                             for r, b in zip(mine, base, strict=True)])),
            "time_ratio": float(np.mean([b["sim_time_s_per_round"] / r["sim_time_s_per_round"]
                                         for r, b in zip(mine, base, strict=True)])),
        }  # fmt: skip

    def worst(w: float) -> float:
        return min(scores[w]["acc_diff"], scores[w]["cycle_acc_diff"])

    ok = [w for w in CANDIDATES if worst(w) >= -0.01]
    chosen = max(ok, key=lambda w: scores[w]["time_ratio"]) if ok else max(CANDIDATES, key=worst)
    out = {"scores": scores, "chosen": chosen, "runs": runs}
    VALIDATION.parent.mkdir(parents=True, exist_ok=True)
    VALIDATION.write_text(json.dumps(out, indent=1))
    log(f"validation: {scores}; chose data_weight {chosen}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="5-9", help="test seeds, A-B")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--select-only", action="store_true", help="run the validation step only")
    ap.add_argument("--chosen", type=float, help="data_weight from an earlier validation step")
    ap.add_argument("--from-json", action="store_true", help="re-summarise the saved runs")
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(OUT.read_text())
        runs, validation = saved["runs"], saved["validation"]
    else:
        if args.chosen is None:
            validation = choose(args.workers)
        else:
            validation = json.loads(VALIDATION.read_text())
            assert validation["chosen"] == args.chosen, "--chosen differs from the saved choice"
        if args.select_only:
            return
        a, _, b = args.seeds.partition("-")
        seeds = range(int(a), int(b or a) + 1)
        extra = {"selection_params": {"data_weight": validation["chosen"]}}
        other = {"selection_params": {"data_weight": 1.0 - validation["chosen"]}}
        jobs = [(arm, s, {}) for s in seeds for arm in ("random",)]
        jobs += [("aware", s, extra) for s in seeds]
        if validation["chosen"] in (0.0, 1.0):
            jobs += [("aware-other", s, other) for s in seeds]
        runs = pool_map(jobs, args.workers)
        validation = validation["scores"] | {"chosen": validation["chosen"]}
        payload = {"setting": SETTING, "validation": validation, "runs": runs}
        OUT.write_text(json.dumps(payload, indent=1))
    s = summarise(runs)
    s["validation"] = validation
    s["no_step"] = json.loads(NO_STEP.read_text()) if NO_STEP.exists() else None
    s["pooled"] = pooled(runs)
    log(json.dumps({k: s[k] for k in ("time_ratio", "accuracy_diff")}))
    earlier = (
        summarise(json.loads(EARLIER.read_text())["runs"], stepped=False)
        if EARLIER.exists()
        else None
    )
    rest = [r for r in runs if r["arm"] == "aware-other"]
    other = None
    if rest:
        relabel = [r for r in runs if r["arm"] == "random"] + [{**r, "arm": "aware"} for r in rest]
        other = summarise(relabel)
    seeds_test = s["seeds"]
    s["bound"] = [weight_matched_bound(seed) for seed in seeds_test]
    log(f"weight-matched bound: {s['bound']}")
    text = section(s, earlier, other)
    print(text)
    if not args.no_write:
        write_section("fl-selection", text)


if __name__ == "__main__":
    main()
