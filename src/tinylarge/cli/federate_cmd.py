"""``tinylarge federate``: learning together on Flower (FL, FedProx, FTL, FML, SL, FSL, FFM).

Parses the options into the framework's config, runs it on Flower's simulation engine (or a
loopback deployment: SuperLink + SuperNodes), shows one progress step per round, writes
``runs/federate-<framework>-<time>/metrics.json`` and plots, and prints the round table
(``--json``: one object on stdout, the interface in :mod:`tinylarge.integrate.federated.result`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from tinylarge.cli.output import JSON_OPTION, console, finish_run, table
from tinylarge.cli.params import (
    CACHE_OPTION,
    DEVICE,
    RUNS_OPTION,
    SEED_TYPE,
    Name,
    build_config,
    config_option,
)
from tinylarge.integrate.federated.config import Engine, FederatedConfig, Framework, RadioConfig

# --selection names -> the selector reference the config carries (orchestrate is a higher layer:
# the integrate package loads it by reference, here is where the name is bound)
SELECTIONS = {
    "random": "random",
    "network-aware": "tinylarge.orchestrate.fl_selection:network_aware",
}
DATASETS = Name("dataset", "tinylarge.integrate.federated.config:federated_datasets")
BANDS = Name("band", "tinylarge.net:list_bands")


class PartitionType(click.ParamType):
    """``iid``, ``dirichlet:ALPHA`` (ALPHA > 0) or ``group`` (one client per subject/speaker)."""

    name = "partition"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from tinylarge.errors import TinylargeError
        from tinylarge.integrate.federated.config import parse_partition

        try:
            parse_partition(str(value))
        except TinylargeError as exc:
            self.fail(str(exc), param, ctx)
        return value


def _opt(field: str, flag: str, help: str, source: type = FederatedConfig) -> Any:
    """An option whose default is the framework's own (``None`` here)."""
    return config_option(
        source, field, flag, default=None, help=f"{help} (default: the framework's)."
    )


def federate(
    framework: Framework = typer.Option(
        Framework.FL,
        "--framework",
        case_sensitive=False,
        help="fl (FedAvg), fedprox, ftl (frozen int8 backbone, federated head), fml (Reptile), "
        "sl (split learning), fsl (SplitFed), ffm (federated LoRA of the text encoder).",
    ),
    dataset: str | None = typer.Option(
        None,
        "--dataset",
        "-d",
        click_type=DATASETS,
        help="Dataset (default: mnist5k; ffm: netops-alarms, synthetic alarm texts).",
    ),
    clients: int = config_option(FederatedConfig, "n_clients", "--clients"),
    rounds: int = config_option(FederatedConfig, "rounds", "--rounds"),
    partition: str = typer.Option(
        "dirichlet:0.3",
        "--partition",
        click_type=PartitionType(),
        help="iid, dirichlet:ALPHA or group (subject/speaker).",
    ),
    seed: int = typer.Option(0, "--seed", click_type=SEED_TYPE, help="Run seed."),
    per_round: int | None = config_option(
        FederatedConfig,
        "clients_per_round",
        "--clients-per-round",
        help="Clients trained per round (default: all training clients).",
    ),
    local_epochs: int | None = _opt("local_epochs", "--local-epochs", "Local epochs per round"),
    local_steps: int | None = _opt("local_steps", "--local-steps", "Local steps instead of epochs"),
    lr: float | None = _opt("lr", "--lr", "Local learning rate"),
    batch_size: int | None = _opt("batch_size", "--batch-size", "Local batch size"),
    mu: float | None = typer.Option(
        None, "--mu", min=0.0, help="FedProx proximal term mu (default: 0.01 for fedprox)."
    ),
    holdout: int | None = _opt("n_holdout_clients", "--holdout", "Held-out clients (few-shot)"),
    finetune_steps: int | None = _opt(
        "finetune_steps", "--finetune-steps", "Personalisation steps"
    ),
    variant: str | None = typer.Option(
        None,
        "--variant",
        click_type=click.Choice(["v1", "v2"]),
        help="SplitFed variant for fsl (default: v1).",
    ),
    selection: str = typer.Option(
        "random",
        "--selection",
        click_type=click.Choice(list(SELECTIONS)),
        help="Client selection: random, or network-aware (TiFL-like tiers by expected round"
        " time from channel and compute, then staleness and energy; the server's outer step keeps"
        " every client's expected FedAvg weight).",
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        click_type=DEVICE,
        help="Client device of the catalog (default: stm32h7a3; ffm: jetson-orin-nano).",
    ),
    band: str = typer.Option("nr-fr1", "--band", click_type=BANDS, help="Radio band."),
    max_distance: float = config_option(RadioConfig, "max_distance_m", "--max-distance"),
    target: float | None = config_option(
        FederatedConfig,
        "accuracy_target",
        "--target",
        help="Report the first round reaching this test accuracy (default: none).",
    ),
    engine: Engine = typer.Option(
        Engine.SIMULATION,
        "--engine",
        case_sensitive=False,
        help="simulation (Flower on Ray) or deployment (SuperLink + SuperNodes on loopback).",
    ),
    runs_dir: Path = RUNS_OPTION,
    cache_dir: Path | None = CACHE_OPTION,
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots to the run."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Train together across TinyML devices and a LargeML server on Flower, and price every round
    with the 6G radio model (bytes, simulated time, device radio and compute energy)."""
    from tinylarge.integrate.federated.registry import config_class, run_framework
    from tinylarge.scenario.rundir import run_folder
    from tinylarge.train import ArtifactCache

    cls = config_class(framework)
    values = {
        "framework": framework,
        "dataset": dataset,
        "n_clients": clients,
        "rounds": rounds,
        "partition": partition,
        "seed": seed,
        "clients_per_round": per_round,
        "local_epochs": local_epochs,
        "local_steps": local_steps,
        "lr": lr,
        "batch_size": batch_size,
        "proximal_mu": mu,
        "n_holdout_clients": holdout,
        "finetune_steps": finetune_steps,
        "variant": variant,
        "selection": SELECTIONS[selection],
        "device": device,
        "accuracy_target": target,
        "engine": engine,
        "radio": RadioConfig(band=band, max_distance_m=max_distance),
    }
    config = build_config(cls, **values)
    from tinylarge.integrate.federated.clients import check_clients

    check_clients(config)  # a partition the data cannot give fails here, before Flower starts
    cache = ArtifactCache(cache_dir) if cache_dir else None
    with run_folder(runs_dir, f"federate-{framework}") as run_dir, RoundBar(config) as step:
        result = run_framework(config, cache=cache, out_dir=run_dir, progress=step)
        payload = result.to_dict()
        if plots:
            from tinylarge.integrate.federated.plots import plot_rounds

            payload["plots"] = plot_rounds(result, run_dir / "plots")
    _report(result)
    finish_run(run_dir, payload, json_out)


class RoundBar:
    """A rich progress bar, one step per round (SL/FSL: epoch)."""

    def __init__(self, config: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.config = config
        self.progress = Progress(
            TextColumn(f"[bold]{config.framework}[/] rounds"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )

    def __enter__(self) -> Any:
        self.progress.start()
        task = self.progress.add_task("rounds", total=self.config.rounds, status="starting")

        def step(rec: Any) -> None:
            acc = "-" if rec.accuracy is None else f"{100 * rec.accuracy:.1f}%"
            status = f"acc {acc}, {rec.cum_sim_time_s:.1f} s simulated"
            self.progress.update(task, completed=rec.round, status=status)

        return step

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()


def _report(result: Any) -> None:
    rows = [
        [
            r.round,
            "-" if r.accuracy is None else f"{100 * r.accuracy:.2f}",
            r.n_clients,
            f"{r.bytes_up / 1e3:.1f}",
            f"{r.bytes_down / 1e3:.1f}",
            f"{r.sim_time_s:.3f}",
            f"{r.device_energy_j:.3f}",
        ]
        for r in result.rounds
    ]
    cols = ["round", "acc %", "clients", "kB up", "kB down", "sim s", "device J"]
    console.print(table(f"{result.config.framework} on {result.config.dataset}", cols, rows))
    s = result.summary
    console.print(
        f"final accuracy {100 * (s['final_accuracy'] or 0):.2f}%, "
        f"{s['bytes_up_per_client_round'] / 1e3:.1f} kB up per client-round, device peak memory "
        f"{s['device_peak_memory_bytes'] / 1024:.0f} KiB on {s['device']} "
        f"({'fits' if s['fits_device_sram'] else 'does not fit'}), wall {result.wall_s:.0f} s"
    )


def register(app: typer.Typer) -> None:
    app.command("federate")(federate)
