"""``tinylarge quantize``: a PyTorch checkpoint -> a full-integer int8 ``.tflite``, run in TFLM."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import (
    CHECKPOINT,
    OUT_FILE,
    SEED_TYPE,
    config_option,
    dataset_option,
    model_argument,
    out_option,
)
from tinylarge.tiny.quantize import quantize_checkpoint


def quantize(
    checkpoint: Path = model_argument(CHECKPOINT, "A tinylarge checkpoint."),
    out: Path = out_option(..., "The int8 .tflite to write (atomically).", OUT_FILE),
    dataset: str | None = dataset_option(None, "Calibration and test data (default: its own)."),
    qat: bool = config_option(
        quantize_checkpoint, "qat", "--qat/--no-qat", help="Quantization-aware fine-tuning first."
    ),
    n_calibration: int = config_option(
        quantize_checkpoint, "n_calibration", "--n-calibration", min=1, help="Calibration samples."
    ),
    seed: int = config_option(
        quantize_checkpoint, "seed", "--seed", click_type=SEED_TYPE, help="Calibration, QAT seed."
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
