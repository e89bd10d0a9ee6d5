"""Profiler: the modelled fast path (instruction model, estimates), labels, fits; the measured
path (QEMU) on one core is in test_profile_measured (slow)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tinylarge.errors import UnknownNameError
from tinylarge.tiny.devices import load_device
from tinylarge.tiny.profile import (
    MEASURED,
    MODELLED,
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


def test_unmeasured_figures_are_labelled_modelled_and_say_how():
    """Without a QEMU run every figure is modelled; QEMU cores use the instruction model."""
    results = {r.device: r for r in profile_many(KWS, "stm32l4r5,esp32s3,a100")}
    m4 = results["stm32l4r5"]
    assert set(m4.runtimes["tflm_cmsis_nn"].basis.values()) == {MODELLED}
    assert m4.basis["tflm_arena_bytes"] == MEASURED  # the x86-64 wheel's, always measured
    assert m4.latency_method.startswith("instruction model")
    assert m4.instructions and m4.layers[0].instructions is not None
    assert results["esp32s3"].latency_method.startswith("estimated cycles")
    assert "instructions" not in results["esp32s3"].basis
    assert not m4.runtimes["generated_c"].available  # needs a run
    assert not results["a100"].runtimes["generated_c"].available


def test_a_model_too_big_for_a_device_says_why():
    """A device with 16 KiB of SRAM and flash cannot hold KWS (24 KB arena, 54 KB model)."""
    tiny = load_device("rp2040").model_copy(
        update={"sram_bytes": 16 * 1024, "flash_bytes": 16 * 1024}
    )
    r = profile(KWS, tiny)
    assert not r.fits
    assert any(reason.startswith("RAM") for reason in r.reasons)
    assert any(reason.startswith("flash") for reason in r.reasons)


def test_calibration_table_is_the_leave_one_out_over_the_four_krai_points():
    rows = calibration_table()
    assert {(r["model"], r["device"]) for r in rows} == {
        ("mlperf_kws_dscnn_int8", "stm32l4r5"),
        ("mlperf_ad_autoencoder_int8", "stm32l4r5"),
        ("mlperf_kws_dscnn_int8", "nrf5340"),
        ("mlperf_ad_autoencoder_int8", "nrf5340"),
    }
    for row in rows:
        assert row["error"] == pytest.approx(
            row["predicted_latency_s"] / row["published_latency_s"] - 1
        )
        assert row["predicted_energy_j"] > 0


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


@pytest.mark.slow  # QEMU runs on the Cortex-M4 (TFLM build cached after the first)
def test_measured_profile_labels_every_figure_and_replaces_the_estimates():
    r = profile_many(KWS, "stm32l4r5,nrf52840,esp32s3", measure=True)
    m4, nrf52, esp = r
    assert m4.basis == {
        "flash_bytes": MEASURED,
        "ram_bytes": MEASURED,
        "instructions": MEASURED,
        "latency_s": MODELLED,
        "energy_j": MODELLED,
        "tflm_arena_bytes": MEASURED,
        "runtime_code_bytes": MEASURED,
    }
    assert m4.runtimes["tflm_cmsis_nn"].note.startswith("RAM = 32-bit arena_used 22820 B")
    assert m4.ram_bytes < m4.tflm_arena_bytes  # below the x86-64 estimate's arena alone
    assert m4.latency_method.startswith("measured instructions (cortex-m4")
    gen = m4.runtimes["generated_c"]
    assert gen.available and gen.basis["instructions"] == MEASURED
    # the same core at 64 MHz (nRF52840) takes the same instructions, more time
    assert nrf52.instructions == m4.instructions and nrf52.latency_s > m4.latency_s
    # no emulator for the ESP32-S3: modelled, with the M4's 32-bit memory as a stand-in
    assert set(esp.runtimes["tflm_cmsis_nn"].basis.values()) == {MODELLED}
    assert esp.ram_bytes == m4.ram_bytes
    assert esp.runtimes["generated_c"].basis["latency_s"] == MODELLED
