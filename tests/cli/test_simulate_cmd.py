"""``tinylarge simulate``: bundled scenarios listed, bad input refused with one line and exit 2
before any work starts, and (slow: the real workload) a run's JSON has the documented shape."""

import json
import subprocess
import sys

import pytest


def tinylarge(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
    )


def test_list_names_the_bundled_scenarios():
    out = tinylarge("simulate", "--list", "--json")
    assert out.returncode == 0, out.stderr
    names = [s["name"] for s in json.loads(out.stdout)["scenarios"]]
    assert {"city-100k", "smoke", "regime-heavy-poor"} <= set(names)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("simulate",), "give a scenario file or --scenario-name NAME (bundled: city-100k"),
        (
            ("simulate", "--scenario-name", "mars"),
            "unknown fleet scenario 'mars'; valid: city-100k",
        ),
        (("simulate", "nope.yaml"), "File 'nope.yaml' does not exist"),
        (("simulate", "--scenario-name", "smoke", "--policy", "random"), "unknown policy 'random'"),
        (
            ("simulate", "--scenario-name", "smoke", "--devices", "-3"),
            "-3 is not in the range x>=1",
        ),
        (("simulate", "--scenario-name", "smoke", "--workers", "0"), "0 is not in the range x>=1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    out = tinylarge(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_scenario_file_errors_name_the_value(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("devices: {n: 10}\nnetwork: {band: 6g-subthz, channel_scenario: uma}\n")
    out = tinylarge("simulate", str(bad))
    assert out.returncode == 2
    assert "fc_ghz 140 is outside the uma model's validity range 0.5-100 GHz" in out.stderr
    bad.write_text("devices: {n: 10, mix: {arduino: 1}}\n")
    out = tinylarge("simulate", str(bad))
    assert "unknown device (microcontroller) 'arduino'; valid: esp32s3" in out.stderr


@pytest.mark.slow
def test_a_small_run_writes_metrics_plots_and_json(tmp_path):
    out = tinylarge(
        "simulate",
        "--scenario-name",
        "smoke",
        "--devices",
        "300",
        "--duration",
        "10",
        "--json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload["n_devices"] == 300 and payload["sim_duration_s"] == 10
    assert payload["wall_s"] > 0
    for name, p in payload["policies"].items():
        assert set(p["latency_s"]) >= {"p50", "p95", "p99"}, name
        for key in ("energy_j_per_inference", "accuracy", "sla_violation_rate", "edge_utilisation"):
            assert isinstance(p[key], float), (name, key)
    run = tmp_path / "runs" / "latest"
    assert json.loads((run / "metrics.json").read_text())["n_requests"] == payload["n_requests"]
    assert sorted(p.name for p in (run / "plots").iterdir()) == [
        "edge_load.png",
        "latency_cdf.png",
        "policies.png",
    ]
