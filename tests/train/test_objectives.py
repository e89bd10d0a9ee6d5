"""Objectives: the published distillation formulas, checked against direct computation."""

import pytest
import torch
import torch.nn.functional as F

from tinylarge.train.objectives import (
    DistillObjective,
    attention_map,
    attention_transfer_loss,
    match_by_resolution,
    soft_target_loss,
)


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
    smooth = DistillObjective(label_smoothing=0.1)(z, y).item()
    assert smooth == pytest.approx(F.cross_entropy(z, y, label_smoothing=0.1).item())
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
