"""``tinylarge cascade`` and ``tinylarge split``: TinyML -> LargeML offloading patterns."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table, user_errors


def _check_choice(kind: str, value: str, valid: list[str]) -> None:
    if value not in valid:
        from tinylarge.errors import UnknownNameError

        raise UnknownNameError(kind, value, valid)


def cascade(
    teacher: Path = typer.Argument(
        ..., help="LargeML model checkpoint (.pt), e.g. runs/latest/teacher.pt"
    ),
    student: Path = typer.Argument(..., help="Device model, full-integer int8 .tflite"),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Default: the teacher's."),
    gate: str = typer.Option(
        "max-prob", "--gate", help="max-prob, margin, entropy or learned (logistic regression)."
    ),
    max_drop: float = typer.Option(
        0.002, "--max-drop", help="Allowed accuracy loss vs the teacher alone (0.002 = 0.2 points)."
    ),
    offload_budget: float | None = typer.Option(
        None,
        "--offload-budget",
        help="Instead of --max-drop: most accurate point offloading at most this fraction.",
    ),
    device: str = typer.Option(
        "nrf52840", "--device", help="Catalog device that runs the student."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the accuracy-vs-offload curve PNG here."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration/evaluation split."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Cascade: the int8 student (TFLM) answers when its gate is confident, else the teacher.

    The threshold is calibrated on half of the test set and every number is reported on the other
    half; device energy per inference is compared with sending every input up, on each link.
    """
    from tinylarge.integrate.cascade import CascadeConfig, run_cascade
    from tinylarge.integrate.plots import plot_cascade
    from tinylarge.tiny.gates import Gate

    with user_errors():
        _check_choice("gate", gate, [g.value for g in Gate])
        config = CascadeConfig(
            teacher=teacher, student=student, dataset=dataset, device=device, gate=gate,
            max_accuracy_drop=max_drop, offload_budget=offload_budget, seed=seed,
        )  # fmt: skip
        result = run_cascade(config, progress=True)
    payload = result.to_dict()
    if plot:
        payload["plot"] = str(plot_cascade(result, plot))
    from tinylarge.train.stats import format_ci

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
    if json_out:
        emit_json(payload)


def split(
    model: Path = typer.Argument(
        ..., help="A split-able model checkpoint (.pt), e.g. runs/latest/teacher.pt"
    ),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Default: the checkpoint's."),
    device: str = typer.Option("stm32h7a3", "--device", help="Catalog device running the head."),
    server: str = typer.Option(
        "jetson-orin-nano", "--server", help="Catalog device running the tail."
    ),
    objective: str = typer.Option(
        "latency", "--objective", help="latency or energy (device energy)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Keep each cut's .tflite (and C) here."
    ),
    emit_c: bool = typer.Option(False, "--emit-c", help="Also generate C for every device part."),
    n_eval: int = typer.Option(
        300, "--n-eval", help="Test samples for per-cut accuracy (0 = skip)."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write latency per cut and link PNG here."
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Split computing: cost every cut of the model (device part as real int8 TFLite, profiled),
    and choose the best cut for each uplink from NB-IoT to 6G (Neurosurgeon-style)."""
    from tinylarge.integrate.plots import plot_split
    from tinylarge.integrate.split import Objective, SplitConfig, run_split

    with user_errors():
        _check_choice("objective", objective, [o.value for o in Objective])
        config = SplitConfig(
            model=model, dataset=dataset, device=device, server=server, objective=objective,
            emit_c=emit_c, n_eval=n_eval,
        )  # fmt: skip
        result = run_split(config, out_dir=out, progress=True)
    payload = result.to_dict()
    if plot:
        payload["plot"] = str(plot_split(result, plot))
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
    if json_out:
        emit_json(payload)


def early_exit(
    model: Path = typer.Argument(
        ..., help="The device model checkpoint (.pt), e.g. runs/latest/student.pt"
    ),
    exit_after: int = typer.Option(1, "--exit-after", "-k", help="Blocks before the side exit."),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Default: the checkpoint's."),
    max_drop: float = typer.Option(
        0.002, "--max-drop", help="Allowed accuracy loss vs the final exit (0.002 = 0.2 points)."
    ),
    device: str = typer.Option("nrf52840", "--device", help="Catalog device that runs the model."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Keep the three int8 graphs here."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Early exit: a side classifier after block k answers the easy inputs on the device, the rest
    of the network runs only for the hard ones (BranchyNet-style, int8 graphs run in TFLM)."""
    from tinylarge.integrate.early_exit import EarlyExitConfig, run_early_exit
    from tinylarge.models import load_checkpoint
    from tinylarge.train.stats import format_ci

    with user_errors():
        ckpt = load_checkpoint(model)
        n_blocks = len(ckpt.model.blocks)
        if not 1 <= exit_after < n_blocks:
            from tinylarge.errors import TinylargeError

            raise TinylargeError(
                f"--exit-after {exit_after} is not a cut inside the model: valid 1..{n_blocks - 1}"
            )
        config = EarlyExitConfig(
            model=model, dataset=dataset, exit_after=exit_after, max_accuracy_drop=max_drop,
            device=device,
        )  # fmt: skip
        result = run_early_exit(config, out_dir=out, progress=True)
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
    if json_out:
        emit_json(result.to_dict())


def register(app: typer.Typer) -> None:
    app.command("early-exit")(early_exit)
    app.command("cascade")(cascade)
    app.command("split")(split)
