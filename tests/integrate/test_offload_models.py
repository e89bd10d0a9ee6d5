"""Cascade, split and early exit on real (tiny) trained models, real int8 graphs run in TFLM."""

import pytest

from tinylarge.errors import TinylargeError
from tinylarge.integrate import (
    CascadeConfig,
    EarlyExitConfig,
    SplitConfig,
    run_cascade,
    run_early_exit,
    run_split,
)
from tinylarge.models import ModelSpec, build_model, save_checkpoint
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.quantize import quantize_model
from tinylarge.train import TrainConfig, fit, seed_everything

pytestmark = pytest.mark.slow


def _trained(spec, ds, path, epochs):
    seed_everything(0)
    model = build_model(spec, ds.info.input_shape, ds.info.n_classes)
    fit(model, ds, TrainConfig(epochs=epochs, batch_size=32, lr=1e-2), progress=False)
    meta = {"dataset": "digits", "input_shape": [1, 8, 8], "n_classes": 10, "split_seed": 0}
    save_checkpoint(path, model, spec, meta)
    return path


@pytest.fixture(scope="module")
def student(digits, tmp_path_factory):
    spec = ModelSpec(name="cnn2d", width=8, depth=2)
    return _trained(spec, digits, tmp_path_factory.mktemp("m") / "student.pt", epochs=4)


@pytest.fixture(scope="module")
def teacher(digits, tmp_path_factory):
    spec = ModelSpec(name="resnet2d", width=16, depth=2)
    return _trained(spec, digits, tmp_path_factory.mktemp("m") / "teacher.pt", epochs=12)


def test_cascade_uses_the_int8_student_and_beats_it(digits, student, teacher, tmp_path):
    from tinylarge.models import load_checkpoint

    model = load_checkpoint(student).model
    tflite = quantize_model(model, digits.x_train[:200], tmp_path / "s.tflite")
    config = CascadeConfig(teacher=teacher, student=tflite, max_accuracy_drop=0.05)
    r = run_cascade(config, dataset=digits)
    s = r.summary  # calibrated on the validation rows, reported on the test set
    assert s["calibrated_on"] == "validation" and r.n_eval == len(digits.y_test)
    c = r.certified
    assert not c["fallback"] and c["upper_bound"] <= 0.05 and c["delta"] == 0.1
    assert 0 < r.offload_fraction < 1
    assert s["vs_student"]["mean"] > 0 and r.accuracy_gap_vs_large > -0.05 - 0.03, s
    assert {e["link"] for e in r.energy} >= {"nb-iot", "6g"}
    nb = next(e for e in r.energy if e["link"] == "nb-iot")
    assert nb["cascade_energy_j"] < nb["all_offload_energy_j"]  # a slow radio costs more


def test_cascade_json_reports_the_certified_threshold_and_the_test_numbers(
    student, teacher, digits, tmp_path
):
    import json

    from typer.testing import CliRunner

    from tinylarge.cli.main import app
    from tinylarge.models import load_checkpoint

    tflite = quantize_model(
        load_checkpoint(student).model, digits.x_train[:200], tmp_path / "s.tflite"
    )
    args = ["cascade", str(teacher), str(tflite), "--max-drop", "0.05", "--delta", "0.2",
            "--links", "6g", "--runs-dir", str(tmp_path / "runs"), "--json"]  # fmt: skip
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    m = json.loads(out.stdout)
    assert {
        "threshold",
        "certified",
        "accuracy",
        "offload_fraction",
        "accuracy_gap_vs_large",
    } <= set(m)
    assert m["certified"]["risk"] == "accuracy-drop"
    assert (m["certified"]["level"], m["certified"]["delta"]) == (0.05, 0.2)
    assert m["accuracy_gap_vs_large"] == pytest.approx(m["accuracy"] - m["big_accuracy"])
    assert m["n_eval"] == len(digits.y_test)


def test_split_costs_every_cut_and_agrees_with_brute_force(student, tmp_path):
    r = run_split(SplitConfig(model=student, device="nrf52840", n_eval=100), out_dir=tmp_path)
    n = r.n_blocks
    assert [c.cut for c in r.cuts] == list(range(n + 2))
    assert r.cuts[0].sent_bytes == 64 and r.cuts[-1].sent_bytes == 0  # 8x8 int8 input; nothing
    for c in r.cuts[1:]:
        assert c.tflite_path and load_graph(c.tflite_path).ops
        assert c.accuracy is not None and c.accuracy > 0.5
    assert r.optimiser_matches_brute_force and r.summary["optimiser_matches_brute_force"]
    assert r.sweep["latency"][0]["from_rate_bps"] == 0.0


def test_early_exit_saves_energy_and_stays_within_the_bound(digits, student, tmp_path):
    """The side exit answers a real share of the inputs, so the device spends less energy, and
    the system stays within the certified drop of the final exit (calibrated on validation)."""
    cfg = EarlyExitConfig(model=student, exit_after=1, max_accuracy_drop=0.05, epochs=5)
    r = run_early_exit(cfg, dataset=digits, out_dir=tmp_path)
    s = r.summary
    assert not r.certified["fallback"] and r.certified["upper_bound"] <= 0.05
    assert s["energy_saving"]["ci_low"] > 0.05 and r.energy_j < r.full_energy_j
    assert s["vs_final_exit"]["mean"] > -0.05 - 0.03  # the bound, plus held-out noise
    assert s["vs_side_exit"]["mean"] > 0  # and the rest of the network is still worth running
    assert set(r.graphs) == {"A", "E", "B"} and r.n_eval == len(digits.y_test)
    # the certified level is out of reach of ~130 validation rows: everything runs on
    tight = run_early_exit(cfg.model_copy(update={"max_accuracy_drop": 0.005}), dataset=digits)
    assert tight.certified["fallback"] and tight.exit_fraction == 0.0


def test_a_bad_exit_fails_before_any_graph_is_written(student, tmp_path):
    with pytest.raises(TinylargeError, match="exit_after 5 is not a cut inside the model"):
        run_early_exit(EarlyExitConfig(model=student, exit_after=5), out_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    with pytest.raises(TinylargeError, match="unknown device 'toaster'"):
        EarlyExitConfig(model=student, device="toaster")
    # the cascade's calibration, learned gate included (fitted on each calibration part)
    assert EarlyExitConfig(model=student, gate="learned").gate == "learned"
