"""``tinylarge codegen``: int8 ``.tflite`` -> plain C99 (static arena, no interpreter)."""

from __future__ import annotations

from pathlib import Path

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import (
    SEED_TYPE,
    TFLITE,
    Name,
    config_option,
    dataset_option,
    model_argument,
    out_option,
)
from tinylarge.tiny.codegen import codegen as run_codegen
from tinylarge.tiny.codegen.verify import VerifyMode

TARGET = Name("target", "tinylarge.tiny.toolchain:TARGETS")
KERNELS = Name("kernel backend", "tinylarge.tiny.codegen.emit:KERNEL_BACKENDS")


def codegen(
    model: Path = model_argument(TFLITE, "Full-integer int8 .tflite model."),
    out_dir: Path = out_option(..., "Folder for the generated .c/.h files."),
    prefix: str = config_option(
        run_codegen, "prefix", "--prefix", help="C name prefix of the API."
    ),
    verify: list[VerifyMode] = typer.Option(
        [], "--verify", help="Check every output byte against TFLM there (repeatable)."
    ),
    target: str = config_option(
        run_codegen,
        "target",
        "--target",
        click_type=TARGET,
        help="Core for --verify qemu and --flash.",
    ),
    kernels: str = config_option(
        run_codegen,
        "kernels",
        "--kernels",
        click_type=KERNELS,
        help="Kernel backend: tinylarge (own kernels; DSP instructions on M4/M7/M33) or cmsis-nn "
        "(calls into the CMSIS-NN tree of --cmsis-nn where it has the op).",
    ),  # fmt: skip
    cmsis_nn: Path | None = typer.Option(
        None,
        "--cmsis-nn",
        exists=True,
        file_okay=False,
        help="CMSIS-NN tree (Include/, Source/) for --kernels cmsis-nn "
        "(default: the copy in ../shared).",
    ),  # fmt: skip
    flash: bool = typer.Option(
        False, "--flash", help="Link for --target and report the flash bytes of model + kernels."
    ),
    n_random: int = config_option(
        run_codegen, "n_random", "--n-random", min=0, help="Random int8 inputs --verify compares."
    ),
    seed: int = config_option(
        run_codegen, "seed", "--seed", click_type=SEED_TYPE, help="Seed of the random inputs."
    ),
    dataset: str | None = dataset_option(
        None, "Also compare its test samples (default: random inputs only)."
    ),
    n_dataset: int = config_option(
        run_codegen, "n_dataset", "--n-dataset", min=0, help="Test samples of --dataset to compare."
    ),
    report: bool = typer.Option(False, "--report", help="Print the memory plan (stderr)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Generate C99 for MODEL: weights as const arrays, multipliers folded, one static arena
    holding the input, the output and every intermediate tensor.

    The output directory then holds only .c/.h files; they build with a caller's main.c under
    cc -std=c99 -Wall -Wextra -Werror. Every symbol carries --prefix, so several models link
    into one firmware. An unsupported op is an error naming the op and its node, and nothing is
    written. Exit status 1 when --verify finds a differing byte. --json includes arena_bytes,
    io_bytes_outside_arena and flash_bytes (with --flash).
    """
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
