"""Models for the on-device tests: the fixtures the code generator's tests use, plus TF-converter
models (``tests/tiny/fixtures/tfconv_*``)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"
KWS = FIXTURES / "mlperf_kws_dscnn_int8.tflite"  # MLPerf Tiny, TensorFlow converter
AD = FIXTURES / "mlperf_ad_autoencoder_int8.tflite"
OPZOO = FIXTURES / "codegen_opzoo_int8.tflite"  # litert-torch PT2E, many ops
TIMENET = FIXTURES / "codegen_timenet_int8.tflite"
STUDENT = FIXTURES / "codegen_cnn2d_mnist_int8.tflite"  # default mnist5k student, untrained
TF_CNN = FIXTURES / "tfconv_cnn_concat_int8.tflite"  # TF converter: standalone RELU, concat
TF_CONV1D = FIXTURES / "tfconv_conv1d_int8.tflite"  # TF converter: Conv1D, RELU6, MEAN
TF_MLP = FIXTURES / "tfconv_mlp_residual_int8.tflite"  # TF converter: TANH, ADD, LOGISTIC
