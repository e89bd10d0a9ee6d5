"""Distillation: the losses are the published formulas; ``run_distill`` trains, quantizes."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinylarge.data import load_dataset
from tinylarge.integrate import DistillConfig, run_distill
from tinylarge.integrate.losses import (
    DistillObjective,
    attention_map,
    attention_transfer_loss,
    match_by_resolution,
    soft_target_loss,
)
from tinylarge.integrate.trainer import epochs_for_steps, fit_student
from tinylarge.models import ModelSpec, build_model
from tinylarge.train import ArtifactCache, TrainConfig

TEACHER = ModelSpec(name="resnet2d", width=8, depth=2)
STUDENT = ModelSpec(name="cnn2d", width=4, depth=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads spin and run ~20x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ArtifactCache(tmp_path_factory.mktemp("distill-cache"))


def test_soft_targets_vanish_when_student_matches_teacher():
    z = torch.randn(5, 10)
    assert soft_target_loss(z, z.clone(), 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_target_loss(z, torch.randn(5, 10), 4.0).item() > 0.0


def test_soft_targets_are_t_squared_times_kl_of_tempered_softmax():
    s, t, temp = torch.randn(3, 4), torch.randn(3, 4), 3.0
    p_t = F.softmax(t / temp, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / temp, dim=1))).sum(1).mean()
    assert soft_target_loss(s, t, temp).item() == pytest.approx(temp**2 * kl.item(), rel=1e-5)


def test_objective_without_teacher_is_plain_cross_entropy():
    z, y = torch.randn(6, 10), torch.randint(0, 10, (6,))
    assert DistillObjective()(z, y).item() == pytest.approx(F.cross_entropy(z, y).item())
    mixed = DistillObjective(alpha=0.25, temperature=2.0)(z, y, teacher_logits=z)
    assert mixed.item() == pytest.approx(0.75 * F.cross_entropy(z, y).item(), rel=1e-5)


def test_attention_maps_are_unit_norm_and_pool_to_the_student_size():
    f = torch.randn(2, 8, 6, 6)
    q = attention_map(f)
    assert q.shape == (2, 36)
    assert torch.allclose(q.norm(dim=1), torch.ones(2))
    assert attention_map(f, size=(3, 3)).shape == (2, 9)


def test_blocks_are_paired_by_resolution_and_1x1_maps_skipped():
    student = [(4, 8, 8), (8, 4, 4), (16, 1, 1)]
    teacher = [(8, 8, 8), (16, 4, 4), (32, 2, 2)]
    assert match_by_resolution(student, teacher) == [(0, 0), (1, 1)]
    same = [torch.randn(2, 4, 8, 8)]
    assert attention_transfer_loss(same, same, [(0, 0)]).item() == pytest.approx(0.0, abs=1e-6)


def test_epochs_grow_until_few_samples_get_enough_steps():
    assert epochs_for_steps(n_samples=20, batch_size=5, min_steps=100, epochs=3) == 25
    assert epochs_for_steps(n_samples=4000, batch_size=64, min_steps=100, epochs=3) == 3


def test_attention_transfer_trains_a_student(digits):
    torch.manual_seed(0)
    info = digits.info
    teacher = build_model(TEACHER, info.input_shape, info.n_classes).eval()
    student = build_model(STUDENT, info.input_shape, info.n_classes)
    config = TrainConfig(epochs=1, batch_size=64, seed=0)
    objective = DistillObjective(alpha=0.5, attention_weight=50.0)
    result = fit_student(student, digits, config, objective, teacher)
    assert math.isfinite(result.history[0]["train_loss"])
    assert 0.0 <= result.test_accuracy <= 1.0
    with pytest.raises(ValueError, match="teacher"):
        fit_student(student, digits, config, objective, teacher=None)


def test_distill_float_only_reports_both_students_and_is_cached(digits, cache):
    config = DistillConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, epochs=2, seeds=[0, 1], int8=False
    )
    first = run_distill(config, dataset=digits, cache=cache)
    s = first.summary
    assert len(first.students) == len(first.baselines) == 2
    assert s["param_ratio"] == pytest.approx(first.students[0].params / first.teacher.params)
    assert s["student_accuracy"]["n"] == 2 and s["int8"] is False
    assert s["gain"]["mean"] == pytest.approx(
        np.mean(
            [a.accuracy - b.accuracy for a, b in zip(first.students, first.baselines, strict=True)]
        )
    )
    again = run_distill(config, dataset=digits, cache=cache)
    assert all(r.from_cache for r in again.students + again.baselines)
    assert again.summary == s


def test_distill_ends_as_an_int8_model_measured_in_tflm(digits, cache, tmp_path):
    from tinylarge.tiny.quantize import evaluate_int8

    config = DistillConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, epochs=2, compare_baseline=False
    )
    result = run_distill(config, dataset=digits, cache=cache, out_dir=tmp_path)
    student = result.students[0]
    path = Path(student.tflite_path)
    assert path.parent == tmp_path and path.is_file()
    assert (tmp_path / "student_seed0.pt").is_file()
    accuracy, _, arena = evaluate_int8(path, digits.x_test, digits.y_test)
    assert student.int8_accuracy == pytest.approx(accuracy)
    assert student.tflm_arena_bytes == arena > 0
    assert result.to_dict()["summary"]["int8"] is True
