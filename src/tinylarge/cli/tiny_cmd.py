"""``tinylarge profile | devices``: what an int8 model costs on the microcontroller catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import TFLITE, Name

DEVICES = Name("device", "tinylarge.tiny.devices:list_devices", extra=("all",), many=True)


def profile(
    model: Path = typer.Argument(..., click_type=TFLITE, help="A full-integer int8 .tflite."),
    device: str = typer.Option(
        "all", "--device", click_type=DEVICES, help="A catalog device, a comma list, or 'all'."
    ),
    layers: bool = typer.Option(False, "--layers", help="Also print the cost of every layer."),
    codegen: bool = typer.Option(
        False,
        "--codegen",
        help="Also measure the generated C (instructions, flash, RAM) on every device whose "
        "core QEMU runs (Cortex-M0+/M4/M7/M33).",
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Flash, RAM (measured TFLM arena), MACs, latency, energy and fit of a model on devices.

    Latency and energy are modelled from each device's catalog cost model (cycles per MAC and per
    op, clock, active power); flash and RAM are the model, the measured arena and the runtime.
    --codegen adds the generated C measured under QEMU."""
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.profile import profile_many

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
    app.command("profile")(profile)
    app.command("devices")(devices)
