"""``tinylarge demo``: the main job on the embedded default scenario (or a YAML of your own)."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import OUT_DIR, config_option, dataset_option
from tinylarge.scenario.schema import Scenario


def demo(
    scenario: Path | None = typer.Option(
        None,
        "--scenario",
        "-s",
        exists=True,
        dir_okay=False,
        help="Scenario YAML to run instead of the embedded default (mnist5k teacher + student).",
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
    runs_dir: Path | None = typer.Option(
        None,
        "--runs-dir",
        click_type=OUT_DIR,
        help="Instead of the scenario's runs folder (default: keep it).",
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        click_type=OUT_DIR,
        help="Trained-model cache (default: the scenario's, else ~/.cache/tinylarge).",
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Run a scenario end to end: teacher, student, the deployed int8 student, the cascade.

    Trains (or loads from the cache) a LargeML teacher and a TinyML student; quantizes the student
    to int8 and measures it in TFLM; profiles it on every microcontroller of the catalog; writes
    its C code (checked bit-exact against TFLM on the host); calibrates the cascade. Everything
    goes to runs/<name>-<timestamp>/ and runs/latest points at it once the run succeeded. A second
    run of the same scenario loads the models from the cache in seconds.
    """
    from tinylarge.scenario import default_scenario, load_scenario, run_scenario
    from tinylarge.scenario.schema import with_overrides

    base = load_scenario(scenario) if scenario else default_scenario()
    cfg = with_overrides(base, dataset=dataset, seed=seed, runs_dir=runs_dir, cache_dir=cache_dir)
    result = run_scenario(cfg, progress=True)
    _print_summary(cfg.dataset, result.run_dir, result.metrics)
    if json_out:
        emit_json(result.metrics)


def _print_summary(dataset: str, run_dir: Path, m: dict) -> None:
    rows = [
        [
            role,
            m[role]["arch"],
            m[role]["params"],
            m[role]["size_bytes_float32"],
            m[role]["macs"],
            f"{100 * m[role]['accuracy']:.2f}%",
            "-" if "int8_accuracy" not in m[role] else f"{100 * m[role]['int8_accuracy']:.2f}%",
            "cache" if m[role]["cached"] else f"{m[role]['train_time_s']:.1f} s",
        ]
        for role in ("teacher", "student")
    ]
    columns = ["model", "arch", "params", "float32 B", "MACs", "float acc", "int8 acc", "trained"]
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
    console.print(f"run folder: {run_dir}  (runs/latest points at it)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
