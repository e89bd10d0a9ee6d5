"""Compile the part of TFLM a model needs, one object at a time, each cached by content.

A full ``microlite`` library is ~315 compile commands (~6 min on 2 idle cores, much more on a
busy machine) per core and kernel set. A model needs far fewer: the interpreter core, the kernels
of its op types (TFLM's ``MicroMutableOpResolver`` names the ``Register_*`` function of each
builtin op; the kernel source defining it, plus its ``*_common.cc`` sibling, implements it), and,
with CMSIS-NN, CMSIS-NN's C sources. Each object is cached under
``<cache>/obj/<sha256 of (tree hash, compiler version, argv, source)>.o``, so a second model with
the same ops compiles nothing and one with a new op compiles that op's kernel only; the
objects are archived and linked like TFLM's library (the linker takes only what is referenced).

If the guess misses a dependency (an undefined symbol at link time), :func:`widen` adds every
kernel helper and then everything TFLM's make would build, so the guess costs time, never
correctness.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.tiny.mcu.tree import BuildPlan, CompileCommand, tree_hash
from tinylarge.tiny.toolchain import require_tool

RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"
# core sources only TFLM's own tests use, and the audio front end (``signal/``)
_NOT_NEEDED = re.compile(r"(^signal/|test_helper|mock_micro_graph|fake_micro_context)")
_ALWAYS_KERNELS = ("kernel_util.cc",)
_ADD_WITH_ARG = re.compile(
    r"TfLiteStatus\s+(Add\w+)\(\s*const TFLMRegistration&\s+registration\s*=\s*"
    r"(?:tflite::)?(Register_\w+)\(\)\)\s*\{\s*return\s+AddBuiltin\(\s*BuiltinOperator_(\w+)",
    re.S,
)
_ADD_NO_ARG = re.compile(
    r"TfLiteStatus\s+(Add\w+)\(\)\s*\{\s*return\s+AddBuiltin\(\s*BuiltinOperator_(\w+),\s*"
    r"(?:tflite::)?(Register_\w+)\(\)",
    re.S,
)
_DEFINES_REGISTER = re.compile(r"TFLMRegistration\s+(Register_\w+)\s*\(\s*\)\s*\{")


@dataclass(frozen=True)
class OpBinding:
    """How TFLM's op resolver registers one builtin op."""

    opcode: str  # BuiltinOperator name, e.g. CONV_2D
    add_method: str  # MicroMutableOpResolver method, e.g. AddConv2D
    register_fn: str  # e.g. Register_CONV_2D
    takes_registration: bool  # AddX(registration) lets the harness wrap invoke (timing)


@cache
def op_bindings(src: Path) -> dict[str, OpBinding]:
    """Builtin op name -> :class:`OpBinding`, read from TFLM's ``micro_mutable_op_resolver.h``."""
    text = (src / RESOLVER_HEADER).read_text()
    out = {op: OpBinding(op, add, reg, True) for add, reg, op in _ADD_WITH_ARG.findall(text)}
    for add, op, reg in _ADD_NO_ARG.findall(text):
        out.setdefault(op, OpBinding(op, add, reg, False))
    return out


def bindings_for(opcodes: Iterable[str], src: Path) -> list[OpBinding]:
    """Bindings for a model's op types; an op TFLM's resolver lacks is a one-line error."""
    table = op_bindings(src)
    missing = sorted(set(opcodes) - set(table))
    if missing:
        raise UnknownNameError("TFLM builtin op", missing[0], table)
    return [table[op] for op in sorted(set(opcodes))]


@dataclass(frozen=True)
class Objects:
    """Compiled objects for one model's needs, and what compiling them cost."""

    paths: tuple[Path, ...]
    n_compiled: int
    n_cached: int
    compile_s: float


def select(plan: BuildPlan, src: Path, register_fns: Iterable[str]) -> list[CompileCommand]:
    """The compile commands a model with these ``Register_*`` functions needs (a first guess)."""
    wanted = set(register_fns)
    kernels = [c for c in plan.commands if c.group == "kernel"]
    defines = {
        c.source: set(_DEFINES_REGISTER.findall((src / c.source).read_text())) for c in kernels
    }
    op_files = [c for c in kernels if defines[c.source] & wanted]
    found = set().union(*(defines[c.source] for c in op_files)) if op_files else set()
    if wanted - found:
        raise TinylargeError(f"no TFLM kernel source defines {sorted(wanted - found)}")
    stems = {Path(c.source).stem for c in op_files}
    helpers = [
        c
        for c in kernels
        if Path(c.source).name in _ALWAYS_KERNELS
        or (Path(c.source).stem.endswith("_common") and Path(c.source).stem[:-7] in stems)
    ]
    core = [c for c in plan.commands if c.group == "core" and not _NOT_NEEDED.search(c.source)]
    third = [c for c in plan.commands if c.group == "third_party"]
    return _unique([*core, *op_files, *helpers, *third])


def widen(plan: BuildPlan, chosen: list[CompileCommand], level: int) -> list[CompileCommand]:
    """Level 1: add every kernel helper (no ``Register_*``); level 2: everything make builds."""
    if level >= 2:
        return list(plan.commands)
    helpers = [
        c
        for c in plan.commands
        if c.group == "kernel" and ("_common" in c.source or "util" in c.source)
    ]
    return _unique([*chosen, *helpers])


def _unique(cmds: list[CompileCommand]) -> list[CompileCommand]:
    seen: dict[str, CompileCommand] = {}
    for c in cmds:
        seen.setdefault(c.source, c)
    return list(seen.values())


@cache
def compiler_version(tool: str) -> str:
    res = subprocess.run([require_tool(tool), "--version"], capture_output=True, timeout=60)
    return res.stdout.decode().splitlines()[0]


def object_key(cmd: CompileCommand, tree: str) -> str:
    """Content key of one object: tree hash, compiler version, exact argv and source path."""
    parts = [tree, compiler_version(cmd.argv[0]), cmd.source, *cmd.argv]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def compile_objects(
    cmds: list[CompileCommand],
    src: Path,
    tree: Path,
    cache_root: Path,
    jobs: int | None = None,
) -> Objects:
    """Compile every command whose object is not cached; return all the objects' paths."""
    digest = tree_hash(tree)
    obj_dir = cache_root / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    paths = [obj_dir / f"{object_key(c, digest)}.o" for c in cmds]
    todo = [(c, p) for c, p in zip(cmds, paths, strict=True) if not p.is_file()]
    t0 = time.perf_counter()
    if todo:
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            for err in pool.map(lambda cp: _compile_one(*cp, src), todo):
                if err:
                    raise TinylargeError(err)
    return Objects(tuple(paths), len(todo), len(cmds) - len(todo), time.perf_counter() - t0)


def _compile_one(cmd: CompileCommand, obj: Path, src: Path) -> str | None:
    tmp = obj.with_suffix(f".{os.getpid()}.{id(cmd)}.tmp")
    try:
        res = subprocess.run(
            [*cmd.argv, "-c", cmd.source, "-o", str(tmp)], cwd=src, capture_output=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        return f"compiling TFLM's {cmd.source} timed out"
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        return (
            f"compiling TFLM's {cmd.source} failed: {res.stderr.decode(errors='replace')[-1500:]}"
        )
    os.replace(tmp, obj)
    return None
