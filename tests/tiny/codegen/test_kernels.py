"""The hand-written C kernel library: its C unit tests on the host (portable path) and on an
emulated Cortex-M4 (DSP path), its fixed-point helpers against the pure-Python model in quantmath,
and the renaming that lets several models link into one firmware."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from tinylarge.tiny import toolchain
from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.emit import kernel_sources

HERE = Path(__file__).parent

DRIVER = r"""
#include <stdio.h>
#include "tl_arith.h"
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


def _library(tmp_path: Path) -> list[Path]:
    srcs = []
    for name, text in kernel_sources().items():
        (tmp_path / name).write_text(text)
        if name.endswith(".c"):
            srcs.append(tmp_path / name)
    return srcs


def _build(tmp_path: Path, main_src: Path) -> Path:
    return toolchain.compile_host(
        [main_src, *_library(tmp_path)], tmp_path / "t", include=[tmp_path]
    )


def test_c_unit_tests_pass_on_the_host(tmp_path):
    res = subprocess.run([str(_build(tmp_path, HERE / "test_tl_kernels.c"))], capture_output=True,
                         text=True)  # fmt: skip
    assert res.returncode == 0, res.stdout
    assert "0 failures" in res.stdout


def test_c_unit_tests_pass_on_cortex_m4_with_the_dsp_path(tmp_path):
    """The same tests through SMMLAR/SMLAD (``__ARM_FEATURE_DSP``) under QEMU."""
    tgt = toolchain.get_target("cortex-m4")
    elf = toolchain.compile_target(
        tgt, [HERE / "test_tl_kernels.c", *_library(tmp_path)], tmp_path / "t.elf",
        opt="-O2", include=[tmp_path],
    )  # fmt: skip
    rc, out = toolchain.run_qemu(tgt, elf)
    assert rc == 0, out
    assert "0 failures" in out


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


def test_every_global_name_carries_the_prefix():
    """Renamed for prefix ``kws``, the library defines no ``tl_`` name and no unprefixed global
    function: two models' libraries link side by side."""
    files = kernel_sources("kws")
    assert sorted(files) == sorted(
        ["kws_kernels.h", "kws_arith.h", "kws_conv.c", "kws_pool.c", "kws_elementwise.c",
         "kws_softmax.c", "kws_data.c"]
    )  # fmt: skip
    for name, text in files.items():
        assert not re.search(r"\btl_|\bTL_", text), name
        if name.endswith(".c"):
            # functions at file scope: static, or named kws_*
            for m in re.finditer(r"^(?!static)[a-z][\w ]*?\b(\w+)\(", text, flags=re.M):
                assert m.group(1).startswith("kws_"), (name, m.group(0))
