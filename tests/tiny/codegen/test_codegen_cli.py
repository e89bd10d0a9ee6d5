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
         "--report", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["arena_bytes"] == 256  # two 128-byte activations, ping-pong
    assert payload["tflm_arena_bytes"] > payload["arena_bytes"]
    assert payload["ops"] == ["FULLY_CONNECTED"] * 10
    assert len(payload["files"]) == 4
    assert payload["verify"][0]["bit_exact"] is True
    assert payload["bit_exact"] is True


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
