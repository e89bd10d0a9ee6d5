"""Profiler: measured TFLM arena, MACs from the graph, cost-model latency/energy, fits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tinylarge.errors import UnknownNameError
from tinylarge.tiny.devices import load_device
from tinylarge.tiny.profile import (
    TFLM_RUNTIME_RAM_BYTES,
    analyze_model,
    calibration_table,
    profile,
    profile_many,
)
from tinylarge.tiny.runtime import UnsupportedModelError

FIXTURES = Path(__file__).parent / "fixtures"
KWS = FIXTURES / "mlperf_kws_dscnn_int8.tflite"
AD = FIXTURES / "mlperf_ad_autoencoder_int8.tflite"


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


def test_kws_memory_and_macs():
    r = profile(KWS, "stm32l4r5")
    # DS-CNN: conv 10x4 (320,000) + 4 x (depthwise 72,000 + pointwise 512,000) + pool + FC.
    assert r.macs == 320_000 + 4 * (72_000 + 512_000) + 8_000 + 768
    assert r.ram_bytes == r.tflm_arena_bytes + TFLM_RUNTIME_RAM_BYTES
    assert r.model_size_bytes == KWS.stat().st_size
    assert r.flash_bytes == r.model_size_bytes + r.runtime_code_bytes
    assert r.fits and r.reasons == []
    assert sum(layer.latency_s for layer in r.layers) == pytest.approx(r.latency_s)
    assert r.energy_j == pytest.approx(r.latency_s * load_device("stm32l4r5").active_power_w)


def test_a_model_too_big_for_a_device_says_why():
    """A device with 16 KiB of SRAM and flash cannot hold KWS (24 KB arena, 54 KB model)."""
    tiny = load_device("rp2040").model_copy(
        update={"sram_bytes": 16 * 1024, "flash_bytes": 16 * 1024}
    )
    r = profile(KWS, tiny)
    assert not r.fits
    assert any(reason.startswith("RAM") for reason in r.reasons)
    assert any(reason.startswith("flash") for reason in r.reasons)


def test_mlperf_tiny_calibration_is_within_the_required_bounds():
    """Latency within +-35% and energy within +-50% of MLPerf Tiny v1.1 on L4R5ZI and H7A3ZI."""
    rows = calibration_table({"kws_dscnn": KWS, "ad_autoencoder": AD})
    assert {(r["model"], r["device"]) for r in rows} == {
        ("kws_dscnn", "stm32l4r5"),
        ("kws_dscnn", "stm32h7a3"),
        ("ad_autoencoder", "stm32h7a3"),
    }
    for row in rows:
        assert abs(row["latency_error"]) <= 0.35, row
        if row["energy_error"] is not None:
            assert abs(row["energy_error"]) <= 0.50, row


def test_faster_cores_are_faster_on_the_same_model():
    facts = analyze_model(KWS)
    lat = {d: profile(facts, d).latency_s for d in ("rp2040", "stm32l4r5", "stm32h7a3", "a100")}
    assert lat["rp2040"] > lat["stm32l4r5"] > lat["stm32h7a3"] > lat["a100"]


def test_profile_all_is_fast_and_measures_tflm_once():
    t0 = time.perf_counter()
    results = profile_many(KWS, "all")
    assert time.perf_counter() - t0 < 5.0
    assert len({r.tflm_arena_bytes for r in results}) == 1
    assert len(results) >= 10


def test_float_and_garbage_models_are_rejected(tmp_path):
    with pytest.raises(UnsupportedModelError, match="not a full-integer int8"):
        profile(_with_float_input(KWS.read_bytes()), "stm32l4r5")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(UnsupportedModelError):
        profile(bad, "stm32l4r5")


def test_unknown_device_is_rejected_before_any_work():
    with pytest.raises(UnknownNameError, match="stm32l4r5"):
        profile_many(KWS, "stm32l4r5,nope")
