"""One call from ``.tflite`` to a directory of C: load, lower, plan, optionally verify, write."""

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
    files: list[str]
    ops: list[str]
    kernels: list[str]
    arena_bytes: int
    io_bytes: int
    tflm_arena_bytes: int | None
    model_sha256: str
    macs: int
    weight_bytes: int
    fused_ops: list[int] = field(default_factory=list)
    plan: list[list[object]] = field(default_factory=list)
    verify: list[VerifyResult] = field(default_factory=list)

    @property
    def arena_ratio(self) -> float | None:
        if not self.tflm_arena_bytes:
            return None
        return self.arena_bytes / self.tflm_arena_bytes

    @property
    def bit_exact(self) -> bool:
        return all(v.bit_exact for v in self.verify)

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir,
            "prefix": self.prefix,
            "files": self.files,
            "ops": self.ops,
            "kernels": self.kernels,
            "fused_ops": self.fused_ops,
            "arena_bytes": self.arena_bytes,
            "io_bytes": self.io_bytes,
            "tflm_arena_bytes": self.tflm_arena_bytes,
            "arena_ratio": self.arena_ratio,
            "model_sha256": self.model_sha256,
            "macs": self.macs,
            "weight_bytes": self.weight_bytes,
            "plan": [
                dict(zip(("tensors", "place", "offset", "size_bytes", "ops"), r, strict=True))
                for r in self.plan
            ],
            "verify": [v.to_dict() for v in self.verify],
            "bit_exact": self.bit_exact if self.verify else None,
        }


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
) -> CodegenResult:
    """Generate C for ``model`` into ``out_dir`` (written atomically, after every check passed).

    ``verify_modes`` may hold ``"host"`` and/or ``"qemu"``; each compares every output byte with
    TFLM on ``n_random`` seeded inputs (+ ``n_dataset`` test samples of ``dataset``).
    """
    graph = load_graph(model)
    code: GeneratedCode = generate(graph, prefix)
    runtime = None
    tflm_arena = None
    if measure_tflm_arena or verify_modes:
        from tinylarge.tiny.runtime import TflmRuntime

        runtime = TflmRuntime(model)
        tflm_arena = runtime.arena_bytes
    results = [
        verify(
            code,
            model,
            mode,
            target=target,
            n_random=n_random,
            seed=seed,
            dataset=dataset,
            n_dataset=n_dataset,
            runtime=runtime,
        )  # fmt: skip
        for mode in verify_modes
    ]
    paths = write_atomically(code.files, out_dir)
    return CodegenResult(
        out_dir=str(out_dir),
        prefix=prefix,
        files=[str(p) for p in paths],
        ops=code.ops,
        kernels=code.kernels,
        arena_bytes=code.arena_bytes,
        io_bytes=code.plan.io_bytes,
        tflm_arena_bytes=tflm_arena,
        model_sha256=graph.sha256,
        macs=graph_macs(graph),
        weight_bytes=graph.weight_bytes,
        fused_ops=code.fused_ops,
        plan=code.plan.report_rows(),
        verify=results,
    )
