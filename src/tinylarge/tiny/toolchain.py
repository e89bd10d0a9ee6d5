"""Compile and run generated C: host ``gcc``, and ``arm-none-eabi-gcc`` + ``qemu-system-arm``.

Cortex-M runs use QEMU's MPS2 boards with ARM semihosting (stdout and the exit code pass through
to the host), a minimal vector table and reset handler (copy ``.data``, zero ``.bss``,
``initialise_monitor_handles()``, ``exit(main())``) and a linker script that keeps code and const
data in the code memory and ``.data``/``.bss`` in SRAM -- the recipe in DESIGN.md.

Instruction counts: with ``run_qemu(..., icount=True)`` QEMU runs with ``-icount shift=0`` (its
virtual clock advances one ns per instruction) and SysTick ticks once per
``Target.instructions_per_tick`` instructions, the same on every run (measured with a loop of known
length: 40 on the 25 MHz AN385/AN386/AN500, 50 on the 20 MHz AN505). Firmware brackets the
code to measure with ``tl_counter_start()`` / ``tl_counter_ticks()`` (declared in ``tl_counter.h``,
written beside the sources by :func:`compile_target`). Shared by the code generator's checks and
the TFLM-on-device baseline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tinylarge.errors import TinylargeError, UnknownNameError

C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")


@dataclass(frozen=True)
class Target:
    """A Cortex-M target: compiler flags and the QEMU board that runs its code."""

    name: str
    cpu_flags: tuple[str, ...]
    machine: str
    qemu_cpu: str
    code_origin: int
    ram_origin: int
    note: str = ""
    # SysTick's clock is the board's, so under -icount shift=0 (1 instruction = 1 ns) one tick is
    # 1e9 / f_board instructions: 25 MHz on the AN385/AN386/AN500, 20 MHz on the AN505
    instructions_per_tick: int = 40


TARGETS: dict[str, Target] = {
    "cortex-m4": Target(
        "cortex-m4", ("-mcpu=cortex-m4", "-mthumb"), "mps2-an386", "cortex-m4", 0x0, 0x20000000
    ),
    "cortex-m7": Target(
        "cortex-m7", ("-mcpu=cortex-m7", "-mthumb"), "mps2-an500", "cortex-m7", 0x0, 0x20000000
    ),
    "cortex-m33": Target(
        "cortex-m33",
        ("-mcpu=cortex-m33", "-mthumb"),
        "mps2-an505",
        "cortex-m33",
        0x10000000,
        0x38000000,
        note="runs in the secure state of the AN505 image",
        instructions_per_tick=50,
    ),
    "cortex-m0plus": Target(
        "cortex-m0plus",
        ("-mcpu=cortex-m0plus", "-mthumb"),
        "mps2-an385",
        "cortex-m3",
        0x0,
        0x20000000,
        note="QEMU has no Cortex-M0+ board with enough RAM; the ARMv6-M code runs on the "
        "Cortex-M3 (ARMv7-M is a superset of ARMv6-M)",
    ),
}

COUNTER_H = r"""
#ifndef TL_COUNTER_H
#define TL_COUNTER_H
/* SysTick instruction counter of the QEMU test harness (see tinylarge.tiny.toolchain). */
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
void tl_counter_start(void);
uint64_t tl_counter_ticks(void);
#ifdef __cplusplus
}
#endif
#endif
"""

STARTUP_C = r"""
/* Minimal Cortex-M startup for QEMU + semihosting (test harness only). */
#include <stdint.h>
#include <stdlib.h>
#include "tl_counter.h"
#define TL_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define TL_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define TL_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile uint32_t tl_systick_wraps;
void SysTick_Handler(void);
void SysTick_Handler(void) { tl_systick_wraps++; }
/* SysTick on the processor clock, 24-bit reload, IRQ on wrap: CSR = ENABLE,TICKINT,CLKSOURCE */
void tl_counter_start(void) {
  TL_SYST_CSR = 0u;
  TL_SYST_RVR = 0xFFFFFFu;
  TL_SYST_CVR = 0u;
  tl_systick_wraps = 0u;
  TL_SYST_CSR = 7u;
}
uint64_t tl_counter_ticks(void) {
  uint32_t wraps, value;
  do {
    wraps = tl_systick_wraps;
    value = TL_SYST_CVR;
  } while (wraps != tl_systick_wraps);
  /* 0 is the value before the first reload (just started) or at the end of a period, whose wrap
     the handler has already counted: both mean "start of a period" */
  if (value == 0u) value = 0xFFFFFFu;
  return (uint64_t)wraps * 0x1000000u + (0xFFFFFFu - value);
}
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);
void Reset_Handler(void);
void Default_Handler(void);
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}
void Default_Handler(void) {
  for (;;) {
  }
}
void Reset_Handler(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  initialise_monitor_handles();
  exit(main());
}
__attribute__((section(".isr_vector"), used)) void (*const tl_vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler};
"""

LINKER_SCRIPT = """
MEMORY {{
  CODE (rx) : ORIGIN = {code:#x}, LENGTH = 4M
  RAM (rwx) : ORIGIN = {ram:#x}, LENGTH = 4M
}}
ENTRY(Reset_Handler)
SECTIONS {{
  .isr_vector : {{ KEEP(*(.isr_vector)) }} > CODE
  .text : {{
    *(.text*) *(.rodata*)
    KEEP(*(.init)) KEEP(*(.fini))
    . = ALIGN(4);
    __preinit_array_start = .; KEEP(*(.preinit_array)) __preinit_array_end = .;
    __init_array_start = .; KEEP(*(.init_array*)) __init_array_end = .;
    __fini_array_start = .; KEEP(*(.fini_array*)) __fini_array_end = .;
    . = ALIGN(4);
  }} > CODE
  .ARM.exidx : {{ *(.ARM.exidx*) }} > CODE
  _sidata = LOADADDR(.data);
  .data : {{ _sdata = .; *(.data*) . = ALIGN(4); _edata = .; }} > RAM AT > CODE
  .bss : {{ _sbss = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; }} > RAM
  end = .; _end = .; __end__ = .;
  _estack = ORIGIN(RAM) + LENGTH(RAM);
}}
"""


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise UnknownNameError("target", name, TARGETS)
    return TARGETS[name]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TinylargeError(
            f"{name} not found on PATH; install it (see DESIGN.md, Cortex-M check)"
        )
    return path


def _run(
    cmd: Sequence[str], timeout_s: float, stdin: bytes | None = None
) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), input=stdin, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise TinylargeError(f"{cmd[0]} timed out after {timeout_s:.0f} s") from exc


def compile_host(
    sources: Sequence[Path],
    exe: Path,
    opt: str = "-O2",
    include: Sequence[Path] = (),
    libs: Sequence[str] = (),
) -> Path:
    """``gcc -std=c99 -Wall -Wextra -Werror`` on the host; raises with the compiler's message.
    ``libs`` (e.g. ``"-lm"``) go after the sources, where the linker needs them."""
    cc = require_tool("gcc")
    cmd = [cc, *C_FLAGS, opt, *(f"-I{p}" for p in include), *map(str, sources), "-o", str(exe),
           *libs]  # fmt: skip
    res = _run(cmd, 300)
    if res.returncode != 0:
        raise TinylargeError("host compile failed:\n" + res.stderr.decode(errors="replace")[-4000:])
    return exe


def run_host(exe: Path, stdin: bytes, args: Sequence[str] = (), timeout_s: float = 300) -> bytes:
    res = _run([str(exe), *args], timeout_s, stdin)
    if res.returncode != 0:
        raise TinylargeError(
            f"{exe.name} exited with {res.returncode}: {res.stderr.decode()[-2000:]}"
        )
    return res.stdout


def compile_target(
    target: Target,
    sources: Sequence[Path],
    elf: Path,
    opt: str = "-Os",
    include: Sequence[Path] = (),
    libs: Sequence[str] = (),
) -> Path:
    """Cross-compile ``sources`` plus the startup code into a semihosting ELF for ``target``
    (``libs``, e.g. ``"-lm"``, linked after them)."""
    cc = require_tool("arm-none-eabi-gcc")
    work = elf.parent
    (work / "tl_startup.c").write_text(STARTUP_C)
    (work / "tl_counter.h").write_text(COUNTER_H)
    (work / "tl_link.ld").write_text(
        LINKER_SCRIPT.format(code=target.code_origin, ram=target.ram_origin)
    )
    cmd = [
        cc, *target.cpu_flags, *C_FLAGS, opt, "-ffunction-sections", "-fdata-sections",
        f"-I{work}", *(f"-I{p}" for p in include), *map(str, sources), str(work / "tl_startup.c"),
        "-T", str(work / "tl_link.ld"), "-nostartfiles", "-Wl,--gc-sections",
        "--specs=nano.specs", "--specs=rdimon.specs", "-o", str(elf), *libs,
    ]  # fmt: skip
    res = _run(cmd, 300)
    if res.returncode != 0:
        raise TinylargeError(
            f"{target.name} compile failed:\n" + res.stderr.decode(errors="replace")[-4000:]
        )
    return elf


def run_qemu(
    target: Target, elf: Path, timeout_s: float = 300, icount: bool = False
) -> tuple[int, str]:
    """Run ``elf`` on the target's QEMU board; returns (exit code, semihosting stdout).

    ``icount=True`` makes the virtual clock count instructions (``-icount shift=0``), so the
    firmware's ``tl_counter_ticks()`` differences are deterministic: instructions /
    ``target.instructions_per_tick``.
    """
    qemu = require_tool("qemu-system-arm")
    cmd = [
        qemu, "-M", target.machine, "-cpu", target.qemu_cpu, "-nographic", "-monitor", "none",
        "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
        *(("-icount", "shift=0") if icount else ()),
    ]  # fmt: skip
    res = _run(cmd, timeout_s)
    return res.returncode, res.stdout.decode(errors="replace")


@dataclass(frozen=True)
class SectionSizes:
    """``arm-none-eabi-size`` (Berkeley format) of an ELF, in bytes."""

    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        """Code + const data + the initial values of .data."""
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss


def section_sizes(path: Path) -> SectionSizes:
    """text/data/bss of an ELF or object file (summed over all objects in it)."""
    size = require_tool("arm-none-eabi-size")
    res = _run([size, "-B", "-t", str(path)], 60)
    if res.returncode != 0:
        raise TinylargeError(f"arm-none-eabi-size failed: {res.stderr.decode()}")
    lines = [ln for ln in res.stdout.decode().splitlines() if ln.strip()]
    nums = re.findall(r"\d+", lines[-1])
    return SectionSizes(text=int(nums[0]), data=int(nums[1]), bss=int(nums[2]))
