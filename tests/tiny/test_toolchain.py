"""The QEMU instruction counter: SysTick ticks under ``-icount shift=0`` count instructions."""

from __future__ import annotations

import pytest

from tinylarge.tiny import toolchain

# A loop of exactly four instructions per iteration (nop, nop, subs, bne), ARMv6-M compatible.
SPIN_C = r"""
#include <stdint.h>
#include <stdio.h>
#include "tl_counter.h"
static void spin(uint32_t n) {
  __asm volatile(".syntax unified\n1: nop\n nop\n subs %%0, %%0, #1\n bne 1b\n" : "+l"(n) : : "cc");
}
int main(void) {
  tl_counter_start();
  uint64_t t0 = tl_counter_ticks();
  spin(%(n)du);
  uint64_t t1 = tl_counter_ticks();
  printf("%%lu\n", (unsigned long)(t1 - t0));
  return 0;
}
"""


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m33", "cortex-m0plus"])
def test_ticks_count_instructions_at_the_boards_rate(tmp_path, target):
    """A known number of instructions reads back as that number / instructions_per_tick."""
    tgt = toolchain.get_target(target)
    n_iter = 500_000
    src = tmp_path / "main.c"
    src.write_text(SPIN_C % {"n": n_iter})
    elf = toolchain.compile_target(tgt, [src], tmp_path / "app.elf", opt="-O2")
    rc, out = toolchain.run_qemu(tgt, elf, icount=True)
    assert rc == 0
    ticks = int(out.split()[0])
    expected = 4 * n_iter / tgt.instructions_per_tick
    assert abs(ticks - expected) <= 2  # call/return and the two reads around the loop


def test_counter_survives_a_24_bit_wrap(tmp_path):
    """More than 2**24 ticks: the SysTick interrupt counts the reloads."""
    tgt = toolchain.get_target("cortex-m4")
    n_iter = 180_000_000  # 720 M instructions = 18 M ticks > 2**24
    src = tmp_path / "main.c"
    src.write_text(SPIN_C % {"n": n_iter})
    elf = toolchain.compile_target(tgt, [src], tmp_path / "app.elf", opt="-O2")
    rc, out = toolchain.run_qemu(tgt, elf, icount=True)
    assert rc == 0
    assert abs(int(out.split()[0]) - 4 * n_iter / 40) <= 2
