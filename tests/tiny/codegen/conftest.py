"""Shared fixtures: the .tflite models under tests/tiny/fixtures (see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"
MODELS = {
    "kws": FIXTURES / "mlperf_kws_dscnn_int8.tflite",  # MLPerf Tiny, TensorFlow converter
    "ad": FIXTURES / "mlperf_ad_autoencoder_int8.tflite",
    "opzoo": FIXTURES / "codegen_opzoo_int8.tflite",  # litert-torch PT2E
    "timenet": FIXTURES / "codegen_timenet_int8.tflite",  # 1-D net as (1, k) Conv2d
    "student": FIXTURES / "codegen_cnn2d_mnist_int8.tflite",  # default mnist5k student, untrained
    "torchops": FIXTURES / "codegen_torchops_int8.tflite",  # litert-torch PT2E, the op list
    "torchacts": FIXTURES / "codegen_torchacts_int8.tflite",  # litert-torch + ai-edge-quantizer
    "tf_convnet": FIXTURES / "tf_convnet_int8.tflite",  # TF converter, the op list
    "tf_activations": FIXTURES / "tf_activations_int8.tflite",
    "tf_tensor_ops": FIXTURES / "tf_tensor_ops_int8.tflite",
    "tf_transpose_conv": FIXTURES / "tf_transpose_conv_int8.tflite",
    "tf_float_io": FIXTURES / "tf_float_io_int8.tflite",  # float I/O: QUANTIZE / DEQUANTIZE
}
# Under QEMU (minutes): the models covering every kernel between them
QEMU_MODELS = ("kws", "ad", "torchops", "torchacts", "tf_convnet", "tf_activations",
               "tf_tensor_ops", "tf_transpose_conv", "tf_float_io")  # fmt: skip


@pytest.fixture(params=sorted(MODELS))
def model_path(request) -> Path:
    return MODELS[request.param]
