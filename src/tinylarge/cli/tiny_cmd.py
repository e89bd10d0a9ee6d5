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
    measure: bool = typer.Option(
        True,
        "--measure/--no-measure",
        help="Run the model in TFLM + CMSIS-NN and as generated C on each emulated Cortex-M the "
        "devices need (QEMU; the first run builds TFLM, minutes, then cached). --no-measure: "
        "instruction model and flash/RAM estimates only.",
    ),
    layers: bool = typer.Option(False, "--layers", help="Also print the cost of every layer."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Flash, RAM, instructions, latency, energy and fit of a model on devices, for TFLM +
    CMSIS-NN (the default runtime) and the generated C, each figure labelled measured or modelled.

    Flash, RAM and instructions are measured under QEMU where it runs the core (Cortex-M4/M7/M33/
    M0+); latency = instructions x the core's cycles per instruction (calibrated on MLPerf Tiny
    v1.1 CMSIS-NN results) / clock, energy = latency x run-mode power: modelled.
    """
    from tinylarge.tiny.profile import profile_many

    with console.status("profiling (QEMU runs, cached after the first)..."):
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
