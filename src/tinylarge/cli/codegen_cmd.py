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
        run_codegen, "target", "--target", click_type=TARGET, help="Core for --verify qemu."
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
    """Generate C99 for MODEL: weights as const arrays, multipliers folded, one static arena.

    The output directory then holds only .c/.h files; they build with a caller's main.c under
    cc -std=c99 -Wall -Wextra -Werror. An unsupported op is an error naming the op and its node,
    and nothing is written. Exit status 1 when --verify finds a differing byte.
    """
    result = run_codegen(
        model, out_dir, prefix=prefix, verify_modes=verify, target=target,
        n_random=n_random, seed=seed, dataset=dataset, n_dataset=n_dataset,
    )  # fmt: skip
    if report:
        console.print(
            table(
                f"memory plan ({result.arena_bytes} B arena, {result.io_bytes} B caller I/O)",
                ["tensors", "place", "offset", "bytes", "ops"],
                result.plan,
            )
        )
    payload = result.to_dict()
    if json_out:
        emit_json(payload)
    else:
        tflm = result.tflm_arena_bytes
        ratio = f" = {result.arena_ratio:.2f}x TFLM ({tflm} B)" if tflm else ""
        console.print(f"wrote {len(result.files)} files to {result.out_dir}")
        console.print(f"ops: {', '.join(dict.fromkeys(result.ops))}")
        console.print(
            f"arena: {result.arena_bytes} B{ratio}; weights {result.weight_bytes} B (const)"
        )
        for v in result.verify:
            status = "bit-exact" if v.bit_exact else f"{v.n_mismatched_bytes} bytes differ"
            sizes = f", text/data/bss {v.sizes}" if v.sizes else ""
            console.print(f"verify {v.mode} ({v.target}): {v.n_samples} samples, {status}{sizes}")
    if result.verify and not result.bit_exact:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("codegen")(codegen)
