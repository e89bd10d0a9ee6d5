"""``tinylarge distill | transfer | label | search``: the LargeML -> TinyML patterns.

Each command parses its options into the pattern's config, calls ``run_<pattern>`` once, writes
``runs/<command>-<timestamp>/metrics.json`` (and the int8 models / plots there), and prints the
headline numbers (``--json``: one object on stdout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from tinylarge.cli.output import JSON_OPTION, console, finish_run, table
from tinylarge.cli.params import (
    CACHE_OPTION,
    DATASET,
    FAMILY,
    RUNS_OPTION,
    SEED_TYPE,
    CommaList,
    Name,
    build_config,
    config_option,
)
from tinylarge.integrate import (
    Budget,
    DistillConfig,
    FeatureLoss,
    LabelConfig,
    SearchConfig,
    SearchSpace,
    TransferConfig,
    TransferMode,
)
from tinylarge.models import ModelSpec
from tinylarge.scenario.rundir import run_folder

SEEDS = CommaList(SEED_TYPE)
DEVICE_NAMES = "tinylarge.tiny.devices:list_devices"
DATASET_HELP = "Bundled dataset (`tinylarge datasets`)."
INT8_HELP = "Quantize the students and report their int8 accuracy in TFLM."
SIZES = CommaList(click.IntRange(1))
FAMILY_OPTION = typer.Option(
    None, "--family", click_type=FAMILY, help="Student family (default: the dataset's preset)."
)


def _dataset(config: type) -> Any:
    return config_option(
        config, "dataset", "--dataset", "-d", click_type=DATASET, help=DATASET_HELP
    )


def _seeds(config: type) -> Any:
    return config_option(config, "seeds", "--seeds", click_type=SEEDS, help="Student seeds.")


def _spec(field: str, flag: str) -> Any:
    return config_option(
        ModelSpec, field, flag, default=None, help=f"Student {flag[2:]} (default: the preset's)."
    )


def _student(family: str | None, width: int | None, depth: int | None, stride: int | None):
    if family is None:
        if (width, depth, stride) != (None, None, None):
            from tinylarge.errors import TinylargeError

            raise TinylargeError("--width, --depth and --stem-stride need --family")
        return None
    return build_config(ModelSpec, name=family, width=width, depth=depth, stem_stride=stride)


def _pct(x: dict[str, float] | float | None) -> str:
    """A share as a percentage; a mean over seeds with its 95 % interval (and p of a gain)."""
    from tinylarge.train.stats import format_ci

    if x is None:
        return "-"
    if isinstance(x, dict):
        p = f" p={x['p_value']:.2g}" if "p_value" in x and x["n"] > 1 else ""
        return format_ci(x) + p
    return f"{100 * x:.2f}%"


def distill(
    dataset: str = _dataset(DistillConfig),
    family: str | None = FAMILY_OPTION,
    width: int | None = _spec("width", "--width"),
    depth: int | None = _spec("depth", "--depth"),
    stem_stride: int | None = _spec("stem_stride", "--stem-stride"),
    temperature: float = config_option(DistillConfig, "temperature", "--temperature", "-T"),
    alpha: float = config_option(DistillConfig, "alpha", "--alpha"),
    feature: FeatureLoss = config_option(
        DistillConfig, "feature_loss", "--feature", help="Feature loss besides soft targets."
    ),
    seeds: str = _seeds(DistillConfig),
    epochs: int | None = config_option(DistillConfig, "epochs", "--epochs"),
    baseline: bool = config_option(DistillConfig, "compare_baseline", "--baseline/--no-baseline"),
    int8: bool = config_option(DistillConfig, "int8", "--int8/--no-int8", help=INT8_HELP),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Distil the LargeML teacher into a tiny int8 student (Hinton KD, optional attention).

    Reports the teacher, the distilled student and the same student trained without the teacher
    (mean and 95% t-interval over --seeds, gain paired by seed with a t-test); student accuracies
    are int8 in the TFLM interpreter.
    """
    from tinylarge.integrate import run_distill
    from tinylarge.train import ArtifactCache

    config = build_config(
        DistillConfig,
        dataset=dataset,
        student=_student(family, width, depth, stem_stride),
        temperature=temperature,
        alpha=alpha,
        feature_loss=feature,
        seeds=seeds,
        epochs=epochs,
        compare_baseline=baseline,
        int8=int8,
    )
    with run_folder(runs_dir, "distill") as run_dir:
        result = run_distill(config, cache=ArtifactCache(cache_dir), out_dir=run_dir, progress=True)
    s = result.summary
    rows = [["teacher", result.teacher.params, _pct(s["teacher_accuracy"])]]
    rows.append(["student (distilled)", s["student_params"], _pct(s["student_accuracy"])])
    if "baseline_accuracy" in s:
        rows.append(["student (no teacher)", s["student_params"], _pct(s["baseline_accuracy"])])
    console.print(table(f"distill on {result.dataset}", ["model", "params", "accuracy"], rows))
    console.print(
        f"params ratio {100 * s['param_ratio']:.2f}%, student/teacher accuracy "
        f"{100 * s['accuracy_ratio']['mean']:.2f}%"
        + (f", gain vs no teacher {_pct(s['gain'])}" if "gain" in s else "")
    )
    finish_run(run_dir, {"command": "distill", **s, "result": result.to_dict()}, json_out)


def transfer(
    dataset: str = _dataset(TransferConfig),
    fractions: str = config_option(
        TransferConfig,
        "label_fractions",
        "--fractions",
        click_type=CommaList(click.FloatRange(0, 1, min_open=True)),
    ),
    mode: TransferMode = config_option(
        TransferConfig, "mode", "--mode", help="Fine-tune everything, or train the head only."
    ),
    family: str | None = FAMILY_OPTION,
    width: int | None = _spec("width", "--width"),
    depth: int | None = _spec("depth", "--depth"),
    seeds: str = _seeds(TransferConfig),
    int8: bool = config_option(TransferConfig, "int8", "--int8/--no-int8", help=INT8_HELP),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Transfer learning with few device labels vs training from scratch on the same labels."""
    from tinylarge.integrate import run_transfer
    from tinylarge.train import ArtifactCache

    config = build_config(
        TransferConfig,
        dataset=dataset,
        label_fractions=fractions,
        mode=mode,
        student=_student(family, width, depth, None),
        seeds=seeds,
        int8=int8,
    )
    with run_folder(runs_dir, "transfer") as run_dir:
        result = run_transfer(
            config, cache=ArtifactCache(cache_dir), out_dir=run_dir, progress=True
        )
    rows = [
        [
            f"{100 * r.label_fraction:g}%",
            r.n_labels,
            _pct(r.scratch_accuracy),
            _pct(r.transfer_accuracy),
            _pct(r.gain),
        ]
        for r in result.rows
    ]
    console.print(
        table(
            f"transfer on {result.dataset} ({config.mode})",
            ["labels", "n", "scratch", "transfer", "gain"],
            rows,
        )
    )
    finish_run(
        run_dir, {"command": "transfer", **result.summary, "result": result.to_dict()}, json_out
    )


def label(
    dataset: str = _dataset(LabelConfig),
    label_fraction: float = config_option(LabelConfig, "label_fraction", "--label-fraction"),
    threshold: float = config_option(
        LabelConfig,
        "confidence_threshold",
        "--threshold",
        help="Keep a pseudo-label when the teacher's max probability reaches this.",
    ),
    seeds: str = _seeds(LabelConfig),
    int8: bool = config_option(LabelConfig, "int8", "--int8/--no-int8", help=INT8_HELP),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """The LargeML teacher pseudo-labels unlabelled device data; the student learns from it."""
    from tinylarge.integrate import run_label
    from tinylarge.train import ArtifactCache

    config = build_config(
        LabelConfig,
        dataset=dataset,
        label_fraction=label_fraction,
        confidence_threshold=threshold,
        seeds=seeds,
        int8=int8,
    )
    with run_folder(runs_dir, "label") as run_dir:
        result = run_label(config, cache=ArtifactCache(cache_dir), out_dir=run_dir, progress=True)
    s = result.summary
    console.print(
        f"{result.n_labelled} labelled, {result.n_unlabelled} unlabelled; pseudo-labels cover "
        f"{_pct(s['pseudo_label_coverage'])} at {_pct(s['pseudo_label_accuracy'])} accuracy"
    )
    console.print(
        f"student: pseudo-labelled {_pct(s['student_accuracy'])} vs labelled-only "
        f"{_pct(s['labelled_only_accuracy'])} (teacher {_pct(s['teacher_accuracy'])})"
    )
    finish_run(run_dir, {"command": "label", **s, "result": result.to_dict()}, json_out)


def search(
    device: str = config_option(
        SearchConfig,
        "devices",
        "--device",
        click_type=CommaList(Name("device", DEVICE_NAMES, extra=("all", "mcu"))),
        help="Catalog devices (comma list); mcu = every microcontroller, all = every device.",
    ),
    dataset: str = _dataset(SearchConfig),
    flash_bytes: int | None = config_option(
        Budget, "flash_bytes", "--flash-bytes", help="Flash budget, bytes (default: the device's)."
    ),
    ram_bytes: int | None = config_option(
        Budget, "ram_bytes", "--ram-bytes", help="RAM budget, bytes (default: the device's SRAM)."
    ),
    latency_s: float | None = config_option(
        Budget,
        "latency_s",
        "--latency-s",
        help="Latency budget per inference, seconds (default: none).",
    ),
    energy_j: float | None = config_option(
        Budget,
        "energy_j",
        "--energy-j",
        help="Energy budget per inference, joules (default: none).",
    ),
    families: str | None = typer.Option(
        None,
        "--families",
        click_type=CommaList(FAMILY),
        help="Student families to try, e.g. cnn2d,dscnn2d (default: the dataset kind's).",
    ),
    widths: str = config_option(
        SearchSpace, "widths", "--widths", click_type=SIZES, help="Stem widths to try."
    ),
    depths: str = config_option(
        SearchSpace, "depths", "--depths", click_type=SIZES, help="Stage counts to try."
    ),
    strides: str = config_option(
        SearchSpace,
        "stem_strides",
        "--stem-strides",
        click_type=SIZES,
        help="Stem strides to try: resolution, 2 halves it.",
    ),
    proxy_epochs: int | None = config_option(
        SearchConfig,
        "proxy_epochs",
        "--proxy-epochs",
        help="Epochs of each candidate (default: 3 images, 30 series).",
    ),
    distill_winner: bool = config_option(
        SearchConfig, "distill_winner", "--distill/--no-distill", help="Distil each winner."
    ),
    distill_epochs: int | None = config_option(
        SearchConfig,
        "distill_epochs",
        "--distill-epochs",
        help="Epochs of each winner's distillation (default: the preset's).",
    ),
    seed: int = config_option(
        SearchConfig, "seed", "--seed", click_type=SEED_TYPE, help="Seed of the candidates."
    ),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """The most accurate int8 student that fits each device's budgets (measured TFLM arena).

    Writes a Pareto table (stderr) and runs/search-*/search_<device>.png per device.
    """
    from tinylarge.integrate import run_search
    from tinylarge.train import ArtifactCache

    space = build_config(
        SearchSpace, families=families, widths=widths, depths=depths, stem_strides=strides
    )
    budget = build_config(
        Budget, flash_bytes=flash_bytes, ram_bytes=ram_bytes, latency_s=latency_s, energy_j=energy_j
    )
    config = build_config(
        SearchConfig,
        dataset=dataset,
        devices=device,
        budget=budget,
        space=space,
        proxy_epochs=proxy_epochs,
        distill_winner=distill_winner,
        distill_epochs=distill_epochs,
        seed=seed,
    )
    with run_folder(runs_dir, "search") as run_dir:
        result = run_search(config, cache=ArtifactCache(cache_dir), out_dir=run_dir, progress=True)
    for dev in result.devices:
        rows = [
            [
                r["candidate"],
                r["params"],
                _pct(r["val_int8_accuracy"]),
                f"{1e3 * r['latency_s']:.3g}",
                f"{1e3 * r['energy_j']:.3g}",
                r["ram_bytes"],
                r["flash_bytes"],
                ("*" if r["pareto"] else "") + ("fits" if r["fits"] else "no"),
            ]
            for r in sorted(dev.rows, key=lambda r: -r["val_int8_accuracy"])
        ]
        cols = ["model", "params", "val int8", "ms", "mJ", "RAM B", "flash B", "fits"]
        console.print(table(f"{dev.device} (* = Pareto front)", cols, rows))
        if dev.winner is None:
            console.print(f"[bold]{dev.device}[/]: {dev.reason}")
        elif dev.final:
            f = dev.final
            console.print(
                f"[bold]{dev.device}[/]: {dev.winner}, distilled int8 {_pct(f['int8_accuracy'])}, "
                f"arena {f['tflm_arena_bytes']} B, RAM {f['ram_bytes']} / {dev.budget['ram_bytes']}"
                f" B, flash {f['flash_bytes']} / {dev.budget['flash_bytes']} B, "
                f"within budget: {f['within_budget']}"
            )
    finish_run(
        run_dir, {"command": "search", **result.summary, "result": result.to_dict()}, json_out
    )


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
    app.command("transfer")(transfer)
    app.command("label")(label)
    app.command("search")(search)
