"""Pseudo-labels: only confident teacher predictions become labels, and they help the student."""

import numpy as np
import pytest
from torch import nn

from tinylarge.integrate import LabelConfig, run_label
from tinylarge.integrate.label import pseudo_label
from tinylarge.integrate.server_device import server_device_split

from .conftest import STUDENT, TEACHER


class FixedLogits(nn.Module):
    """A 'teacher' whose logits are the first three input values."""

    def forward(self, x):
        return x.flatten(1)[:, :3]


def test_pseudo_labels_keep_confident_predictions_and_score_them():
    x = np.zeros((3, 1, 1, 3), dtype=np.float32)
    x[0, 0, 0] = [10, 0, 0]  # confident class 0
    x[1, 0, 0] = [0, 0, 10]  # confident class 2
    x[2, 0, 0] = [1, 1.1, 1]  # unsure
    pl = pseudo_label(FixedLogits(), x, threshold=0.9, y_true=np.array([0, 1, 1]))
    assert pl.idx.tolist() == [0, 1]
    assert pl.labels.tolist() == [0, 2]
    assert pl.coverage == pytest.approx(2 / 3)
    assert pl.accuracy == pytest.approx(0.5)
    everything = pseudo_label(FixedLogits(), x, threshold=0.0)
    assert everything.coverage == 1.0


def test_pseudo_labelling_beats_labels_only(digits, cache):
    """39 labelled and ~680 unlabelled device digits: the teacher's confident labels lift the
    same student by far more than seed noise, on every seed."""
    config = LabelConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, label_fraction=0.05,
        confidence_threshold=0.5, min_steps=60, seeds=[0, 1, 2], int8=False,
    )  # fmt: skip
    result = run_label(config, dataset=digits, cache=cache)
    _, device = server_device_split(digits.y_train, config.server_fraction, seed=0)
    assert result.n_labelled + result.n_unlabelled == len(device)
    assert result.n_labelled == 39
    assert result.pseudo_label_coverage > 0.5 and result.pseudo_label_accuracy > 0.85
    gain = result.summary["gain"]
    assert gain["mean"] > 0.2 and gain["excludes_zero"]
    assert all(
        s.accuracy > b.accuracy for s, b in zip(result.students, result.baselines, strict=True)
    )
