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
    layers: bool = typer.Option(False, "--layers", help="Include per-layer costs."),
    codegen: bool = typer.Option(
        False,
        "--codegen",
        help="Also measure the generated C (instructions, flash, RAM) on every device whose "
        "core QEMU runs (Cortex-M0+/M4/M7/M33).",
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Flash, RAM (measured TFLM arena), MACs, latency, energy and fit of a model on devices."""
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.profile import profile_many

    with user_errors():
        results = profile_many(model, device)
        generated = {}
        if codegen:
            from tinylarge.tiny.codegen.measure import generated_c_on_devices

            generated = generated_c_on_devices(model, [load_device(r.device) for r in results])
    if json_out:
        rows = [r.to_dict(layers=layers) for r in results]
        for row in rows:
            if codegen:
                row["generated_c"] = generated[row["device"]]
        emit_json({"model": str(model), "devices": rows})
        return
    columns = ["device", "fits", "flash KiB", "RAM KiB", "arena KiB", "MMACs", "latency ms", "mJ"]
    rows = [
        [
            r.device,
            "yes" if r.fits else "NO: " + "; ".join(r.reasons),
            r.flash_bytes / 1024,
            r.ram_bytes / 1024,
            r.tflm_arena_bytes / 1024,
            r.macs / 1e6,
            r.latency_s * 1e3,
            r.energy_j * 1e3,
        ]
        for r in results
    ]
    console.print(table(f"{model.name} on the device catalog", columns, rows))
    if codegen:
        body = [
            [name, g["target"], g["instructions"], g["flash_bytes"] / 1024, g["ram_bytes"] / 1024,
             "yes" if g["fits"] else "NO"]
            for name, g in generated.items() if g["measured"]
        ]  # fmt: skip
        console.print(
            table("generated C, measured on QEMU (-O2)",
                  ["device", "core", "instructions", "flash KiB", "RAM KiB", "fits"], body)
        )  # fmt: skip
    if layers or len(results) == 1:
        r = results[0]
        body = [[x.index, x.opcode, x.macs, x.work, x.latency_s * 1e3] for x in r.layers]
        console.print(
            table(f"per layer on {r.device}", ["#", "op", "MACs", "work", "latency ms"], body)
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
