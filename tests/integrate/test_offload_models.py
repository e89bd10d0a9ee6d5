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
    config = CascadeConfig(teacher=teacher, student=tflite, max_accuracy_drop=0.0)
    r = run_cascade(config, dataset=digits)
    s = r.summary  # over five calibration/evaluation splits, intervals corrected for overlap
    assert s["vs_student"]["ci_low"] > 0 and s["vs_teacher"]["mean"] > -0.02, s
    assert {e["link"] for e in r.energy} >= {"nb-iot", "6g"}
    nb = next(e for e in r.energy if e["link"] == "nb-iot")
    assert nb["cascade_energy_j"] < nb["all_offload_energy_j"]  # a slow radio costs more


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
    the system stays within the allowed drop of the final exit over five splits."""
    cfg = EarlyExitConfig(model=student, exit_after=1, max_accuracy_drop=0.01, epochs=5)
    r = run_early_exit(cfg, dataset=digits, out_dir=tmp_path)
    s = r.summary
    assert s["energy_saving"]["ci_low"] > 0.05 and r.energy_j < r.full_energy_j
    assert s["vs_final_exit"]["mean"] > -0.01 - 0.02  # the bound, plus held-out noise
    assert s["vs_side_exit"]["mean"] > 0  # and the rest of the network is still worth running
    assert set(r.graphs) == {"A", "E", "B"} and len(r.splits) == 5


def test_a_bad_exit_fails_before_any_graph_is_written(student, tmp_path):
    with pytest.raises(TinylargeError, match="exit_after 5 is not a cut inside the model"):
        run_early_exit(EarlyExitConfig(model=student, exit_after=5), out_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    with pytest.raises(TinylargeError, match="unknown device 'toaster'"):
        EarlyExitConfig(model=student, device="toaster")
    # the cascade's calibration, learned gate included (fitted on each calibration part)
    assert EarlyExitConfig(model=student, gate="learned").gate == "learned"
