"""End to end: `tinylarge fleet` (service process + K agents), and `serve` + `token` + `device`
as separate processes talking over loopback, each answering with one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tinylarge.cli.main import app
from tinylarge.large.fleet import FleetConfig, run_fleet
from tinylarge.large.service.runner import free_port, wait_healthy

from .conftest import DEVICE_TFLITE, SPLIT_CUT, SPLIT_TFLITE


@pytest.mark.parametrize("mode", ["cascade", "split"])
def test_a_fleet_of_agents_gets_every_answer(teacher_checkpoint, mode):
    split = mode == "split"
    result = run_fleet(
        FleetConfig(
            checkpoint=str(teacher_checkpoint),
            tflite=str(SPLIT_TFLITE if split else DEVICE_TFLITE),
            n_agents=4,
            n_requests=15,
            threshold=1.01,  # cascade: offload everything, the service carries all 60 requests
            cut=SPLIT_CUT if split else None,
            max_wait_s=0.005,
        )
    )
    assert result.n_requests == 60 and result.n_offloaded == 60
    assert result.n_failed == 0, result.failures
    assert result.throughput_rps > 0
    assert 0 < result.latency_s["p50"] <= result.latency_s["p99"]
    route = "/v1/models/{name}/split/{cut}" if split else "/v1/models/{name}/infer"
    assert result.server["requests"][route] == {"200": 60}
    assert result.server["n_samples"] == 60
    assert result.accuracy > 0.7  # a 2-epoch teacher (0.87 in float) on digits


def test_token_command_prints_a_verifiable_token(tmp_path):
    from tinylarge.secure.tokens import read_secret, verify_token, write_secret

    secret_file = tmp_path / "k.hex"
    write_secret(secret_file)
    runner = CliRunner()
    out = runner.invoke(app, ["token", "dev-1", "--secret-file", str(secret_file), "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert verify_token(read_secret(secret_file), body["token"]).device_id == "dev-1"
    bad = runner.invoke(app, ["token", "bad.id", "--secret-file", str(secret_file)])
    assert bad.exit_code == 2 and "device id" in bad.output


def test_serve_rejects_a_missing_checkpoint_before_starting(tmp_path):
    out = CliRunner().invoke(
        app,
        [
            "serve",
            "--checkpoint",
            str(tmp_path / "nope.pt"),
            "--secret-file",
            str(tmp_path / "k.hex"),
        ],
    )
    assert out.exit_code == 2 and "does not exist" in out.output


@pytest.mark.slow  # three interpreter start-ups with torch, two uvicorn workers: ~25 s on 2 cores
def test_serve_token_and_device_commands_work_together(teacher_checkpoint, tmp_path):
    """`serve --workers 2` (workers rebuild the app from the config JSON), `token`, `device`."""
    port = free_port()
    secret = tmp_path / "secret.hex"
    cli = [sys.executable, "-m", "tinylarge.cli"]
    serve = subprocess.Popen(
        [
            *cli,
            "serve",
            "--checkpoint",
            str(teacher_checkpoint),
            "--port",
            str(port),
            "--secret-file",
            str(secret),
            "--workers",
            "2",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        started = json.loads(serve.stdout.readline())
        assert started == {
            "url": f"http://127.0.0.1:{port}",
            "workers": 2,
            "models": [teacher_checkpoint.stem],
        }
        wait_healthy(started["url"], serve)
        tok = subprocess.run(
            [*cli, "token", "dev-7", "--secret-file", str(secret), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(tok.stdout)["token"]
        dev = subprocess.run(
            [
                *cli,
                "device",
                "--tflite",
                str(DEVICE_TFLITE),
                "--url",
                started["url"],
                "--token",
                token,
                "--model",
                teacher_checkpoint.stem,
                "--requests",
                "30",
                "--threshold",
                "0.9",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        summary = json.loads(dev.stdout)
        assert summary["n_requests"] == 30 and summary["n_failed"] == 0
        assert 0 < summary["n_offloaded"] < 30
    finally:
        serve.terminate()
        serve.wait(timeout=30)
