"""The hand-written C head update (``csrc/tl_head.c``) against the formulas in its header,
compiled with gcc on the host."""

import shutil
import subprocess

import numpy as np
import pytest

from tinylarge.integrate.federated.ftl_device import head_sources
from tinylarge.tiny.toolchain import compile_host

HARNESS = r"""
#include <stdio.h>
#include "tl_head.h"
int main(void) {
  float w[6] = {0.1f, 0.2f, -0.3f, 0.3f, -0.1f, 0.05f}, b[2] = {0.0f, 0.1f};
  float gw[6], gb[2], z[2], loss = 0.0f;
  tl_head_t h = {3, 2, w, b, gw, gb, z};
  const float f[6] = {1.0f, 2.0f, -1.0f, 0.5f, 0.0f, 4.0f};
  const int32_t y[2] = {1, 0};
  if (tl_head_sgd_step(&h, f, y, 2, 0.5f, &loss) != TL_HEAD_OK) return 1;
  for (int i = 0; i < 6; ++i) printf("%.9g\n", (double)w[i]);
  for (int i = 0; i < 2; ++i) printf("%.9g\n", (double)b[i]);
  printf("%.9g\n", (double)loss);
  const int32_t bad[1] = {2};
  if (tl_head_sgd_step(&h, f, bad, 1, 0.5f, NULL) != TL_HEAD_BAD_ARGUMENT) return 2;
  if (tl_head_sgd_step(&h, f, y, 0, 0.5f, NULL) != TL_HEAD_BAD_ARGUMENT) return 3;
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_one_sgd_step_matches_the_softmax_cross_entropy_gradient(tmp_path):
    head_sources(tmp_path)
    (tmp_path / "t.c").write_text(HARNESS)
    exe = compile_host(
        [tmp_path / "t.c", tmp_path / "tl_head.c"], tmp_path / "t", include=[tmp_path], libs=["-lm"]
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    got = np.array(out, dtype=np.float64)
    w = np.array([[0.1, 0.2, -0.3], [0.3, -0.1, 0.05]])
    b = np.array([0.0, 0.1])
    f = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 4.0]])
    y = np.array([1, 0])
    z = f @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(2), y]).mean()
    dz = (p - np.eye(2)[y]) / 2
    np.testing.assert_allclose(got[:6], (w - 0.5 * dz.T @ f).ravel(), atol=1e-6)
    np.testing.assert_allclose(got[6:8], b - 0.5 * dz.sum(0), atol=1e-6)
    np.testing.assert_allclose(got[8], loss, atol=1e-6)
