"""``tinylarge quantize``: a PyTorch checkpoint -> a full-integer int8 ``.tflite``, run in TFLM."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import CHECKPOINT, OUT_FILE, SEED_TYPE, dataset_option, default_of
from tinylarge.tiny.quantize import quantize_checkpoint


def quantize(
    checkpoint: Path = typer.Argument(..., click_type=CHECKPOINT, help="A tinylarge checkpoint."),
    out: Path = typer.Option(
        ..., "--out", "-o", click_type=OUT_FILE, help="The int8 .tflite to write (atomically)."
    ),
    dataset: str | None = dataset_option(None, "Calibration and test data (default: its own)."),
    qat: bool = typer.Option(
        default_of(quantize_checkpoint, "qat"),
        "--qat/--no-qat",
        help="Quantization-aware fine-tuning before the conversion.",
    ),
    n_calibration: int = typer.Option(
        default_of(quantize_checkpoint, "n_calibration"),
        "--n-calibration",
        min=1,
        help="Training samples that calibrate the activation ranges.",
    ),
    seed: int = typer.Option(
        default_of(quantize_checkpoint, "seed"),
        "--seed",
        click_type=SEED_TYPE,
        help="Seed of the calibration sample and of QAT.",
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Quantize a PyTorch checkpoint to a full-integer int8 .tflite and verify it in TFLM.

    Reports float vs int8 accuracy (TFLM on the whole test set) and whether every op is int8.
    """
    with console.status("quantizing (litert-torch PT2E) and verifying in TFLM..."):
        result = quantize_checkpoint(
            checkpoint, out, dataset, qat=qat, n_calibration=n_calibration, seed=seed
        )
    payload = result.to_dict()
    if json_out:
        emit_json(payload)
        return
    rows = [[key, value] for key, value in payload.items() if key != "violations"]
    console.print(table(f"int8 model {result.tflite_path}", ["name", "value"], rows))


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize)
