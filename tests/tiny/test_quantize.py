"""PyTorch -> full-integer int8 .tflite (litert-torch PT2E), verified in the TFLM interpreter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tinylarge.data import load_dataset
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.quantize import (
    QuantizationError,
    quantize_and_evaluate,
    quantize_model,
    suspect_layers,
    to_model_layout,
)
from tinylarge.tiny.runtime import LiteRtRuntime, TflmRuntime, compare_outputs, quantize


def _small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    """A small CNN trained for a few seconds on the 8x8 digits (float accuracy ~0.9)."""
    torch.manual_seed(0)
    model = _small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    generator = torch.Generator().manual_seed(0)
    for _ in range(8):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def ptq(trained, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("ptq") / "digits_int8.tflite"
    return quantize_and_evaluate(
        trained, digits.x_train, digits.y_train, digits.x_test, digits.y_test, out
    )


@pytest.mark.slow  # ~30 s with the conversion on a shared 2-core machine
def test_ptq_gives_a_full_int8_model_close_to_float(ptq, digits):
    assert ptq.all_ops_int8
    assert ptq.float_accuracy > 0.8
    assert ptq.int8_accuracy >= ptq.float_accuracy - 0.03
    assert ptq.agreement >= 0.9
    assert ptq.n_test == len(digits.y_test) and ptq.n_calibration == 300
    rt = TflmRuntime(ptq.tflite_path)
    assert rt.input_shape == (1, 8, 8, 1)  # channels-last input, no TRANSPOSE needed
    assert rt.output_shape == (1, 10)
    assert ptq.size_bytes == len(rt.model_bytes)


@pytest.mark.slow
def test_weights_are_per_channel_symmetric_and_biases_int32(ptq):
    g = load_graph(ptq.tflite_path)
    assert "TRANSPOSE" not in g.opcodes
    for op in g.ops:
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w, b = g.tensors[op.inputs[1]], g.tensors[op.inputs[2]]
            assert w.dtype == np.int8 and b.dtype == np.int32
            assert np.all(w.zero_point == 0)  # symmetric
            if op.opcode != "FULLY_CONNECTED":
                out_channels = w.shape[0] if op.opcode == "CONV_2D" else w.shape[-1]
                assert w.scale.size == out_channels  # per channel


@pytest.mark.slow
def test_int8_accuracy_is_tflm_and_litert_reference_agrees(ptq, digits):
    tflm = TflmRuntime(ptq.tflite_path)
    q_in = quantize(to_model_layout(digits.x_test), tflm.input_scale, tflm.input_zero_point)
    q_out = tflm.invoke_int8(q_in)
    assert np.mean(q_out.argmax(axis=1) == digits.y_test) == pytest.approx(ptq.int8_accuracy)
    agreement = compare_outputs(
        q_out, LiteRtRuntime(ptq.tflite_path, reference=True).invoke_int8(q_in)
    )
    assert agreement["n_samples"] == len(digits.y_test)
    assert agreement["top1_agreement"] >= 0.99
    assert agreement["max_abs_diff_steps"] <= 2  # FULLY_CONNECTED: single vs double rounding


def test_a_model_that_stays_float_names_its_layers(digits, tmp_path):
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 1)
            self.norm = nn.LayerNorm(8)
            self.head = nn.Linear(8, 10)

        def forward(self, x):
            return self.head(self.norm(nn.functional.gelu(self.conv(x)).mean((2, 3))))

    model = Odd().eval()
    assert suspect_layers(model) == ["norm (LayerNorm)"]
    out = tmp_path / "odd.tflite"
    with pytest.raises(QuantizationError, match=r"norm \(LayerNorm\)") as info:
        quantize_model(model, digits.x_train[:32], out)
    assert "float32, not int8" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_qat_needs_training_data(trained, digits, tmp_path):
    with pytest.raises(QuantizationError, match="train_data"):
        quantize_model(trained, digits.x_train[:32], tmp_path / "m.tflite", qat=True)


@pytest.mark.slow
def test_qat_fine_tunes_with_fake_quantization(trained, digits, ptq, tmp_path):
    result = quantize_and_evaluate(
        trained,
        digits.x_train,
        digits.y_train,
        digits.x_test,
        digits.y_test,
        tmp_path / "qat.tflite",
        qat=True,
        qat_epochs=2,
    )
    assert result.qat and result.all_ops_int8
    assert result.int8_accuracy >= ptq.int8_accuracy - 0.02
    assert trained.training is False  # the caller's model is not modified (BN folded on a copy)


def test_to_model_layout_is_nchw_to_nhwc():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y = to_model_layout(x)
    assert y.shape == (2, 4, 5, 3)
    assert y[1, 2, 3, 0] == x[1, 0, 2, 3]
