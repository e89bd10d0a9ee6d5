"""``tinylarge cascade | split | early-exit``: TinyML -> LargeML offloading patterns.

Each writes ``runs/<command>-<timestamp>/`` (``metrics.json``, plots, the int8 graphs it built).
"""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, finish_run, table
from tinylarge.cli.params import (
    CHECKPOINT,
    DEVICE,
    LINKS_OPTION,
    OUT_FILE,
    RUNS_OPTION,
    SEED_TYPE,
    TFLITE,
    build_config,
    config_option,
    dataset_option,
    model_argument,
    out_option,
)
from tinylarge.integrate.cascade import CascadeConfig
from tinylarge.integrate.early_exit import EarlyExitConfig
from tinylarge.integrate.split import Objective, SplitConfig
from tinylarge.scenario.rundir import run_folder
from tinylarge.tiny.gates import Gate

BUDGET_HELP = "Instead of --max-drop: best point sending at most this share up (default: off)."
DROP_HELP = "Allowed accuracy loss vs the {}, a fraction (0.002 = 0.2 points)."


def cascade(
    teacher: Path = model_argument(CHECKPOINT, "LargeML checkpoint, e.g. a demo's teacher.pt."),
    student: Path = model_argument(TFLITE, "Device model, a full-integer int8 .tflite."),
    dataset: str | None = dataset_option(None, "Test data (default: the teacher's)."),
    gate: Gate = config_option(
        CascadeConfig, "gate", "--gate", help="Confidence score; learned = logistic regression."
    ),
    max_drop: float | None = config_option(
        CascadeConfig, "max_accuracy_drop", "--max-drop", help=DROP_HELP.format("teacher alone")
    ),
    offload_budget: float | None = config_option(
        CascadeConfig, "offload_budget", "--offload-budget", help=BUDGET_HELP
    ),
    device: str = config_option(
        CascadeConfig, "device", "--device", click_type=DEVICE, help="Runs the student."
    ),
    links: str | None = LINKS_OPTION,
    plot: Path | None = typer.Option(
        None, "--plot", click_type=OUT_FILE, help="Accuracy-vs-offload PNG (default: in the run)."
    ),
    seed: int = config_option(
        CascadeConfig, "seed", "--seed", click_type=SEED_TYPE, help="Seed of the split."
    ),
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Cascade: the int8 student (TFLM) answers when its gate is confident, else the teacher.

    The threshold is calibrated on half of the test set and every number is reported on the other
    half; device energy per inference is compared with sending every input up, on each link.
    """
    from tinylarge.integrate.cascade import run_cascade
    from tinylarge.integrate.plots import plot_cascade
    from tinylarge.train.stats import format_ci

    config = build_config(
        CascadeConfig, teacher=teacher, student=student, dataset=dataset, device=device,
        links=links, gate=gate, max_accuracy_drop=max_drop, offload_budget=offload_budget,
        seed=seed,
    )  # fmt: skip
    with run_folder(runs_dir, "cascade") as run_dir:
        result = run_cascade(config, out_dir=run_dir, progress=True)
        payload = result.to_dict()
        payload["plot"] = str(plot_cascade(result, plot or run_dir / "plots" / "cascade.png"))
    s = result.summary
    console.print(
        f"cascade ({result.gate}): accuracy {100 * result.accuracy:.2f}% "
        f"(student {100 * result.small_accuracy:.2f}%, teacher {100 * result.big_accuracy:.2f}%) "
        f"offloading {100 * result.offload_fraction:.1f}% of inputs "
        f"(threshold {result.threshold:.4f})"
    )
    console.print(
        f"over {s['n_splits']} calibration/evaluation splits: accuracy {format_ci(s['accuracy'])}"
        f", vs teacher {format_ci(s['vs_teacher'], unit=' points')} "
        f"(p = {s['vs_teacher']['p_value']:.3g}), offloading {format_ci(s['offload_fraction'])}"
    )
    rows = [
        [
            e["link"],
            f"{1e3 * e['cascade_energy_j']:.4f}",
            f"{1e3 * e['all_offload_energy_j']:.4f}",
            f"{100 * e['saving']:.1f}%",
            f"{1e3 * e['cascade_latency_s']:.2f}",
            f"{1e3 * e['all_offload_latency_s']:.2f}",
        ]
        for e in result.energy
    ]
    cols = ["link", "cascade mJ", "all-offload mJ", "saving", "cascade ms", "all-offload ms"]
    console.print(table(f"device energy per inference on {device}", cols, rows))
    finish_run(run_dir, {"command": "cascade", **payload}, json_out)


def split(
    model: Path = model_argument(CHECKPOINT, "A split-able checkpoint, e.g. a demo's teacher.pt."),
    dataset: str | None = dataset_option(None, "Test data (default: the checkpoint's)."),
    device: str = config_option(
        SplitConfig, "device", "--device", click_type=DEVICE, help="Catalog device, the head."
    ),
    server: str = config_option(
        SplitConfig, "server", "--server", click_type=DEVICE, help="Catalog device, the tail."
    ),
    links: str | None = LINKS_OPTION,
    objective: Objective = config_option(
        SplitConfig, "objective", "--objective", help="What the best cut minimises (device energy)."
    ),
    out: Path | None = out_option(None, "Each cut's .tflite (and C) (default: the run folder)."),
    emit_c: bool = config_option(SplitConfig, "emit_c", "--emit-c/--no-emit-c"),
    n_eval: int = config_option(SplitConfig, "n_eval", "--n-eval"),
    plot: Path | None = typer.Option(
        None, "--plot", click_type=OUT_FILE, help="Latency per cut and link PNG (default: in run)."
    ),
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Split computing: cost every cut of the model (device part as real int8 TFLite, profiled),
    and choose the best cut for each uplink from NB-IoT to 6G (Neurosurgeon-style)."""
    from tinylarge.integrate.plots import plot_split
    from tinylarge.integrate.split import run_split

    config = build_config(
        SplitConfig, model=model, dataset=dataset, device=device, server=server, links=links,
        objective=objective, emit_c=emit_c, n_eval=n_eval,
    )  # fmt: skip
    with run_folder(runs_dir, "split") as run_dir:
        result = run_split(config, out_dir=out or run_dir / "cuts", progress=True)
        payload = result.to_dict()
        payload["plot"] = str(plot_split(result, plot or run_dir / "plots" / "split.png"))
    rows = [
        [
            c.cut,
            f"{1e3 * c.device_latency_s:.3f}",
            f"{1e3 * c.device_energy_j:.4f}",
            c.sent_bytes,
            f"{1e3 * c.server_latency_s:.3f}",
            "yes" if c.fits else "no: " + "; ".join(c.reasons),
            "-" if c.accuracy is None else f"{100 * c.accuracy:.1f}%",
        ]
        for c in result.cuts
    ]
    cols = ["cut", "device ms", "device mJ", "sent B", "server ms", "fits", "accuracy"]
    console.print(table(f"cuts: {device} -> {server}", cols, rows))
    unit = "s" if objective == "latency" else "J"
    key = "latency_s" if objective == "latency" else "energy_j"
    rows = [
        [
            ch.link,
            f"{ch.rate_bps:.3g}",
            ch.best_cut,
            f"{getattr(ch, key):.4g}",
            f"{getattr(ch, 'all_server_' + key):.4g}",
            "-" if ch.all_device_latency_s is None else f"{getattr(ch, 'all_device_' + key):.4g}",
        ]
        for ch in result.choices
    ]
    cols = [
        "link",
        "rate b/s",
        "best cut",
        f"best ({unit})",
        f"all server ({unit})",
        f"all device ({unit})",
    ]
    console.print(table(f"best cut per link ({objective})", cols, rows))
    console.print(f"optimiser matches brute force: {result.optimiser_matches_brute_force}")
    finish_run(run_dir, {"command": "split", **payload}, json_out)


def early_exit(
    model: Path = model_argument(CHECKPOINT, "Device model checkpoint, e.g. a demo's student.pt."),
    exit_after: int = config_option(
        EarlyExitConfig, "exit_after", "--exit-after", "-k", help="Blocks before the side exit."
    ),
    dataset: str | None = dataset_option(None, "Training and test data (default: the model's)."),
    gate: Gate = config_option(
        EarlyExitConfig, "gate", "--gate", help="Confidence score; learned = logistic regression."
    ),
    max_drop: float = config_option(
        EarlyExitConfig, "max_accuracy_drop", "--max-drop", help=DROP_HELP.format("final exit")
    ),
    device: str = config_option(
        EarlyExitConfig, "device", "--device", click_type=DEVICE, help="Catalog device."
    ),
    out: Path | None = out_option(None, "The three int8 graphs (default: the run folder)."),
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Early exit: a side classifier after block k answers the easy inputs on the device, the rest
    of the network runs only for the hard ones (BranchyNet-style, int8 graphs run in TFLM)."""
    from tinylarge.errors import TinylargeError
    from tinylarge.integrate.early_exit import run_early_exit
    from tinylarge.models import load_checkpoint
    from tinylarge.train.stats import format_ci

    config = build_config(
        EarlyExitConfig, model=model, dataset=dataset, exit_after=exit_after, gate=gate,
        max_accuracy_drop=max_drop, device=device,
    )  # fmt: skip
    n_blocks = len(load_checkpoint(model).model.blocks)
    if not 1 <= exit_after < n_blocks:
        raise TinylargeError(
            f"--exit-after {exit_after} is not a cut inside the model: valid 1..{n_blocks - 1}"
        )
    with run_folder(runs_dir, "early-exit") as run_dir:
        result = run_early_exit(config, out_dir=out or run_dir / "graphs", progress=True)
    console.print(
        f"early exit after block {exit_after}: {100 * result.exit_fraction:.1f}% of inputs exit; "
        f"accuracy {100 * result.accuracy:.2f}% "
        f"(final exit alone {100 * result.big_accuracy:.2f}%, "
        f"side exit alone {100 * result.small_accuracy:.2f}%)"
    )
    console.print(
        f"on {device}: {1e3 * result.latency_s:.2f} ms vs {1e3 * result.full_latency_s:.2f} ms, "
        f"{1e3 * result.energy_j:.4f} mJ vs {1e3 * result.full_energy_j:.4f} mJ "
        f"({100 * result.energy_saving:.1f}% saved)"
    )
    s = result.summary
    console.print(
        f"over {s['n_splits']} calibration/evaluation splits: accuracy {format_ci(s['accuracy'])}"
        f", vs final exit {format_ci(s['vs_final_exit'], unit=' points')} "
        f"(p = {s['vs_final_exit']['p_value']:.3g}), energy saved {format_ci(s['energy_saving'])}"
    )
    finish_run(run_dir, {"command": "early-exit", **result.to_dict()}, json_out)


def register(app: typer.Typer) -> None:
    app.command("early-exit")(early_exit)
    app.command("cascade")(cascade)
    app.command("split")(split)
