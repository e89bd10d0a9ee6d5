"""The TinyML benchmark set shared by ``bench_mcu`` and ``bench_codegen``: the two MLPerf Tiny
models (TensorFlow's converter, copies of ``../shared/models/``), TF-converter models, the op-list
fixtures (``tests/tiny/fixtures``, see its README) and the project's students.

Students are trained through the artifact cache (a second run loads them: the same ``.tflite``
bytes, so the content-keyed measurement caches hit too) and quantized with litert-torch PT2E.
Nothing here is chosen on test data: the architectures and epochs are the defaults of the
student presets, the only knob being a short epoch count to keep the benchmark quick.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "tiny" / "fixtures"

MLPERF = [
    ("MLPerf KWS DS-CNN (TF)", FIXTURES / "mlperf_kws_dscnn_int8.tflite"),
    ("MLPerf AD autoencoder (TF)", FIXTURES / "mlperf_ad_autoencoder_int8.tflite"),
]
TF_CONVERTER = [
    ("TF CNN + concat + RELU", FIXTURES / "tfconv_cnn_concat_int8.tflite"),
    ("TF Conv1D + RELU6 + MEAN", FIXTURES / "tfconv_conv1d_int8.tflite"),
    ("TF MLP + TANH/ADD/LOGISTIC", FIXTURES / "tfconv_mlp_residual_int8.tflite"),
]
# the codegen op list as TF's converter and litert-torch emit it
OP_LIST = [
    ("TF op list: convnet", FIXTURES / "tf_convnet_int8.tflite"),
    ("TF op list: activations", FIXTURES / "tf_activations_int8.tflite"),
    ("TF op list: tensor ops", FIXTURES / "tf_tensor_ops_int8.tflite"),
    ("TF op list: transpose conv", FIXTURES / "tf_transpose_conv_int8.tflite"),
    ("TF op list: float I/O", FIXTURES / "tf_float_io_int8.tflite"),
    ("litert-torch op list: ops", FIXTURES / "codegen_torchops_int8.tflite"),
    ("litert-torch op list: activations", FIXTURES / "codegen_torchacts_int8.tflite"),
]


def student_models(work: Path, name: str = "bench_tiny") -> list[tuple[str, Path, str]]:
    """(label, tflite, dataset) of the default students (mnist5k 2-D CNN, basic-motions 1-D CNN)
    and a small ResNet (residual ADD) on digits, trained briefly and quantized (PT2E)."""
    from tinylarge.data import load_dataset
    from tinylarge.models import ModelSpec, default_student_spec
    from tinylarge.tiny.quantize import quantize_and_evaluate
    from tinylarge.train.cache import ArtifactCache
    from tinylarge.train.presets import default_train_config

    plans = [
        ("mnist5k", None, 4),
        ("basic-motions", None, 40),
        ("digits", ModelSpec(name="resnet2d", width=8, depth=2), 8),
    ]
    cache = ArtifactCache()
    out = []
    for dataset, spec, epochs in plans:
        ds = load_dataset(dataset)
        spec = spec or default_student_spec(ds.info)
        config = default_train_config(ds.info, "student").model_copy(update={"epochs": epochs})
        model, _ = cache.cached_fit(spec, ds, config, progress=False, name=name)
        path = work / f"{dataset}_{spec.name}_int8.tflite"
        q = quantize_and_evaluate(
            model, ds.x_train, ds.y_train, ds.x_test, ds.y_test, path, n_calibration=200
        )
        out.append((f"student {spec.name} on {dataset} (acc {q.int8_accuracy:.3f})", path, dataset))
    return out
