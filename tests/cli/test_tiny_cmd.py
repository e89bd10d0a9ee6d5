"""``tinylarge quantize | profile | devices`` as a user runs them (real subprocess, real files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

KWS = Path(__file__).parents[1] / "tiny" / "fixtures" / "mlperf_kws_dscnn_int8.tflite"


def tinylarge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_devices_json_lists_the_catalog():
    out = tinylarge("devices", "--json")
    assert out.returncode == 0, out.stderr
    devices = {d["name"]: d for d in json.loads(out.stdout)["devices"]}
    assert {"rp2040", "nrf52840", "stm32l4r5", "stm32h7a3", "stm32f746", "nrf5340"} <= set(devices)
    l4 = devices["stm32l4r5"]
    assert l4["sram_bytes"] == 655360 and l4["cost_model"]["qemu_target"] == "cortex-m4"
    assert devices["esp32s3"]["cost_model"]["conv_cycles_per_mac"] > 0  # no emulator: modelled


def test_profile_all_json_has_the_contract_keys():
    out = tinylarge("profile", str(KWS), "--device", "all", "--no-measure", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["devices"]
    assert len(rows) >= 10
    for row in rows:
        assert {
            "device", "fits", "flash_bytes", "ram_bytes", "tflm_arena_bytes", "macs",
            "latency_s", "energy_j",
        } <= set(row)  # fmt: skip
        assert row["macs"] == 2_664_768
        tflm = row["runtimes"]["tflm_cmsis_nn"]
        assert set(tflm["basis"].values()) == {"modelled"}  # --no-measure: nothing run
        assert set(row["runtimes"]) == {"tflm_cmsis_nn", "generated_c"}
    assert out.stderr == ""  # nothing for humans was asked for


@pytest.mark.slow  # QEMU on the Cortex-M4 (TFLM build cached by the tests of tiny.mcu)
def test_profile_measures_where_qemu_runs_the_core_and_labels_every_figure():
    out = tinylarge("profile", str(KWS), "--device", "stm32l4r5,esp32s3", "--json")
    assert out.returncode == 0, out.stderr
    m4, esp = json.loads(out.stdout)["devices"]
    assert m4["basis"]["flash_bytes"] == m4["basis"]["instructions"] == "measured"
    assert m4["basis"]["latency_s"] == "modelled"
    for runtime in m4["runtimes"].values():
        assert runtime["available"]
        assert set(runtime["basis"].values()) <= {"measured", "modelled"}
        assert runtime["basis"]["ram_bytes"] == "measured"
    assert set(esp["runtimes"]["tflm_cmsis_nn"]["basis"].values()) == {"modelled"}


def test_profile_one_device_prints_tables_on_stderr_only():
    out = tinylarge("profile", str(KWS), "--device", "stm32h7a3", "--no-measure")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert "DEPTHWISE_CONV_2D" in out.stderr and "stm32h7a3" in out.stderr


def test_profile_errors_name_the_bad_value(tmp_path):
    out = tinylarge("profile", str(KWS), "--device", "esp8266", "--json")
    assert out.returncode == 2
    assert "unknown device 'esp8266'" in out.stderr and "stm32l4r5" in out.stderr
    assert out.stdout == ""
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    out = tinylarge("profile", str(junk), "--json")
    assert out.returncode == 2 and "error" in out.stderr


@pytest.mark.slow
def test_quantize_a_checkpoint_end_to_end(tmp_path):
    """Train a tiny cnn2d on digits briefly, save a checkpoint, quantize it with the CLI."""
    import torch

    from tinylarge.data import load_dataset
    from tinylarge.models import ModelSpec, build_model, save_checkpoint

    ds = load_dataset("digits")
    spec = ModelSpec(name="cnn2d", width=8, depth=2)
    torch.manual_seed(0)
    model = build_model(spec, ds.info.input_shape, ds.info.n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    for _ in range(4):
        for start in range(0, len(x), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(
                model(x[start : start + 64]), y[start : start + 64]
            ).backward()
            opt.step()
    meta = {"dataset": "digits", "input_shape": ds.info.input_shape, "n_classes": 10}
    save_checkpoint(tmp_path / "m.pt", model.eval(), spec, meta)
    out = tinylarge(
        "quantize", "m.pt", "-o", "m.tflite", "--dataset", "digits", "--json", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["all_ops_int8"] is True
    assert (tmp_path / result["tflite_path"]).is_file()
    assert 0.5 < result["float_accuracy"] <= 1.0
    assert abs(result["int8_accuracy"] - result["float_accuracy"]) < 0.05
    bad = tinylarge("quantize", "m.pt", "-o", "x.tflite", "--dataset", "mnist5k", cwd=tmp_path)
    assert bad.returncode == 2 and "input shape" in bad.stderr
