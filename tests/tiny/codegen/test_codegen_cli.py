"""`tinylarge codegen`: one JSON object on stdout, clear errors, exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tinylarge.cli.main import app

from .conftest import MODELS


def test_codegen_json_with_host_verify(tmp_path):
    out = tmp_path / "ad"
    res = CliRunner().invoke(
        app,
        ["codegen", str(MODELS["ad"]), "-o", str(out), "--verify", "host", "--n-random", "4",
         "--report", "--flash", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    # input (640 B) and first hidden layer (128 B) alive together: TFLM's head, no less
    assert payload["arena_bytes"] == 768
    assert payload["io_bytes_outside_arena"] == 0
    assert payload["tflm_arena_head_bytes"] == 768
    assert payload["memory_ratio"] == 1.0
    weights = payload["weight_bytes"]
    assert weights < payload["flash_bytes"] < weights + 16 * 1024  # weights + code + tables
    assert payload["flash_target"] == "cortex-m4"
    assert payload["ops"] == ["FULLY_CONNECTED"] * 10
    assert len(payload["files"]) == 9
    assert payload["verify"][0]["bit_exact"] is True
    assert payload["bit_exact"] is True


def test_cmsis_nn_backend_needs_its_tree(tmp_path):
    res = CliRunner().invoke(
        app, ["codegen", str(MODELS["ad"]), "-o", str(tmp_path / "x"), "--kernels", "cmsis-nn",
                 "--cmsis-nn", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "is not a CMSIS-NN tree" in res.output
    res = CliRunner().invoke(
        app, ["codegen", str(MODELS["ad"]), "-o", str(tmp_path / "x"), "--kernels", "tvm"]
    )
    assert res.exit_code == 2
    assert "unknown kernel backend 'tvm'; valid: tinylarge, cmsis-nn" in res.output
    assert not (tmp_path / "x").exists()


def test_unknown_verify_mode_and_target_are_user_errors(tmp_path):
    res = CliRunner().invoke(app, ["codegen", str(MODELS["ad"]), "-o", str(tmp_path / "x"),
                                   "--verify", "fpga"])  # fmt: skip
    assert res.exit_code == 2
    assert "'fpga' is not one of 'host', 'qemu'" in res.stderr
    res = CliRunner().invoke(app, ["codegen", str(MODELS["ad"]), "-o", str(tmp_path / "x"),
                                   "--target", "cortex-a53"])  # fmt: skip
    assert res.exit_code == 2
    assert "unknown target 'cortex-a53'; valid: cortex-m4" in res.stderr
    assert not (tmp_path / "x").exists()


def test_profile_shows_the_generated_c_measured_on_qemu():
    res = CliRunner().invoke(
        app, ["profile", str(MODELS["ad"]), "--device", "stm32l4r5,rpi4", "--json"]
    )
    assert res.exit_code == 0, res.output
    devices = {d["device"]: d["runtimes"]["generated_c"] for d in json.loads(res.stdout)["devices"]}
    m4 = devices["stm32l4r5"]
    assert m4["available"] is True and m4["basis"]["instructions"] == "measured"
    assert 300_000 < m4["instructions"] < 600_000
    assert m4["ram_bytes"] == 768  # input and first layer inside the arena, nothing else
    assert devices["rpi4"]["available"] is False
