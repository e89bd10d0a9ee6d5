"""``tinylarge distill | transfer | label | search``: the LargeML -> TinyML patterns.

Each command parses its options into the pattern's config, calls ``run_<pattern>`` once, writes
``runs/<command>-<timestamp>/metrics.json`` (and the int8 models / plots there), and prints the
headline numbers (``--json``: one object on stdout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table, user_errors

DATASET_OPTION = typer.Option("mnist5k", "--dataset", "-d", help="Bundled dataset name.")
SEEDS_OPTION = typer.Option("0", "--seeds", help="Comma-separated student seeds, e.g. 0,1,2.")
CACHE_OPTION = typer.Option(None, "--cache-dir", help="Trained-model cache [~/.cache/tinylarge].")
RUNS_OPTION = typer.Option(Path("runs"), "--runs-dir", help="Where run folders go.")


def _ints(text: str, what: str) -> list[int]:
    return [int(v) for v in _items(text, what, int)]


def _items(text: str, what: str, kind: type) -> list[Any]:
    from tinylarge.errors import TinylargeError

    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise TinylargeError(f"{what} must be a comma-separated list, got {text!r}") from None
    if not values:
        raise TinylargeError(f"{what} is empty")
    return values


def _config(cls: type, **fields: Any) -> Any:
    """Build a pydantic config; its validation errors become one-line user errors."""
    from pydantic import ValidationError

    from tinylarge.errors import TinylargeError

    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TinylargeError(f"invalid {where}: {first['msg']}") from None


def _student(family: str | None, width: int | None, depth: int | None, stride: int | None):
    from tinylarge.models import ModelSpec

    if family is None:
        return None
    return _config(ModelSpec, name=family, width=width, depth=depth, stem_stride=stride)


def _run_dir(runs_dir: Path, name: str) -> Path:
    from tinylarge.scenario.rundir import new_run_dir, point_latest

    run_dir = new_run_dir(runs_dir, name)
    point_latest(run_dir)
    return run_dir


def _finish(run_dir: Path, payload: dict[str, Any], json_out: bool) -> None:
    from tinylarge.scenario.rundir import write_json_atomic

    payload = {**payload, "run_dir": str(run_dir)}
    write_json_atomic(run_dir / "metrics.json", payload)
    if json_out:
        emit_json(payload)
    else:
        console.print(f"metrics: {run_dir / 'metrics.json'}")


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
    dataset: str = DATASET_OPTION,
    family: str | None = typer.Option(None, "--family", help="Student family [preset]."),
    width: int | None = typer.Option(None, "--width", help="Student width."),
    depth: int | None = typer.Option(None, "--depth", help="Student depth."),
    stem_stride: int | None = typer.Option(None, "--stem-stride", help="Student stem stride."),
    temperature: float = typer.Option(4.0, "--temperature", "-T", help="Soft-target T."),
    alpha: float = typer.Option(0.9, "--alpha", help="Weight of the soft-target loss."),
    feature: str = typer.Option("none", "--feature", help="Feature loss: none or attention."),
    seeds: str = SEEDS_OPTION,
    epochs: int | None = typer.Option(None, "--epochs", help="Student epochs [preset]."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also train w/o teacher."),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="Quantize; report TFLM accuracy."),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Distil the LargeML teacher into a tiny int8 student (Hinton KD, optional attention).

    Reports the teacher, the distilled student and the same student trained without the teacher
    (mean and 95% t-interval over --seeds, gain paired by seed with a t-test); student accuracies
    are int8 in the TFLM interpreter.
    """
    from tinylarge.errors import UnknownNameError
    from tinylarge.integrate import DistillConfig, FeatureLoss, run_distill
    from tinylarge.train import ArtifactCache

    with user_errors():
        if feature not in [f.value for f in FeatureLoss]:
            raise UnknownNameError("feature loss", feature, [f.value for f in FeatureLoss])
        config = _config(
            DistillConfig,
            dataset=dataset,
            student=_student(family, width, depth, stem_stride),
            temperature=temperature,
            alpha=alpha,
            feature_loss=feature,
            seeds=_ints(seeds, "--seeds"),
            epochs=epochs,
            compare_baseline=baseline,
            int8=int8,
        )
        run_dir = _run_dir(runs_dir, "distill")
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
    _finish(run_dir, {"command": "distill", **s, "result": result.to_dict()}, json_out)


def transfer(
    dataset: str = DATASET_OPTION,
    fractions: str = typer.Option("0.01,0.05,0.1", "--fractions", help="Labelled shares."),
    mode: str = typer.Option("finetune", "--mode", help="finetune or linear_probe."),
    family: str | None = typer.Option(None, "--family", help="Student family [preset]."),
    width: int | None = typer.Option(None, "--width"),
    depth: int | None = typer.Option(None, "--depth"),
    seeds: str = SEEDS_OPTION,
    int8: bool = typer.Option(True, "--int8/--no-int8"),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Transfer learning with few device labels vs training from scratch on the same labels."""
    from tinylarge.errors import UnknownNameError
    from tinylarge.integrate import TransferConfig, TransferMode, run_transfer
    from tinylarge.train import ArtifactCache

    with user_errors():
        if mode not in [m.value for m in TransferMode]:
            raise UnknownNameError("transfer mode", mode, [m.value for m in TransferMode])
        config = _config(
            TransferConfig,
            dataset=dataset,
            label_fractions=_items(fractions, "--fractions", float),
            mode=mode,
            student=_student(family, width, depth, None),
            seeds=_ints(seeds, "--seeds"),
            int8=int8,
        )
        run_dir = _run_dir(runs_dir, "transfer")
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
    _finish(
        run_dir, {"command": "transfer", **result.summary, "result": result.to_dict()}, json_out
    )


def label(
    dataset: str = DATASET_OPTION,
    label_fraction: float = typer.Option(0.05, "--label-fraction", help="Labelled share."),
    threshold: float = typer.Option(0.9, "--threshold", help="Teacher confidence to keep."),
    seeds: str = SEEDS_OPTION,
    int8: bool = typer.Option(True, "--int8/--no-int8"),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """The LargeML teacher pseudo-labels unlabelled device data; the student learns from it."""
    from tinylarge.integrate import LabelConfig, run_label
    from tinylarge.train import ArtifactCache

    with user_errors():
        config = _config(
            LabelConfig,
            dataset=dataset,
            label_fraction=label_fraction,
            confidence_threshold=threshold,
            seeds=_ints(seeds, "--seeds"),
            int8=int8,
        )
        run_dir = _run_dir(runs_dir, "label")
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
    _finish(run_dir, {"command": "label", **s, "result": result.to_dict()}, json_out)


def search(
    device: list[str] = typer.Option(
        ["mcu"], "--device", help="Catalog device (repeatable); 'mcu' = every MCU, 'all'."
    ),
    dataset: str = DATASET_OPTION,
    flash_bytes: int | None = typer.Option(None, "--flash-bytes", help="[device flash]"),
    ram_bytes: int | None = typer.Option(None, "--ram-bytes", help="[device SRAM]"),
    latency_s: float | None = typer.Option(None, "--latency-s", help="Per inference [none]."),
    energy_j: float | None = typer.Option(None, "--energy-j", help="Per inference [none]."),
    families: str | None = typer.Option(None, "--families", help="e.g. cnn2d,dscnn2d"),
    widths: str = typer.Option("8,16,32", "--widths"),
    depths: str = typer.Option("2,3", "--depths"),
    strides: str = typer.Option("1,2", "--stem-strides", help="Resolution: 2 halves it."),
    proxy_epochs: int | None = typer.Option(None, "--proxy-epochs", help="[3 images, 30 series]"),
    distill_winner: bool = typer.Option(True, "--distill/--no-distill", help="Distil the winner."),
    distill_epochs: int | None = typer.Option(None, "--distill-epochs"),
    seed: int = typer.Option(0, "--seed"),
    cache_dir: Path | None = CACHE_OPTION,
    runs_dir: Path = RUNS_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """The most accurate int8 student that fits each device's budgets (measured TFLM arena).

    Writes a Pareto table (stderr) and runs/search-*/search_<device>.png per device.
    """
    from tinylarge.integrate import Budget, SearchConfig, SearchSpace, run_search
    from tinylarge.train import ArtifactCache

    with user_errors():
        space = _config(
            SearchSpace,
            families=_items(families, "--families", str) if families else None,
            widths=_ints(widths, "--widths"),
            depths=_ints(depths, "--depths"),
            stem_strides=_ints(strides, "--stem-strides"),
        )
        budget = _config(
            Budget,
            flash_bytes=flash_bytes,
            ram_bytes=ram_bytes,
            latency_s=latency_s,
            energy_j=energy_j,
        )
        config = _config(
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
        config.device_names()  # unknown device names fail here, before any training
        run_dir = _run_dir(runs_dir, "search")
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
    _finish(run_dir, {"command": "search", **result.summary, "result": result.to_dict()}, json_out)


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
    app.command("transfer")(transfer)
    app.command("label")(label)
    app.command("search")(search)
