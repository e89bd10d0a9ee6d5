"""The hand-written C kernel library: its own C unit tests, and its fixed-point helpers against the
pure-Python model in quantmath on many values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.emit import kernel_sources

HERE = Path(__file__).parent

DRIVER = r"""
#include <stdio.h>
#include "tl_kernels.h"
int main(void) {
  long a, b, c;
  while (scanf("%ld %ld %ld", &a, &b, &c) == 3) {
    printf("%ld %ld %ld\n", (long)tl_srdhm((int32_t)a, (int32_t)b),
           (long)tl_rdbpot((int32_t)a, (int)(c < 0 ? -c : c) % 32),
           (long)tl_mbqm((int32_t)a, (int32_t)b, (int)c));
  }
  return 0;
}
"""


def _build(tmp_path: Path, main_src: Path) -> Path:
    for name, text in kernel_sources().items():
        (tmp_path / name).write_text(text)
    exe = tmp_path / "t"
    subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{tmp_path}",
         str(main_src), str(tmp_path / "tl_kernels.c"), "-o", str(exe)],
        check=True, capture_output=True,
    )  # fmt: skip
    return exe


def test_c_unit_tests_pass(tmp_path):
    exe = _build(tmp_path, HERE / "test_tl_kernels.c")
    res = subprocess.run([str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout
    assert "0 failures" in res.stdout


def test_fixed_point_helpers_match_python_model(tmp_path):
    src = tmp_path / "driver.c"
    src.write_text(DRIVER)
    exe = _build(tmp_path, src)
    rng = np.random.default_rng(0)
    n = 4000
    a = rng.integers(-(2**31), 2**31, n)
    a[: n // 2] = rng.integers(-(2**20), 2**20, n // 2)  # accumulator-sized values
    b = rng.integers(2**30, 2**31, n)  # normalised multipliers
    c = rng.integers(-31, 8, n)
    edge = [(-(2**31), -(2**31), 0), (2**31 - 1, 2**31 - 1, -31), (-3, 2**30, 1), (0, 0, 0)]
    rows = [*map(tuple, np.stack([a, b, c], axis=1).tolist()), *edge]
    text = "\n".join(f"{x} {y} {z}" for x, y, z in rows)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True)
    for (x, y, z), line in zip(rows, out.stdout.splitlines(), strict=True):
        srdhm, rdbpot, mbqm = map(int, line.split())
        assert srdhm == qm.saturating_rounding_doubling_high_mul(x, y)
        assert rdbpot == qm.rounding_divide_by_pot(x, abs(z) % 32)
        assert mbqm == qm.multiply_by_quantized_multiplier(x, y, z)
