"""``tinylarge demo``: the main job on the embedded default scenario (or a YAML of your own)."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table, user_errors


def demo(
    scenario: Path | None = typer.Option(
        None,
        "--scenario",
        "-s",
        help="Scenario YAML to run instead of the embedded default (mnist5k teacher + student).",
        exists=False,
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Override the scenario's dataset (see `tinylarge datasets`)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="Where run folders go [runs]."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Trained-model cache [~/.cache/tinylarge]."
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Train (or load from cache) a LargeML teacher and a TinyML student and compare them.

    Writes runs/<name>-<timestamp>/ (metrics.json, teacher.pt, student.pt) and points runs/latest
    at it. A second run of the same scenario loads both models from the cache in seconds.
    """
    from tinylarge.scenario import default_scenario, load_scenario, run_scenario

    with user_errors():
        base = load_scenario(scenario) if scenario else default_scenario()
        overrides = {
            k: v
            for k, v in {
                "dataset": dataset,
                "seed": seed,
                "runs_dir": runs_dir,
                "cache_dir": cache_dir,
            }.items()
            if v is not None
        }
        from tinylarge.scenario.schema import _validate

        cfg = _validate({**base.model_dump(exclude_unset=True), **overrides}, "(with overrides)")
        result = run_scenario(cfg, progress=True)
    m = result.metrics
    rows = [
        [
            role,
            m[role]["arch"],
            m[role]["params"],
            m[role]["size_bytes_float32"],
            m[role]["macs"],
            f"{100 * m[role]['accuracy']:.2f}%",
            "cache" if m[role]["cached"] else f"{m[role]['train_time_s']:.1f} s",
        ]
        for role in ("teacher", "student")
    ]
    columns = ["model", "arch", "params", "float32 bytes", "MACs", "test acc", "trained"]
    console.print(table(f"{cfg.dataset}: LargeML teacher vs TinyML student", columns, rows))
    console.print(f"run folder: {result.run_dir}  (runs/latest points at it)")
    if json_out:
        emit_json(m)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
