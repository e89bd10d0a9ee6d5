"""The ``tinylarge`` command as a user runs it: one JSON object on stdout, errors with exit 2."""

import json
import subprocess
import sys

import pytest

TINY_SCENARIO = """\
name: clitest
dataset: digits
teacher:
  spec: {name: resnet2d, width: 8, depth: 2}
  train: {epochs: 2, batch_size: 64}
student:
  spec: {name: cnn2d, width: 4, depth: 2}
  train: {epochs: 2, batch_size: 64}
fleet: [{device: nrf52840, count: 4}]
loop: {duration_ticks: 4, samples_per_tick: 16, update_every: 2, min_new_samples: 8, epochs: 1}
drift: {kind: noise, at_tick: 2}
"""


def tinylarge(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_help_lists_the_commands():
    out = tinylarge("--help")
    assert out.returncode == 0
    for command in ("datasets", "demo"):
        assert command in out.stdout


def test_datasets_json_is_one_object_with_the_contract_keys():
    out = tinylarge("datasets", "--json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)  # exactly one JSON document
    names = {d["name"] for d in payload["datasets"]}
    assert {"mnist5k", "digits", "basic-motions", "italy-power", "japanese-vowels"} <= names
    for d in payload["datasets"]:
        assert {"name", "n_train", "n_test", "n_classes", "source"} <= set(d)


def test_demo_runs_a_scenario_writes_metrics_and_caches(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(TINY_SCENARIO)
    args = ("demo", "-s", str(scenario), "--runs-dir", "runs", "--cache-dir", "cache", "--json")
    first = tinylarge(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    m = json.loads(first.stdout)
    for role in ("teacher", "student"):
        assert 0.0 <= m[role]["accuracy"] <= 1.0 and m[role]["params"] > 0
        assert m[role]["cached"] is False
    run_dir = tmp_path / m["run_dir"]
    assert json.loads((run_dir / "metrics.json").read_text())["student"] == m["student"]
    assert (tmp_path / "runs" / "latest").resolve() == run_dir.resolve()
    assert (run_dir / "teacher.pt").is_file() and (run_dir / "student.pt").is_file()
    # deployed: int8 model measured in TFLM, profiled, C code bit-exact, cascade with its curve
    assert 0.0 <= m["student"]["int8_accuracy"] <= 1.0
    assert (run_dir / "student_int8.tflite").is_file()
    assert m["codegen"]["bit_exact_host"] is True
    assert sorted(p.name for p in (run_dir / "c").iterdir()) == sorted(
        ["tl_model.c", "tl_model.h", "tl_model_kernels.h", "tl_model_arith.h", "tl_model_conv.c",
         "tl_model_pool.c", "tl_model_elementwise.c", "tl_model_softmax.c", "tl_model_data.c"]
    )  # fmt: skip
    assert {p["device"] for p in m["profile"]} >= {"nrf52840", "rp2040", "stm32h7a3"}
    assert m["cascade"]["accuracy"] >= m["cascade"]["small_accuracy"]
    assert (run_dir / "plots" / "cascade.png").is_file()
    # the closed loop and its report
    assert len(m["accuracy_over_time"]) == 4 and isinstance(m["drift_recovered"], bool)
    assert (tmp_path / m["report"]).resolve() == (run_dir / "report.html").resolve()
    assert (run_dir / "report.html").is_file()

    second = json.loads(tinylarge(*args, cwd=tmp_path).stdout)
    assert second["teacher"]["cached"] and second["student"]["cached"]
    assert second["student"]["accuracy"] == m["student"]["accuracy"]
    assert second["run_dir"] != m["run_dir"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("demo", "--dataset", "cifar10"), "unknown dataset 'cifar10'; valid: mnist5k"),
        (("demo", "-s", "/nonexistent.yaml"), "File '/nonexistent.yaml' does not exist"),
        (("demo", "-s", "bad.yaml"), "invalid scenario 'bad.yaml': seed: Input should be"),
    ],
)
def test_user_errors_exit_2_with_the_reason_and_no_traceback(args, message, tmp_path):
    (tmp_path / "bad.yaml").write_text("seed: -1\n")
    out = tinylarge(*args, "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
    assert not (tmp_path / "runs").exists()  # nothing half-written
