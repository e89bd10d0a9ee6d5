"""``tinylarge distill | transfer | label | search``: one JSON object with the headline numbers."""

import json
import os
import subprocess
import sys

import pytest


def tinylarge(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # a shared 2-core machine: no spinning
    )


def test_the_four_commands_are_registered():
    out = tinylarge("--help")
    assert out.returncode == 0
    for command in ("distill", "transfer", "label", "search"):
        assert command in out.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["search", "--device", "toaster", "--json"], "toaster"),
        (["distill", "--dataset", "cifar", "--json"], "cifar"),
        (["distill", "--feature", "hints", "--json"], "hints"),
        (["transfer", "--mode", "everything", "--json"], "everything"),
        (["distill", "--family", "transformer", "--json"], "transformer"),
        (["label", "--threshold", "2", "--json"], "--threshold"),
        (["distill", "--width", "4", "--json"], "--width, --depth and --stem-stride need --family"),
        (["search", "--widths", "8,x", "--json"], "--widths"),
    ],
)
def test_bad_input_is_one_line_naming_it_and_exit_2(args, named, tmp_path):
    out = tinylarge(*args, "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert named in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


@pytest.mark.slow
def test_distill_json_has_the_headline_numbers_and_a_run_folder(tmp_path):
    out = tinylarge(
        "distill", "--dataset", "digits", "--family", "cnn2d", "--width", "4", "--depth", "2",
        "--epochs", "1", "--no-baseline", "--json", "--cache-dir", str(tmp_path / "cache"),
        "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)  # exactly one object
    for key in ("teacher_accuracy", "student_accuracy", "param_ratio", "accuracy_ratio", "int8"):
        assert key in payload
    assert payload["int8"] is True
    assert (tmp_path / "runs" / "latest" / "metrics.json").is_file()
    assert list((tmp_path / "runs" / "latest").glob("student_seed0_int8.tflite"))
