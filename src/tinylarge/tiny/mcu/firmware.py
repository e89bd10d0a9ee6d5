"""Compile, link and size firmware for a TFLM build plan: C++ harness, startup, blobs, objects.

Every compile goes through the content-keyed object cache of :mod:`tinylarge.tiny.mcu.build`, so
a harness for an op set already seen costs nothing; a new model only re-assembles its data blob
and re-links. Linking uses an archive of the TFLM objects, as with TFLM's own library, so only
what the harness references is pulled in (then ``--gc-sections`` drops unused functions).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tinylarge.errors import TinylargeError
from tinylarge.tiny.mcu.build import compiler_version
from tinylarge.tiny.mcu.tree import BuildPlan
from tinylarge.tiny.toolchain import COUNTER_H, LINKER_SCRIPT, STARTUP_C, Target, require_tool

# flags that fix the ABI: harness, startup and link must agree with TFLM's objects
_ABI_FLAG = re.compile(r"^-(mcpu|mthumb|mfloat-abi|mfpu|mlittle-endian)")


class UndefinedSymbolError(TinylargeError):
    """The link needs objects the first guess did not compile (see ``build.widen``)."""


def abi_flags(plan: BuildPlan) -> list[str]:
    return [f for f in plan.cxx_flags if _ABI_FLAG.match(f)]


def cached_compile(
    argv: Sequence[str], source_text: str, suffix: str, cache_root: Path, cwd: Path, work: Path
) -> Path:
    """Compile ``source_text`` with ``argv`` (``-c SRC -o OBJ`` appended), cached by content."""
    key = hashlib.sha256(
        "\0".join([compiler_version(argv[0]), source_text, *argv, COUNTER_H]).encode()
    ).hexdigest()
    obj = cache_root / "obj" / f"h-{key}.o"
    if obj.is_file():
        return obj
    obj.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"{key[:16]}{suffix}"
    src.write_text(source_text)
    (work / "tl_counter.h").write_text(COUNTER_H)
    tmp = obj.with_suffix(f".{os.getpid()}.tmp")
    res = subprocess.run(
        [*argv, f"-I{work}", "-c", str(src), "-o", str(tmp)], cwd=cwd, capture_output=True,
        timeout=600,
    )  # fmt: skip
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise TinylargeError(
            f"harness compile failed: {res.stderr.decode(errors='replace')[-3000:]}"
        )
    os.replace(tmp, obj)
    return obj


def harness_object(
    plan: BuildPlan, source: str, defines: Sequence[str], cache_root: Path, src: Path, work: Path
) -> Path:
    """The C++ harness compiled with TFLM's own C++ flags (same ABI, defines and includes)."""
    argv = [require_tool("arm-none-eabi-g++"), *plan.cxx_flags, *defines]
    return cached_compile(argv, source, ".cc", cache_root, src, work)


def startup_object(plan: BuildPlan, cache_root: Path, work: Path) -> Path:
    """The shared C startup (vector table, reset handler, SysTick counter) for this ABI."""
    argv = [require_tool("arm-none-eabi-gcc"), *abi_flags(plan), "-std=c99", "-Os"]
    argv += ["-ffunction-sections", "-fdata-sections"]
    return cached_compile(argv, STARTUP_C, ".c", cache_root, work, work)


def assemble(plan: BuildPlan, source: str, out: Path) -> Path:
    """Assemble a data blob (``.incbin``); not cached: it names this run's files."""
    src = out.with_suffix(".S")
    src.write_text(source)
    res = subprocess.run(
        [require_tool("arm-none-eabi-gcc"), *abi_flags(plan), "-c", str(src), "-o", str(out)],
        capture_output=True,
        timeout=120,
    )
    if res.returncode != 0:
        raise TinylargeError(f"assembling {src.name} failed: {res.stderr.decode()[-2000:]}")
    return out


def archive(objects: Sequence[Path], out: Path) -> Path:
    """``ar rcs`` the TFLM objects into one library, as TFLM's make does."""
    out.unlink(missing_ok=True)
    res = subprocess.run(
        [require_tool("arm-none-eabi-ar"), "rcs", str(out), *map(str, objects)],
        capture_output=True,
        timeout=300,
    )
    if res.returncode != 0:
        raise TinylargeError(f"arm-none-eabi-ar failed: {res.stderr.decode()[-2000:]}")
    return out


def link(
    plan: BuildPlan, target: Target, objects: Sequence[Path], libs: Sequence[Path], elf: Path
) -> Path:
    """Link a semihosting ELF with the toolchain's memory map; C++ runtime from newlib-nano."""
    script = elf.parent / "tl_link.ld"
    script.write_text(LINKER_SCRIPT.format(code=target.code_origin, ram=target.ram_origin))
    cmd = [
        require_tool("arm-none-eabi-g++"), *abi_flags(plan), "-T", str(script), "-nostartfiles",
        "-Wl,--gc-sections", "--specs=nano.specs", "--specs=rdimon.specs",
        *map(str, objects), *map(str, libs), "-o", str(elf),
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, timeout=300)
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace")
        if "undefined reference" in err:
            raise UndefinedSymbolError(err[-2000:])
        raise TinylargeError(f"link of {elf.name} failed: {err[-3000:]}")
    return elf
