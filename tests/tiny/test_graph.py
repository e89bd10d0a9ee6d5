"""tinylarge.tiny.graph reads real .tflite files made by TensorFlow's converter (MLPerf Tiny)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.tiny.graph import graph_macs, load_graph, op_macs

# Copies of ../shared/models (MLPerf Tiny, Apache-2.0), unmodified.
MODELS = Path(__file__).parent / "fixtures"
KWS = MODELS / "mlperf_kws_dscnn_int8.tflite"
AD = MODELS / "mlperf_ad_autoencoder_int8.tflite"


def test_kws_structure_and_options():
    g = load_graph(KWS)
    assert [op.opcode for op in g.ops] == (
        ["CONV_2D"]
        + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4
        + ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    )
    conv0 = g.ops[0].options
    assert conv0["stride_h"] == conv0["stride_w"] == 2
    assert conv0["padding"] == "SAME" and conv0["fused_activation"] == "RELU"
    assert g.ops[1].options["depth_multiplier"] == 1
    pool = g.ops[9].options
    assert (pool["filter_h"], pool["filter_w"], pool["padding"]) == (25, 5, "VALID")
    assert g.ops[12].options["beta"] == 1.0
    assert g.ops[11].inputs[2] >= 0  # FC has a bias


def test_kws_tensors_quantization():
    g = load_graph(KWS)
    inp = g.tensors[g.inputs[0]]
    assert inp.shape == (1, 49, 10, 1) and inp.dtype == np.int8 and not inp.is_constant
    assert inp.scale.shape == (1,) and inp.zero_point[0] == 83
    out = g.tensors[g.outputs[0]]
    assert out.shape == (1, 12)
    assert out.scale[0] == pytest.approx(1 / 256) and out.zero_point[0] == -128
    conv0 = g.ops[0]
    w = g.tensors[conv0.inputs[1]]
    assert w.is_constant and w.data.shape == (64, 10, 4, 1) and w.data.dtype == np.int8
    assert w.is_per_channel and w.scale.shape == (64,) and w.quantized_dimension == 0
    b = g.tensors[conv0.inputs[2]]
    assert b.data.dtype == np.int32 and b.data.shape == (64,)
    dw = g.tensors[g.ops[1].inputs[1]]
    assert dw.shape == (1, 3, 3, 64) and dw.quantized_dimension == 3
    assert len(g.sha256) == 64


def test_kws_macs_hand_checked():
    g = load_graph(KWS)
    # conv0: 25x5x64 outputs, 10x4x1 kernel; DW 3x3; PW 1x1x64 -> 64.
    assert op_macs(g, g.ops[0]) == 25 * 5 * 64 * 10 * 4
    assert op_macs(g, g.ops[1]) == 25 * 5 * 64 * 9
    assert op_macs(g, g.ops[2]) == 25 * 5 * 64 * 64
    assert op_macs(g, g.ops[9]) == 64 * 25 * 5  # average pool: one add per window element
    assert op_macs(g, g.ops[10]) == 0  # RESHAPE moves no data
    assert op_macs(g, g.ops[11]) == 12 * 64
    assert op_macs(g, g.ops[12]) == 0
    assert graph_macs(g) == 320_000 + 4 * (72_000 + 512_000) + 8_000 + 768


def test_autoencoder_macs_and_weights():
    g = load_graph(AD)
    assert g.opcodes == ["FULLY_CONNECTED"]
    assert len(g.ops) == 10
    # 640-128-128-128-128-8-128-128-128-128-640 (MLPerf quotes 0.264 M MACs)
    assert graph_macs(g) == 2 * 640 * 128 + 6 * 128 * 128 + 2 * 128 * 8 == 264_192
    weights = 2 * 640 * 128 + 6 * 128 * 128 + 2 * 128 * 8
    biases = 4 * (8 * 128 + 8 + 640)
    assert g.weight_bytes == weights + biases
    assert g.ops[9].options["fused_activation"] == "NONE"


def test_load_from_bytes_same_as_path():
    g1, g2 = load_graph(AD), load_graph(AD.read_bytes())
    assert g1.sha256 == g2.sha256
    np.testing.assert_array_equal(g1.tensors[11].data, g2.tensors[11].data)


def test_bad_input_errors(tmp_path):
    with pytest.raises(TinylargeError, match="not found"):
        load_graph(tmp_path / "missing.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(TinylargeError, match="TFL3"):
        load_graph(bad)
