"""One call from ``.tflite`` to a directory of C: load, lower, plan, optionally verify and
measure, write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tinylarge.tiny.codegen.emit import GeneratedCode, generate, write_atomically
from tinylarge.tiny.codegen.verify import VerifyResult, verify
from tinylarge.tiny.graph import graph_macs, load_graph


@dataclass
class CodegenResult:
    """What ``tinylarge codegen --json`` prints."""

    out_dir: str
    prefix: str
    kernels_backend: str
    files: list[str]
    ops: list[str]
    kernels: list[str]
    arena_bytes: int
    io_bytes_outside_arena: int
    flash_bytes: int | None
    flash_target: str | None
    tflm_arena_bytes: int | None
    tflm_arena_head_bytes: int | None
    model_sha256: str
    macs: int
    weight_bytes: int
    fused_ops: list[int] = field(default_factory=list)
    streamed_ops: list[int] = field(default_factory=list)
    n_overlapping_ops: int = 0
    plan: list[list[object]] = field(default_factory=list)
    verify: list[VerifyResult] = field(default_factory=list)

    @property
    def memory_ratio(self) -> float | None:
        """(our arena + I/O buffers outside it) / TFLM's planned activation memory."""
        if not self.tflm_arena_head_bytes:
            return None
        return (self.arena_bytes + self.io_bytes_outside_arena) / self.tflm_arena_head_bytes

    # the names tinylarge's CLI used before the input and output moved into the arena
    @property
    def io_bytes(self) -> int:
        return self.io_bytes_outside_arena

    @property
    def arena_ratio(self) -> float | None:
        return self.memory_ratio

    @property
    def bit_exact(self) -> bool:
        return all(v.bit_exact for v in self.verify)

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir,
            "prefix": self.prefix,
            "kernels_backend": self.kernels_backend,
            "files": self.files,
            "ops": self.ops,
            "kernels": self.kernels,
            "fused_ops": self.fused_ops,
            "streamed_ops": self.streamed_ops,
            "arena_bytes": self.arena_bytes,
            "io_bytes_outside_arena": self.io_bytes_outside_arena,
            "flash_bytes": self.flash_bytes,
            "flash_target": self.flash_target,
            "tflm_arena_bytes": self.tflm_arena_bytes,
            "tflm_arena_head_bytes": self.tflm_arena_head_bytes,
            "memory_ratio": self.memory_ratio,
            "n_overlapping_ops": self.n_overlapping_ops,
            "model_sha256": self.model_sha256,
            "macs": self.macs,
            "weight_bytes": self.weight_bytes,
            "plan": [
                dict(zip(("tensors", "kind", "offset", "size_bytes", "ops"), r, strict=True))
                for r in self.plan
            ],
            "verify": [v.to_dict() for v in self.verify],
            "bit_exact": self.bit_exact if self.verify else None,
        }


def flash_of(code: GeneratedCode, target: str = "cortex-m4") -> int | None:
    """Flash bytes of the generated code (model + kernels) on ``target`` at -Os, measured by
    linking (:func:`tinylarge.tiny.mcu.generated.firmware_sizes`); ``None`` when the cross
    compiler is not installed."""
    import shutil

    from tinylarge.tiny.mcu.generated import firmware_sizes

    if shutil.which("arm-none-eabi-gcc") is None:
        return None
    return firmware_sizes(code, target, "-Os")[0]


def codegen(
    model: str | Path | bytes,
    out_dir: str | Path,
    prefix: str = "tl_model",
    verify_modes: Sequence[str] = (),
    target: str = "cortex-m4",
    n_random: int = 20,
    seed: int = 0,
    dataset: str | None = None,
    n_dataset: int = 20,
    measure_tflm_arena: bool = True,
    measure_flash: bool = False,
    kernels: str = "tinylarge",
    cmsis_nn: str | Path | None = None,
) -> CodegenResult:
    """Generate C for ``model`` into ``out_dir`` (written atomically, after every check passed).

    ``verify_modes`` may hold ``"host"`` and/or ``"qemu"``; each compares every output byte with
    TFLM on ``n_random`` seeded inputs (+ ``n_dataset`` test samples of ``dataset``).
    ``kernels="cmsis-nn"`` emits calls into the CMSIS-NN tree at ``cmsis_nn`` where it has the
    kernel (see :mod:`tinylarge.tiny.codegen.cmsis`). ``measure_flash`` links the code for
    ``target`` to report its flash bytes.
    """
    graph = load_graph(model)
    code: GeneratedCode = generate(graph, prefix, kernels=kernels, cmsis_nn=cmsis_nn)
    runtime = None
    tflm_arena = tflm_head = None
    if measure_tflm_arena or verify_modes:
        from tinylarge.tiny.arena_probe import measure_arena_head_bytes
        from tinylarge.tiny.runtime import TflmRuntime, read_model

        model_bytes = read_model(model)
        if code.input.float_index is None and code.output.float_index is None:
            runtime = TflmRuntime(model_bytes)
            tflm_arena = runtime.arena_bytes
        tflm_head = measure_arena_head_bytes(model_bytes)
    results = [
        verify(
            code, model, mode, target=target, n_random=n_random, seed=seed, dataset=dataset,
            n_dataset=n_dataset, runtime=runtime, cmsis_nn=cmsis_nn,
        )
        for mode in verify_modes
    ]  # fmt: skip
    flash = flash_of(code, target) if measure_flash else None
    paths = write_atomically(code.files, out_dir)
    return CodegenResult(
        out_dir=str(out_dir),
        prefix=prefix,
        kernels_backend=kernels,
        files=[str(p) for p in paths],
        ops=code.ops,
        kernels=code.kernels,
        arena_bytes=code.arena_bytes,
        io_bytes_outside_arena=0,  # the input and output tensors live in the arena
        flash_bytes=flash,
        flash_target=target if flash is not None else None,
        tflm_arena_bytes=tflm_arena,
        tflm_arena_head_bytes=tflm_head,
        model_sha256=graph.sha256,
        macs=graph_macs(graph),
        weight_bytes=graph.weight_bytes,
        fused_ops=code.fused_ops,
        streamed_ops=code.streamed_ops,
        n_overlapping_ops=code.plan.n_overlapping,
        plan=code.plan.report_rows(),
        verify=results,
    )
