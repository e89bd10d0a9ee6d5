"""Shared fixtures: the .tflite models under tests/tiny/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"
MODELS = {
    "kws": FIXTURES / "mlperf_kws_dscnn_int8.tflite",  # MLPerf Tiny, TensorFlow converter
    "ad": FIXTURES / "mlperf_ad_autoencoder_int8.tflite",
    "opzoo": FIXTURES / "codegen_opzoo_int8.tflite",  # litert-torch PT2E, every supported op
    "timenet": FIXTURES / "codegen_timenet_int8.tflite",  # 1-D net as (1, k) Conv2d
    "student": FIXTURES / "codegen_cnn2d_mnist_int8.tflite",  # default mnist5k student, untrained
}


@pytest.fixture(params=sorted(MODELS))
def model_path(request) -> Path:
    return MODELS[request.param]
