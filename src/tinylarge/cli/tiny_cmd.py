"""``tinylarge quantize | profile | devices``: the TinyML deployment path from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table, user_errors


def quantize(
    checkpoint: Path = typer.Argument(..., help="A tinylarge checkpoint (.pt)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the int8 .tflite."),
    dataset: str = typer.Option(
        None, "--dataset", help="Dataset for calibration and test (default: the checkpoint's)."
    ),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware fine-tune before convert."),
    n_calibration: int = typer.Option(300, "--n-calibration", min=1, help="Calibration samples."),
    seed: int = typer.Option(0, "--seed", help="Seed for calibration sampling and QAT."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Quantize a PyTorch checkpoint to a full-integer int8 .tflite and verify it in TFLM.

    Reports float vs int8 accuracy (TFLM on the whole test set) and whether every op is int8.
    """
    from tinylarge.tiny.quantize import quantize_checkpoint

    status = console.status("quantizing (litert-torch PT2E) and verifying in TFLM...")
    with user_errors(), status:
        result = quantize_checkpoint(
            checkpoint, output, dataset, qat=qat, n_calibration=n_calibration, seed=seed
        )
    payload = result.to_dict()
    if json_out:
        emit_json(payload)
        return
    rows = [[key, value] for key, value in payload.items() if key != "violations"]
    console.print(table(f"int8 model {result.tflite_path}", ["name", "value"], rows))


def profile(
    model: Path = typer.Argument(..., help="A full-integer int8 .tflite."),
    device: str = typer.Option(
        "all", "--device", "-d", help="A device name, a comma list, or 'all'."
    ),
    measure: bool = typer.Option(
        True,
        "--measure/--no-measure",
        help="Run the model in TFLM + CMSIS-NN and as generated C on each emulated Cortex-M the "
        "devices need (QEMU; the first run builds TFLM, minutes, then cached). --no-measure: "
        "instruction model and flash/RAM estimates only.",
    ),
    layers: bool = typer.Option(False, "--layers", help="Include per-layer costs."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Flash, RAM, instructions, latency, energy and fit of a model on devices, for TFLM +
    CMSIS-NN (the default runtime) and the generated C, each figure labelled measured or modelled.

    Flash, RAM and instructions are measured under QEMU where it runs the core (Cortex-M4/M7/M33/
    M0+); latency = instructions x the core's cycles per instruction (calibrated on MLPerf Tiny
    v1.1 CMSIS-NN results) / clock, energy = latency x run-mode power: modelled.
    """
    from tinylarge.tiny.profile import profile_many

    status = console.status("profiling (QEMU runs, cached after the first)...")
    with user_errors(), status:
        results = profile_many(model, device, measure=measure)
    if json_out:
        emit_json({"model": str(model), "devices": [r.to_dict(layers=layers) for r in results]})
        return
    columns = [
        "device", "fits", "flash KiB", "RAM KiB", "MInstr", "TFLM ms", "TFLM mJ", "gen C ms",
        "gen C flash KiB", "gen C RAM KiB", "memory",
    ]  # fmt: skip
    rows = []
    for r in results:
        gen = r.runtimes["generated_c"]
        rows.append(
            [
                r.device,
                "yes" if r.fits else "NO: " + "; ".join(r.reasons),
                r.flash_bytes / 1024,
                r.ram_bytes / 1024,
                r.instructions / 1e6 if r.instructions else "-",
                r.latency_s * 1e3,
                r.energy_j * 1e3,
                gen.latency_s * 1e3 if gen.available else "-",
                gen.flash_bytes / 1024 if gen.available else "-",
                gen.ram_bytes / 1024 if gen.available else "-",
                r.basis["flash_bytes"],
            ]
        )
    console.print(
        table(f"{model.name} on the device catalog (latency, energy: modelled)", columns, rows)
    )
    if layers or len(results) == 1:
        r = results[0]
        body = [
            [x.index, x.opcode, x.macs, x.instructions if x.instructions is not None else "-",
             x.latency_s * 1e3, x.basis]
            for x in r.layers
        ]  # fmt: skip
        console.print(
            table(
                f"per layer on {r.device} (TFLM + CMSIS-NN)",
                ["#", "op", "MACs", "instructions", "latency ms", "instructions basis"],
                body,
            )
        )


def devices(json_out: bool = JSON_OPTION) -> None:
    """List the device catalog: memory, clock, power and the core's cost model."""
    from tinylarge.tiny.devices import list_devices, load_device

    with user_errors():
        profiles = [load_device(name) for name in list_devices()]
    if json_out:
        emit_json({"devices": [p.model_dump() for p in profiles]})
        return
    columns = ["device", "kind", "core", "SRAM", "flash", "MHz", "active W", "sleep W"]
    rows = [
        [
            p.name,
            p.kind,
            p.core,
            _size(p.sram_bytes),
            _size(p.flash_bytes),
            p.clock_hz / 1e6,
            p.active_power_w,
            p.sleep_power_w,
        ]
        for p in profiles
    ]
    console.print(table("device catalog", columns, rows))


def _size(n_bytes: int) -> str:
    """Bytes as the largest binary unit that keeps the number >= 1 (``640 KiB``, ``4 GiB``)."""
    value, unit = float(n_bytes), "B"
    for next_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{value:.4g} {unit}"


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize)
    app.command("profile")(profile)
    app.command("devices")(devices)
