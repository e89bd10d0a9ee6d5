"""``--kernels cmsis-nn``: the generated C calling Arm's CMSIS-NN (the copy in ../shared) is
bit-exact with TFLM under QEMU, and its scratch buffers come from CMSIS-NN's own size functions."""

from __future__ import annotations

import numpy as np
import pytest

from tinylarge.tiny.codegen.cmsis import find_shared_tree
from tinylarge.tiny.codegen.emit import generate
from tinylarge.tiny.codegen.verify import expected_outputs, random_inputs, verify
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.mcu.generated import measure_generated

from .conftest import MODELS


@pytest.fixture(scope="module")
def tree():
    found = find_shared_tree()
    assert found is not None, "CMSIS-NN not found under ../shared/third_party (see DESIGN.md)"
    return found


@pytest.mark.parametrize("name", ["kws", "tf_convnet"])
def test_cmsis_nn_backend_bit_exact_on_cortex_m4(tree, name):
    code = generate(load_graph(MODELS[name]), kernels="cmsis-nn", cmsis_nn=tree)
    assert any(k.startswith("arm_") for k in code.kernels)
    result = verify(code, MODELS[name], "qemu", n_random=3, cmsis_nn=tree)
    assert result.bit_exact, result


def test_cmsis_nn_calls_and_their_scratch(tree):
    """KWS's convolutions and its first layer's im2col scratch go through CMSIS-NN; the
    convolution needs 2 pixels x 40 taps of int16 (arm_convolve_s8's buffer on the DSP path)."""
    code = generate(load_graph(MODELS["kws"]), kernels="cmsis-nn", cmsis_nn=tree)
    calls = {"arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8",
             "arm_fully_connected_wrapper_s8", "arm_avgpool_s8", "arm_softmax_s8"}  # fmt: skip
    assert calls <= set(code.kernels)
    source = code.files["tl_model.c"]
    assert '#include "arm_nnfunctions.h"' in source
    assert "cmsis_nn_context c = {(void *)(arena + " in source
    assert code.plan.scratch  # planned in the arena like any tensor
    assert 2 * 40 * 2 in {b.size_bytes for b in code.plan.buffers if b.key.startswith("s")}


def test_our_kernels_beat_cmsis_nn_on_kws(tree):
    """Same model, same core, same harness: fewer instructions with tinylarge's kernels."""
    graph = load_graph(MODELS["kws"])
    ours, theirs = generate(graph), generate(graph, kernels="cmsis-nn", cmsis_nn=tree)
    x = random_inputs((1, *ours.input.shape[1:]), 1, 0)
    want = expected_outputs(ours, MODELS["kws"].read_bytes(), x)
    a, b = measure_generated(ours, x), measure_generated(theirs, x)
    np.testing.assert_array_equal(a.output_array(), want)
    np.testing.assert_array_equal(b.output_array(), want)
    assert (a.kernels, b.kernels) == ("tinylarge", "cmsis-nn")
    assert a.instructions_median < 0.7 * b.instructions_median
