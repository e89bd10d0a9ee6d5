"""``tinylarge cascade / split / early-exit``: bad choices are refused before any work starts."""

import subprocess
import sys

import pytest

from tinylarge.models import ModelSpec, build_model, save_checkpoint


def tinylarge(*args):
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    spec = ModelSpec(name="cnn2d", width=4, depth=2)
    path = tmp_path_factory.mktemp("ckpt") / "m.pt"
    meta = {"dataset": "digits", "input_shape": [1, 8, 8], "n_classes": 10, "seed": 0}
    save_checkpoint(path, build_model(spec, (1, 8, 8), 10), spec, meta)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("cascade", "--gate", "vibes", "t.pt", "s.tflite"),
            "'vibes' is not one of 'max-prob', 'margin', 'entropy', 'learned'",
        ),
        (
            ("split", "--objective", "cost", "m.pt"),
            "'cost' is not one of 'latency', 'energy'",
        ),
    ],
)
def test_unknown_choices_list_the_valid_ones(args, message):
    out = tinylarge(*args)
    assert out.returncode == 2 and message in out.stderr and out.stdout == ""


def test_early_exit_outside_the_model_names_the_valid_range(checkpoint):
    out = tinylarge("early-exit", str(checkpoint), "--exit-after", "9")
    assert out.returncode == 2
    assert "--exit-after 9 is not a cut inside the model: valid 1..2" in out.stderr


def test_commands_are_listed_with_help():
    out = tinylarge("--help")
    for command in ("cascade", "split", "early-exit"):
        assert command in out.stdout
