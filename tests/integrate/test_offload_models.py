"""Cascade, split and early exit on real (tiny) trained models, real int8 graphs run in TFLM."""

import numpy as np
import pytest

from tinylarge.data import load_dataset
from tinylarge.integrate.cascade import CascadeConfig, cascade_from_models
from tinylarge.integrate.early_exit import EarlyExitConfig, run_early_exit
from tinylarge.integrate.split_profile import SplitConfig, run_split
from tinylarge.models import ModelSpec, build_model
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.quantize import quantize_model
from tinylarge.train import TrainConfig, fit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def _trained(spec, ds):
    model = build_model(spec, ds.info.input_shape, ds.info.n_classes)
    fit(model, ds, TrainConfig(epochs=4, batch_size=32, lr=1e-2), progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def student(digits):
    return _trained(ModelSpec(name="cnn2d", width=8, depth=2), digits)


@pytest.fixture(scope="module")
def teacher(digits):
    return _trained(ModelSpec(name="resnet2d", width=16, depth=2), digits)


def test_cascade_uses_the_int8_student_and_beats_it(digits, student, teacher, tmp_path):
    path = quantize_model(student, digits.x_train[:200], tmp_path / "s.tflite")
    r = cascade_from_models(path, teacher, digits, CascadeConfig(max_accuracy_drop=0.0))
    assert r.accuracy >= r.small_accuracy
    assert {e["link"] for e in r.energy} >= {"nb-iot", "6g"}
    nb = next(e for e in r.energy if e["link"] == "nb-iot")
    assert nb["cascade_energy_j"] < nb["all_offload_energy_j"]  # a slow radio costs more


def test_split_costs_every_cut_and_agrees_with_brute_force(digits, student, tmp_path):
    r = run_split(student, digits, SplitConfig(device="nrf52840", n_eval=100), tmp_path)
    n = len(student.blocks)
    assert [c.cut for c in r.cuts] == list(range(n + 2))
    assert r.cuts[0].sent_bytes == 64 and r.cuts[-1].sent_bytes == 0  # 8x8 int8 input; nothing
    for c in r.cuts[1:]:
        assert c.tflite_path and load_graph(c.tflite_path).ops
        assert c.accuracy is not None and c.accuracy > 0.5
    assert r.optimiser_matches_brute_force
    assert r.sweep["latency"][0]["from_rate_bps"] == 0.0


def test_early_exit_trades_energy_for_accuracy_within_the_bound(digits, student, tmp_path):
    cfg = EarlyExitConfig(exit_after=1, max_accuracy_drop=0.05, epochs=5)
    r = run_early_exit(student, digits, cfg, tmp_path)
    assert 0.0 <= r.exit_fraction <= 1.0
    assert r.energy_j <= r.full_energy_j + 1e-12 or r.exit_fraction < 0.2
    assert r.accuracy >= r.final_accuracy - 0.1
    assert np.isfinite(r.latency_s) and set(r.graphs) == {"A", "E", "B"}
