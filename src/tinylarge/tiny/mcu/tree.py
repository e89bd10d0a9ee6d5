"""TFLM's source tree: find it, hash it, copy it somewhere writable, and ask its make for commands.

We do not re-derive TFLM's build: ``make -n ... microlite`` (a dry run of TFLM's own Makefile for
``TARGET=cortex_m_qemu``) prints every compile command with the exact flags, defines and include
paths TFLM uses for that core and kernel set (``OPTIMIZED_KERNEL_DIR=cmsis_nn`` swaps in the
CMSIS-NN kernels and adds CMSIS-NN's C sources). :mod:`tinylarge.tiny.mcu.build` then runs only
the commands a model needs, each cached by content.

The tree is ``shared/third_party/tflite-micro`` (TFLM at a fixed commit with its third-party
downloads in place; DESIGN.md), found in the nearest ancestor folder of this package that has
one. It is read-only there, and make wants ``downloads/gcc_embedded/bin`` (a link to Debian's
toolchain), so it is copied once into the cache, keyed by a hash of its content.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.tiny.toolchain import require_tool

TREE_RELPATH = Path("shared") / "third_party" / "tflite-micro"
MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"

Kernels = Literal["cmsis_nn", "reference"]
KERNELS: tuple[str, ...] = ("cmsis_nn", "reference")
# TFLM's TARGET_ARCH per toolchain target (tinylarge.tiny.toolchain.TARGETS)
ARCHES = {
    "cortex-m4": "cortex-m4",
    "cortex-m7": "cortex-m7",
    "cortex-m33": "cortex-m33",
    "cortex-m0plus": "cortex-m0plus",
}


def default_cache_root() -> Path:
    """``~/.cache/tinylarge/tflm``: built objects, the tree copy and measurements live here."""
    return Path.home() / ".cache" / "tinylarge" / "tflm"


def find_tree(start: Path | None = None) -> Path:
    """The TFLM tree in the nearest ancestor of ``start`` (default: this file) that has one."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        candidate = folder / TREE_RELPATH
        if (candidate / MAKEFILE).is_file():
            return candidate
    raise TinylargeError(
        f"TFLM source tree not found: no ancestor of {here} holds {TREE_RELPATH} (see DESIGN.md)"
    )


@cache
def tree_hash(tree: Path) -> str:
    """SHA-256 over every regular file's relative path and bytes, in sorted order (~0.3 s)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            digest.update(str(path.relative_to(tree)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def writable_copy(tree: Path, cache_root: Path) -> Path:
    """A copy of ``tree`` under ``cache_root/src-<hash>`` with make's toolchain link in place."""
    dest = cache_root / f"src-{tree_hash(tree)[:16]}"
    if (dest / MAKEFILE).is_file():
        return dest
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="src-tmp-", dir=cache_root))
    try:
        shutil.copytree(tree, tmp / "t", symlinks=True)
        for dirpath, _, filenames in os.walk(tmp / "t"):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                path = Path(dirpath) / name
                if not path.is_symlink():
                    os.chmod(path, 0o644 | (path.stat().st_mode & 0o111))
        gcc = tmp / "t" / DOWNLOADS / "gcc_embedded"
        gcc.mkdir(parents=True, exist_ok=True)
        (gcc / "bin").symlink_to(Path(require_tool("arm-none-eabi-gcc")).parent)
        try:
            os.replace(tmp / "t", dest)
        except OSError:  # another process won the race: its copy is identical
            if not (dest / MAKEFILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


@dataclass(frozen=True)
class CompileCommand:
    """One compile command of TFLM's build: argv without ``-c SRC -o OBJ``, run in the tree root."""

    source: str  # relative to the tree root
    argv: tuple[str, ...]
    group: Literal["core", "kernel", "third_party"]

    @property
    def language(self) -> str:
        return "c" if self.source.endswith(".c") else "c++"


@dataclass(frozen=True)
class BuildPlan:
    """Every compile command of ``microlite`` for one core and kernel set."""

    core: str
    kernels: str
    commands: tuple[CompileCommand, ...]

    @property
    def cxx_flags(self) -> tuple[str, ...]:
        """The C++ flags TFLM compiles its core with (for the harness: same ABI, same defines)."""
        for cmd in self.commands:
            if cmd.group == "core" and cmd.language == "c++":
                return cmd.argv[1:]
        raise TinylargeError("TFLM's make listed no C++ core source")


def make_args(core: str, kernels: str) -> list[str]:
    """TFLM make variables for a toolchain target name and a kernel set."""
    if core not in ARCHES:
        raise UnknownNameError("TFLM core", core, ARCHES)
    if kernels not in KERNELS:
        raise UnknownNameError("TFLM kernel set", kernels, KERNELS)
    args = ["TARGET=cortex_m_qemu", f"TARGET_ARCH={ARCHES[core]}", "BUILD_TYPE=release"]
    if kernels == "cmsis_nn":
        args.append("OPTIMIZED_KERNEL_DIR=cmsis_nn")
    return args


def build_plan(core: str, kernels: str, src: Path) -> BuildPlan:
    """Parse ``make -n microlite`` in the writable tree ``src`` (cached beside it as JSON)."""
    args = make_args(core, kernels)
    cached = src.parent / f"plan-{src.name}-{core}-{kernels}.json"
    if cached.is_file():
        raw = json.loads(cached.read_text())
        cmds = tuple(CompileCommand(c["source"], tuple(c["argv"]), c["group"]) for c in raw)
        return BuildPlan(core, kernels, cmds)
    # the make runs Python example generators at parse time: the interpreter running us has numpy
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(
        ["make", "-n", "-f", MAKEFILE, *args, "microlite"],
        cwd=src,
        env=env,
        capture_output=True,
        timeout=300,
    )
    if res.returncode != 0:
        raise TinylargeError(f"TFLM make -n failed: {res.stderr.decode(errors='replace')[-2000:]}")
    cmds = tuple(_parse(line) for line in res.stdout.decode().splitlines() if " -c " in line)
    if not cmds:
        raise TinylargeError("TFLM make -n listed no compile command")
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([c.__dict__ for c in cmds]))
    os.replace(tmp, cached)
    return BuildPlan(core, kernels, cmds)


def _parse(line: str) -> CompileCommand:
    """``CXX FLAGS -c SRC -o OBJ`` -> CompileCommand (the object path is ours to choose)."""
    words = shlex.split(line)
    i = words.index("-c")
    source = words[i + 1]
    argv = tuple(words[:i] + words[i + 4 :])
    obj = words[i + 3]
    if "/obj/kernels/" in obj:
        group = "kernel"
    elif "/obj/third_party_kernels/" in obj or "/obj/third_party/" in obj:
        group = "third_party"
    else:
        group = "core"
    return CompileCommand(source, argv, group)
