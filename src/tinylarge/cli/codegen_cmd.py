"""``tinylarge codegen``: int8 ``.tflite`` -> plain C99 (static arena, no interpreter)."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table, user_errors

VERIFY_MODES = ("host", "qemu")


def codegen(
    model: Path = typer.Argument(..., help="Full-integer int8 .tflite model."),
    out_dir: Path = typer.Option(..., "-o", "--out", help="Directory for the generated .c/.h."),
    prefix: str = typer.Option("tl_model", "--prefix", help="C name prefix of the API."),
    verify: list[str] = typer.Option(
        [], "--verify", help="Check bit-exactness against TFLM: host and/or qemu (repeatable)."
    ),
    target: str = typer.Option(
        "cortex-m4",
        "--target",
        help="Cortex-M target for --verify qemu and --flash: cortex-m4, cortex-m0plus, "
        "cortex-m7, cortex-m33.",
    ),
    kernels: str = typer.Option(
        "tinylarge",
        "--kernels",
        help="Kernel backend: tinylarge (own kernels; DSP instructions on M4/M7/M33) or "
        "cmsis-nn (calls into the CMSIS-NN tree given by --cmsis-nn where it has the op).",
    ),
    cmsis_nn: Path | None = typer.Option(
        None,
        "--cmsis-nn",
        help="Path of a CMSIS-NN tree (Include/, Source/) for --kernels cmsis-nn.",
    ),
    flash: bool = typer.Option(
        False, "--flash", help="Link for --target and report the flash bytes of model + kernels."
    ),
    n_random: int = typer.Option(20, "--n-random", help="Seeded random inputs to compare."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Also compare on this bundled dataset's test samples."
    ),
    n_dataset: int = typer.Option(20, "--n-dataset", help="Dataset test samples to compare."),
    report: bool = typer.Option(False, "--report", help="Print the memory plan (stderr)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Generate C99 for MODEL: weights as const arrays, multipliers folded, one static arena
    holding the input, the output and every intermediate tensor.

    The output directory then holds only .c/.h files; they build with a caller's main.c under
    cc -std=c99 -Wall -Wextra -Werror. Every symbol carries --prefix, so several models link
    into one firmware. An unsupported op is an error naming the op and its node, and nothing is
    written. --json includes arena_bytes, io_bytes_outside_arena and flash_bytes (with --flash).
    """
    from tinylarge.errors import UnknownNameError
    from tinylarge.tiny.codegen import codegen as run_codegen
    from tinylarge.tiny.codegen.emit import KERNEL_BACKENDS
    from tinylarge.tiny.toolchain import get_target

    with user_errors():
        for mode in verify:
            if mode not in VERIFY_MODES:
                raise UnknownNameError("verify mode", mode, VERIFY_MODES)
        if kernels not in KERNEL_BACKENDS:
            raise UnknownNameError("kernels", kernels, KERNEL_BACKENDS)
        get_target(target)
        result = run_codegen(
            model, out_dir, prefix=prefix, verify_modes=verify, target=target,
            n_random=n_random, seed=seed, dataset=dataset, n_dataset=n_dataset,
            measure_flash=flash, kernels=kernels, cmsis_nn=cmsis_nn,
        )  # fmt: skip
    if report:
        console.print(
            table(
                f"memory plan ({result.arena_bytes} B arena, I/O inside)",
                ["tensors", "kind", "offset", "bytes", "ops"],
                result.plan,
            )
        )
    payload = result.to_dict()
    if json_out:
        emit_json(payload)
    else:
        head = result.tflm_arena_head_bytes
        ratio = f" = {result.memory_ratio:.2f}x TFLM's planned memory ({head} B)" if head else ""
        console.print(f"wrote {len(result.files)} files to {result.out_dir}")
        console.print(f"ops: {', '.join(dict.fromkeys(result.ops))}")
        console.print(
            f"arena (input and output inside): {result.arena_bytes} B{ratio}; "
            f"weights {result.weight_bytes} B (const)"
        )
        if result.flash_bytes is not None:
            console.print(f"flash on {result.flash_target}: {result.flash_bytes} B")
        for v in result.verify:
            status = "bit-exact" if v.bit_exact else f"{v.n_mismatched_bytes} bytes differ"
            sizes = f", text/data/bss {v.sizes}" if v.sizes else ""
            console.print(f"verify {v.mode} ({v.target}): {v.n_samples} samples, {status}{sizes}")
    if result.verify and not result.bit_exact:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("codegen")(codegen)
