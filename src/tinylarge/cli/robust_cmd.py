"""``tinylarge robust``: federated learning under poisoning attacks with a robust aggregator, or
with client-level differential privacy (issue 15), on Flower.

Runs :mod:`tinylarge.integrate.federated.robust` (FedAvg-shaped rounds of the student) and prints
the round table plus the attack's outcome (final accuracy, backdoor success rate) or the privacy
spent (epsilon at delta). ``--json``: one object on stdout, as ``tinylarge federate`` prints.
"""

from __future__ import annotations

from pathlib import Path

import click
import typer

from tinylarge.cli.federate_cmd import DATASETS, PartitionType, RoundBar, _report
from tinylarge.cli.output import JSON_OPTION, console, finish_run
from tinylarge.cli.params import RUNS_OPTION, SEED_TYPE, config_option
from tinylarge.integrate.federated.attacks import Attack
from tinylarge.integrate.federated.config import Engine
from tinylarge.integrate.federated.robust import RobustConfig

AGGREGATORS = ["fedavg", "krum", "multikrum", "bulyan", "fedmedian", "fedtrimmedavg", "fltrust"]


def robust(
    aggregator: str = typer.Option(
        "fedavg",
        "--aggregator",
        click_type=click.Choice([*AGGREGATORS, "dp-fedavg"]),
        help="Server rule: Flower's krum, multikrum, bulyan, fedmedian, fedtrimmedavg; fltrust; "
        "dp-fedavg (client clipping + Gaussian noise; needs --epsilon or --noise).",
    ),
    attack: Attack = typer.Option(
        Attack.NONE, "--attack", case_sensitive=False, help="What the malicious clients do."
    ),
    malicious: float = config_option(RobustConfig, "malicious_fraction", "--malicious"),
    scale: float = config_option(RobustConfig, "attack_scale", "--scale"),
    epsilon: float | None = config_option(
        RobustConfig,
        "dp_epsilon",
        "--epsilon",
        help="dp-fedavg: target epsilon at delta 1e-5 (default: none, give --noise).",
    ),
    noise: float | None = config_option(
        RobustConfig,
        "dp_noise_multiplier",
        "--noise",
        help="dp-fedavg: noise multiplier z instead of --epsilon (default: none).",
    ),
    clip: float = config_option(RobustConfig, "dp_clip", "--clip"),
    dataset: str = typer.Option(
        "mnist5k", "--dataset", "-d", click_type=DATASETS, help="Dataset (images for backdoor)."
    ),
    clients: int = config_option(RobustConfig, "n_clients", "--clients"),
    rounds: int = config_option(RobustConfig, "rounds", "--rounds"),
    partition: str = typer.Option(
        "dirichlet:0.3", "--partition", click_type=PartitionType(), help="iid or dirichlet:ALPHA."
    ),
    seed: int = typer.Option(0, "--seed", click_type=SEED_TYPE, help="Run seed."),
    engine: Engine = typer.Option(
        Engine.SIMULATION, "--engine", case_sensitive=False, help="simulation or deployment."
    ),
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Attack a federation and defend it (robust aggregation), or train it with client-level DP."""
    from tinylarge.integrate.federated.clients import check_clients
    from tinylarge.integrate.federated.robust import run_robust
    from tinylarge.scenario.rundir import run_folder

    config = RobustConfig(
        strategy=aggregator,
        attack=attack,
        malicious_fraction=malicious,
        attack_scale=scale,
        dp_epsilon=epsilon,
        dp_noise_multiplier=noise,
        dp_clip=clip,
        dataset=dataset,
        n_clients=clients,
        rounds=rounds,
        partition=partition,
        seed=seed,
        engine=engine,
    )
    check_clients(config)
    with run_folder(runs_dir, f"robust-{aggregator}") as run_dir, RoundBar(config) as step:
        result = run_robust(config, out_dir=run_dir, progress=step)
    _report(result)
    s = result.summary
    extra = [f"{s['n_malicious']} attacker(s) ({attack})"]
    if s.get("attack_success_rate") is not None:
        extra.append(f"backdoor success {100 * s['attack_success_rate']:.1f}%")
    if s.get("dp_epsilon") is not None:
        extra.append(f"epsilon {s['dp_epsilon']:.2f} at delta {s['dp_delta']:g}")
    console.print(", ".join(extra))
    finish_run(run_dir, result.to_dict(), json_out)


def register(app: typer.Typer) -> None:
    app.command("robust")(robust)
