"""``tinylarge simulate``: the 6G fleet simulator and its placement policies."""

from __future__ import annotations

from pathlib import Path

import click
import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, finish_run, table
from tinylarge.cli.params import RUNS_OPTION, SEED_TYPE, CommaList, Name

SCENARIO_NAME = Name("fleet scenario", "tinylarge.orchestrate.config:bundled_scenarios")
POLICIES = CommaList(Name("policy", "tinylarge.orchestrate.policies:policy_names"))


def simulate(
    scenario_file: Path | None = typer.Argument(
        None,
        click_type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Fleet scenario YAML (or --scenario-name for a bundled one; --list shows them).",
    ),
    scenario_name: str | None = typer.Option(
        None,
        "--scenario-name",
        click_type=SCENARIO_NAME,
        help="Run a bundled scenario instead of a file (default: none; --list shows them).",
    ),
    list_: bool = typer.Option(False, "--list", help="List the bundled scenarios and exit."),
    policy: str | None = typer.Option(
        None,
        "--policy",
        click_type=POLICIES,
        help="Comma list of policies (default: the scenario's).",
    ),
    devices: int | None = typer.Option(
        None, "--devices", min=1, help="Number of devices (default: the scenario's devices.n)."
    ),
    duration: float | None = typer.Option(
        None, "--duration", min=1e-3, help="Simulated seconds (default: the scenario's)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", click_type=SEED_TYPE, help="Seed (default: the scenario's)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Shard regions across this many Ray workers (same metrics)."
    ),
    runs_dir: Path = RUNS_OPTION,
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots to the run."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Simulate a device fleet over 6G cells with edge and cloud LargeML servers, and compare
    placement policies on the same arrivals and channels.

    Channels follow 3GPP TR 38.901 (path loss, LOS, shadowing, fading). The devices' real int8
    outputs (student in TFLM, split cuts, teacher) decide accuracy. Edge servers are FIFO queues.

    Reports latency percentiles, device energy per inference, accuracy, SLA violations, bytes on
    air and edge utilisation per policy; writes runs/NAME-TIME/metrics.json and plots.
    """
    from tinylarge.errors import TinylargeError
    from tinylarge.orchestrate.config import bundled_scenarios, load_bundled, load_scenario
    from tinylarge.orchestrate.plots import plot_fleet
    from tinylarge.scenario.rundir import run_folder

    if list_:
        _list(json_out)
        return
    if (scenario_file is None) == (scenario_name is None):
        raise TinylargeError(
            "give a scenario file or --scenario-name NAME (bundled: "
            + ", ".join(bundled_scenarios())
            + ")"
        )
    sc = load_bundled(scenario_name) if scenario_name else load_scenario(scenario_file)
    overrides = {
        "devices.n": devices,
        "duration_s": duration,
        "seed": seed,
        "policies": [p.strip() for p in policy.split(",")] if policy else None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        sc = sc.with_overrides(**overrides)
    with run_folder(runs_dir, sc.name) as run_dir:
        result = _run(sc, workers)
        payload = result.to_dict()
        if plots:
            payload["plots"] = plot_fleet(result, run_dir / "plots")
    _report(result, {**payload, "run_dir": str(run_dir)})
    finish_run(run_dir, payload, json_out)


def _list(json_out: bool) -> None:
    from tinylarge.orchestrate.config import bundled_scenarios, load_bundled

    rows = []
    for name in bundled_scenarios():
        sc = load_bundled(name)
        rows.append(
            {
                "name": name,
                "devices": sc.devices.n,
                "band": sc.network.band,
                "duration_s": sc.duration_s,
                "description": sc.description,
            }
        )
    console.print(
        table(
            "bundled fleet scenarios",
            ["name", "devices", "band", "duration s", "description"],
            [[r["name"], r["devices"], r["band"], r["duration_s"], r["description"]] for r in rows],
        )
    )
    if json_out:
        emit_json({"scenarios": rows})


def _run(sc, workers: int):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tinylarge.orchestrate.run import simulate as run_simulation
    from tinylarge.orchestrate.workload import WorkloadSpec, load_workload

    console.print(f"[bold]{sc.name}[/]: {sc.devices.n:,} devices, {sc.duration_s:g} s simulated")
    with console.status("workload: real models on the dataset (cached after the first run)"):
        workload = load_workload(WorkloadSpec(dataset=sc.dataset))
    unit = "slots" if workers == 1 else "shards"
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn(f"{{task.percentage:>3.0f}}% of {unit}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=1.0)
        return run_simulation(
            sc, workload, workers=workers, progress=lambda f: bar.update(task, completed=f)
        )


def _report(result, payload) -> None:
    rows = []
    for name, p in payload["policies"].items():
        lat = p["latency_s"]
        rows.append(
            [
                name,
                f"{1e3 * lat['p50']:.1f}",
                f"{1e3 * lat['p95']:.1f}",
                f"{1e3 * lat['p99']:.1f}",
                f"{1e3 * p['energy_j_per_inference']:.3f}",
                f"{100 * p['accuracy']:.2f}",
                f"{100 * p['sla_violation_rate']:.2f}",
                f"{100 * p['edge_utilisation']:.1f}",
                f"{p['objective']:.3f}",
            ]
        )
    cols = ["policy", "p50 ms", "p95 ms", "p99 ms", "mJ/inf", "acc %", "SLA miss %", "edge %", "J"]
    console.print(table(f"{result.scenario.name} (lower J is better)", cols, rows))
    console.print(
        f"{payload['n_requests']:,} requests per policy in {payload['wall_s']:.1f} s wall "
        f"({payload['workers']} worker(s)); metrics in {payload['run_dir']}"
    )


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
