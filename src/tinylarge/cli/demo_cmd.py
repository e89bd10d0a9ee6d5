"""``tinylarge demo`` (the closed loop on the embedded ``smart-camera`` scenario), ``tinylarge run
SCENARIO`` (a YAML of your own or a built-in name) and ``tinylarge scenarios`` (the built-ins)."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import OUT_DIR, config_option, dataset_option
from tinylarge.scenario.schema import Scenario

SCENARIO_RUNS_OPTION = typer.Option(
    None,
    "--runs-dir",
    click_type=OUT_DIR,
    help="Instead of the scenario's runs folder (default: keep it).",
)
SCENARIO_CACHE_OPTION = typer.Option(
    None,
    "--cache-dir",
    click_type=OUT_DIR,
    help="Trained-model cache (default: the scenario's, else ~/.cache/tinylarge).",
)


def demo(
    scenario: Path | None = typer.Option(
        None,
        "--scenario",
        "-s",
        exists=True,
        dir_okay=False,
        help="Scenario YAML to run instead of the embedded default (smart-camera, mnist5k).",
    ),
    dataset: str | None = dataset_option(
        None, "Instead of the scenario's dataset (default: keep it)."
    ),
    seed: int | None = config_option(
        Scenario,
        "seed",
        "--seed",
        default=None,
        help="Instead of the scenario's seed (default: keep it).",
    ),
    runs_dir: Path | None = SCENARIO_RUNS_OPTION,
    cache_dir: Path | None = SCENARIO_CACHE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Run the whole system on a scenario: train, deploy, cascade, then the closed loop.

    Trains (or loads from the cache) a LargeML teacher and a TinyML student; quantizes the student
    to int8 and measures it in TFLM; profiles it on every microcontroller of the catalog; writes
    its C code (checked bit-exact against TFLM on the host); calibrates the cascade. Then the
    closed loop runs over simulated time: the fleet serves and offloads, the data of part of it
    drifts, LargeML labels what came up, re-distils, signs and rolls out new models (canaries
    first, rollback on failure) until the fleet recovers. Everything goes to
    runs/<name>-<timestamp>/ (report.html, plots/, bundle/, metrics.json) and runs/latest points
    at it once the run succeeded. A second run of the same scenario replays from the cache.
    """
    from tinylarge.scenario import default_scenario, load_scenario
    from tinylarge.scenario.schema import with_overrides

    base = load_scenario(scenario) if scenario else default_scenario()
    cfg = with_overrides(base, dataset=dataset, seed=seed, runs_dir=runs_dir, cache_dir=cache_dir)
    _run_and_report(cfg, json_out)


def _run_and_report(cfg: Scenario, json_out: bool) -> None:
    from tinylarge.scenario import run_scenario

    result = run_scenario(cfg, progress=True)
    m = result.metrics
    _print_summary(cfg.dataset, result.run_dir, m)
    if json_out:
        loop = m.get("loop") or {}
        emit_json(
            {
                **m,
                "report": m.get("report"),
                "accuracy_over_time": loop.get("accuracy_over_time", []),
                "drift_recovered": loop.get("drift_recovered", False),
            }
        )


def run(
    scenario: str = typer.Argument(
        ..., help="Scenario YAML file, or the name of a built-in scenario (tinylarge scenarios)."
    ),
    runs_dir: Path | None = SCENARIO_RUNS_OPTION,
    cache_dir: Path | None = SCENARIO_CACHE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Run a scenario YAML (or a built-in scenario) end to end, like demo; see `tinylarge demo`."""
    from tinylarge.scenario.schema import scenario_from, with_overrides

    cfg = with_overrides(scenario_from(scenario), runs_dir=runs_dir, cache_dir=cache_dir)
    _run_and_report(cfg, json_out)


def scenarios(json_out: bool = JSON_OPTION) -> None:
    """List the built-in scenarios (run one with `tinylarge run NAME`)."""
    from tinylarge.scenario.schema import builtin_names, builtin_scenario

    rows = [{"name": n, "description": builtin_scenario(n).description} for n in builtin_names()]
    console.print(table("built-in scenarios", ["name", "description"],
                        [[r["name"], r["description"]] for r in rows]))  # fmt: skip
    if json_out:
        emit_json({"scenarios": rows})


def _print_summary(dataset: str, run_dir: Path, m: dict) -> None:
    models = {"teacher": m["teacher"]} | m.get("students", {"student": m["student"]})
    rows = [
        [
            role,
            r["arch"],
            r["params"],
            r["size_bytes_float32"],
            r["macs"],
            f"{100 * r['accuracy']:.2f}%",
            "-" if "int8_accuracy" not in r else f"{100 * r['int8_accuracy']:.2f}%",
            "cache" if r["cached"] else f"{r['train_time_s']:.1f} s",
            ", ".join(r.get("devices", [])),
        ]
        for role, r in models.items()
    ]
    columns = ["model", "arch", "params", "float32 B", "MACs", "float acc", "int8 acc", "trained",
               "runs on"]  # fmt: skip
    console.print(table(f"{dataset}: LargeML teacher vs TinyML student", columns, rows))
    if "profile" in m:
        rows = [
            [
                p["device"],
                "yes" if p["fits"] else "no",
                p["flash_bytes"],
                p["ram_bytes"],
                f"{1e3 * p['latency_s']:.2f}",
                f"{1e3 * p['energy_j']:.4f}",
            ]
            for p in m["profile"]
        ]
        cols = ["device", "fits", "flash B", "RAM B", "latency ms", "energy mJ"]
        console.print(table("int8 student on the microcontroller catalog", cols, rows))
        _print_fleet_fit(m)
        c = m["codegen"]
        console.print(
            f"C code: {run_dir / 'c'} -- arena {c['arena_bytes']} B vs TFLM {c['tflm_arena_bytes']}"
            f" B, bit-exact with TFLM on the host: {c['bit_exact_host']}"
        )
    if "cascade" in m:
        c = m["cascade"]
        nb = next((e for e in c["energy"] if e["link"] == "nb-iot"), None)
        saving = "" if nb is None else f"; device energy -{100 * nb['saving']:.0f}% vs all-offload"
        console.print(
            f"cascade on {c['device']}: {100 * c['accuracy']:.2f}% (teacher "
            f"{100 * c['big_accuracy']:.2f}%) offloading {100 * c['offload_fraction']:.1f}% of "
            f"inputs{saving} over NB-IoT; curve: {c['plot']}"
        )
    for kind, p in (m.get("patterns") or {}).items():
        if kind != "note":
            console.print(f"{kind}: " + ", ".join(f"{k} {p[k]}" for k in p if k in _PATTERN_KEYS))
    if m.get("patterns"):
        console.print(f"  ({m['patterns']['note']})")
    if m.get("loop"):
        _print_loop(m["loop"])
    if m.get("report"):
        console.print(f"report: {m['report']}")
    console.print(f"run folder: {run_dir}  (runs/latest points at it)")


_PATTERN_KEYS = ("exit_after", "threshold", "exit_fraction", "accuracy", "cut", "activation_bytes",
                 "input_bytes")  # fmt: skip


def _print_fleet_fit(m: dict) -> None:
    """Each fleet device type with the student it runs, when the fleet runs more than one."""
    students = m.get("students", {})
    if len(students) < 2:
        return
    rows = []
    for name, r in students.items():
        prof = {p["device"]: p for p in r.get("profile", [])}
        for dev in r["devices"]:
            p = prof[dev]
            rows.append(
                [
                    dev,
                    name,
                    r["arch"],
                    r["params"],
                    "yes" if p["fits"] else "no",
                    p["ram_bytes"],
                    p["flash_bytes"],
                    f"{1e3 * p['latency_s']:.2f}",
                    f"{r['cascade']['threshold']:.4f}" if "cascade" in r else "-",
                ]
            )
    cols = ["device type", "student", "arch", "params", "fits", "RAM B", "flash B", "latency ms",
            "gate threshold"]  # fmt: skip
    console.print(table("the fleet: each device type's student", cols, rows))


def _print_loop(loop: dict) -> None:
    pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
    rows = [
        [
            t["tick"],
            "yes" if t["drifting"] else "",
            pct(t["accuracy"]),
            pct(t["device_model_accuracy"]),
            pct(t["offload_fraction"]),
            "-" if t.get("exit_fraction") is None else pct(t["exit_fraction"]),
            f"{t.get('bytes_up_per_request', 0.0):.1f}",
            f"{1e3 * t['latency_p95_s']:.1f}",
            f"{1e3 * t['energy_j']:.3f}",
            " ".join(f"v{k}:{n}" for k, n in t["versions"].items()),
        ]  # fmt: skip
        for t in loop["ticks"]
    ]
    cols = ["tick", "drift", "fleet acc", "device acc", "offload", "exit", "B up/req", "p95 ms",
            "mJ/req", "versions"]  # fmt: skip
    console.print(table(f"closed loop: {loop['n_devices']} devices", cols, rows))
    for e in loop["events"]:
        if "device" not in e:
            console.print(
                f"  tick {e['tick']}: {e['event']} v{e['version']} {e.get('reason') or ''}"
            )
    for i in loop["intents"]:
        verdict = f"{i['kind']} {i['params']}" if i["accepted"] else "refused"
        console.print(f"  tick {i['tick']}: intent {i['text']!r} -> {verdict}: {i['effect']}")
    ok = "[green]recovered[/green]" if loop["drift_recovered"] else "[red]not recovered[/red]"
    console.print(
        f"fleet accuracy: pre-drift {pct(loop['pre_drift_accuracy'])}, worst after drift "
        f"{pct(loop['worst_after_drift_accuracy'])}, final {pct(loop['final_accuracy'])}: {ok}"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("run")(run)
    app.command("scenarios")(scenarios)
