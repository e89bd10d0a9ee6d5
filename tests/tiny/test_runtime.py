"""TFLM and LiteRT int8 runtimes on the published MLPerf Tiny models (tests/tiny/fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.tiny.arena_probe import ARENA_ALIGN_BYTES, ArenaProber, find_arena_bytes
from tinylarge.tiny.runtime import (
    Int8Runtime,
    LiteRtRuntime,
    TflmRuntime,
    UnsupportedModelError,
    compare_outputs,
    dequantize,
    quantize,
)

FIXTURES = Path(__file__).parent / "fixtures"
KWS = FIXTURES / "mlperf_kws_dscnn_int8.tflite"
AD = FIXTURES / "mlperf_ad_autoencoder_int8.tflite"


def _random_int8(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape[1:])).astype(np.int8)


def _with_float_input(model_bytes: bytes) -> bytes:
    """The same model with its input tensor re-typed FLOAT32 (through the generated schema)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    sg = m.subgraphs[0]
    sg.tensors[sg.inputs[0]].type = schema.TensorType.FLOAT32
    builder = flatbuffers.Builder(len(model_bytes) * 2)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_find_arena_bytes_returns_the_smallest_aligned_size_that_works():
    """Doubling then bisection lands on the first multiple of 16 at or above the threshold."""
    tried: list[int] = []

    def works(n: int) -> bool:
        tried.append(n)
        return n >= 10_001

    assert find_arena_bytes(works) == 10_016
    assert len(tried) < 20  # logarithmic, not a scan


def test_find_arena_bytes_gives_up_on_a_model_that_never_allocates():
    with pytest.raises(TinylargeError, match="any arena up to"):
        find_arena_bytes(lambda n: False)


def test_tflm_arena_is_the_smallest_that_allocates_and_invokes():
    rt = TflmRuntime(KWS)
    assert rt.arena_bytes % ARENA_ALIGN_BYTES == 0
    with ArenaProber(rt.model_bytes, rt.input_shape) as probe:
        assert probe(rt.arena_bytes)
        assert not probe(rt.arena_bytes - ARENA_ALIGN_BYTES)
    # KWS DS-CNN: largest activation pair 25x5x64 int8 twice = 16000 B, plus persistent state.
    assert 16_000 < rt.arena_bytes < 40_000


def test_a_probe_that_crashes_tflm_counts_as_too_small(tmp_path):
    """tflite-micro segfaults on some too-small arenas; the worker dies, the search goes on."""
    with ArenaProber(KWS.read_bytes(), (1, 49, 10, 1)) as probe:
        probe._worker = probe._start()
        probe._worker.kill()  # as if TFLM had crashed on the next probe
        probe._worker.wait()
        assert probe(1 << 20) is False
        assert probe.n_crashes == 1
        assert probe(1 << 20) is True  # a fresh worker answers


def test_an_explicit_arena_that_is_too_small_is_refused():
    with pytest.raises(TinylargeError, match="cannot allocate"):
        TflmRuntime(KWS, arena_bytes=2048)
    assert TflmRuntime(KWS, arena_bytes=64 * 1024).arena_bytes == 64 * 1024


def test_runtimes_share_the_protocol_and_the_models_io():
    tflm, litert = TflmRuntime(KWS), LiteRtRuntime(KWS, reference=True)
    for rt in (tflm, litert):
        assert isinstance(rt, Int8Runtime)
        assert rt.input_shape == (1, 49, 10, 1)
        assert rt.output_shape == (1, 12)
        assert rt.input_scale == pytest.approx(0.5847029)
        assert rt.input_zero_point == 83
        assert rt.output_zero_point == -128


@pytest.mark.parametrize("model", [KWS, AD], ids=["kws", "ad"])
def test_litert_reference_agrees_with_tflm_within_a_few_steps(model):
    """Reference kernels differ from TFLM only by FULLY_CONNECTED's single vs double rounding."""
    tflm, ref = TflmRuntime(model), LiteRtRuntime(model, reference=True, batch_size=64)
    x = _random_int8(tflm.input_shape, 150)
    a, b = tflm.invoke_int8(x), ref.invoke_int8(x)
    assert a.shape == b.shape == (150, *tflm.output_shape[1:])
    stats = compare_outputs(a, b)
    assert stats["max_abs_diff_steps"] <= 8
    assert stats["frac_outputs_different"] < 0.5
    if model == KWS:  # classifier: the decision must agree
        assert stats["top1_agreement"] >= 0.99


def test_tflm_is_deterministic_and_batch_order_independent():
    tflm = TflmRuntime(KWS)
    x = _random_int8(tflm.input_shape, 8, seed=1)
    full = tflm.invoke_int8(x)
    np.testing.assert_array_equal(tflm.invoke_int8(x[::-1])[::-1], full)
    np.testing.assert_array_equal(tflm.invoke_int8(x[3:4])[0], full[3])


def test_predict_quantizes_invokes_and_dequantizes():
    tflm = TflmRuntime(AD)
    x = np.random.default_rng(2).normal(0, 5, (4, 640)).astype(np.float32)
    q = quantize(x, tflm.input_scale, tflm.input_zero_point)
    expected = dequantize(tflm.invoke_int8(q), tflm.output_scale, tflm.output_zero_point)
    np.testing.assert_array_equal(tflm.predict(x), expected)


def test_quantize_follows_the_tflite_spec():
    q = quantize(np.array([0.0, 0.5, -1000.0, 1000.0, 0.26]), scale=0.5, zero_point=-3)
    np.testing.assert_array_equal(q, [-3, -2, -128, 127, -2])
    np.testing.assert_allclose(dequantize(q, 0.5, -3), [0.0, 0.5, -62.5, 65.0, 0.5])


def test_bad_inputs_are_named():
    tflm = TflmRuntime(AD)
    with pytest.raises(TinylargeError, match="int8 input"):
        tflm.invoke_int8(np.zeros((1, 640), np.float32))
    with pytest.raises(TinylargeError, match=r"\(n, 640\)"):
        tflm.invoke_int8(np.zeros((1, 64), np.int8))


def test_float_io_model_is_rejected_clearly():
    with pytest.raises(UnsupportedModelError, match="float32, not int8"):
        TflmRuntime(_with_float_input(KWS.read_bytes()))


def test_garbage_and_missing_files_are_rejected(tmp_path):
    with pytest.raises(UnsupportedModelError, match="not a loadable"):
        LiteRtRuntime(b"\x00" * 100)
    with pytest.raises(TinylargeError, match="not found"):
        TflmRuntime(tmp_path / "nope.tflite")
