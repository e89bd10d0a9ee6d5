"""Pseudo-labels: only confident teacher predictions become labels, scored against the truth."""

import numpy as np
import pytest
import torch
from torch import nn

from tinylarge.data import load_dataset
from tinylarge.integrate import LabelConfig, run_label
from tinylarge.integrate.common import server_device_split
from tinylarge.integrate.label import pseudo_label
from tinylarge.models import ModelSpec
from tinylarge.train import ArtifactCache


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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


def test_run_label_compares_pseudo_labelled_with_labelled_only(tmp_path):
    digits = load_dataset("digits")
    config = LabelConfig(
        dataset="digits", teacher=ModelSpec(name="resnet2d", width=8, depth=2),
        student=ModelSpec(name="cnn2d", width=4, depth=2), label_fraction=0.05,
        confidence_threshold=0.5, min_steps=20, int8=False,
    )  # fmt: skip
    result = run_label(config, dataset=digits, cache=ArtifactCache(tmp_path))
    _, device = server_device_split(digits.y_train, config.server_fraction, seed=0)
    assert result.n_labelled + result.n_unlabelled == len(device)
    assert result.n_labelled == pytest.approx(0.05 * len(device), abs=10)
    assert 0.0 < result.pseudo_label_coverage <= 1.0
    assert 0.0 <= result.pseudo_label_accuracy <= 1.0
    s = result.summary
    assert s["gain"]["mean"] == pytest.approx(
        s["student_accuracy"]["mean"] - s["labelled_only_accuracy"]["mean"]
    )
