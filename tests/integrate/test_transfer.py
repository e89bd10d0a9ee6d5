"""Transfer learning: the backbone really moves to the device model; rows per label fraction."""

import numpy as np
import pytest
import torch

from tinylarge.data import load_dataset
from tinylarge.integrate import TransferConfig, TransferMode, run_transfer
from tinylarge.integrate.common import (
    few_label_config,
    server_device_split,
    stratified_fraction,
)
from tinylarge.integrate.transfer import adapt
from tinylarge.models import ModelSpec, build_model
from tinylarge.train import ArtifactCache, TrainConfig

TEACHER = ModelSpec(name="resnet2d", width=8, depth=2)
STUDENT = ModelSpec(name="cnn2d", width=4, depth=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_server_and_device_parts_are_disjoint_and_stratified(digits):
    server, device = server_device_split(digits.y_train, 0.5, seed=0)
    assert len(np.intersect1d(server, device)) == 0
    assert len(server) + len(device) == len(digits.y_train)
    assert set(np.unique(digits.y_train[server])) == set(range(10))


def test_a_tiny_label_fraction_keeps_one_sample_per_class(digits):
    idx = stratified_fraction(digits.y_train, 0.001, seed=0)
    assert np.bincount(digits.y_train[idx]).tolist() == [1] * 10


def test_few_label_recipe_has_no_validation_split_and_enough_steps():
    cfg = few_label_config(TrainConfig(epochs=3, batch_size=64, lr=1e-2), 20, min_steps=100)
    assert cfg.val_fraction == 0.0 and cfg.batch_size == 5 and cfg.epochs == 25


def test_linear_probe_copies_and_freezes_the_backbone(digits):
    info = digits.info
    torch.manual_seed(0)
    backbone = build_model(STUDENT, info.input_shape, info.n_classes)
    torch.manual_seed(1)
    model = build_model(STUDENT, info.input_shape, info.n_classes)
    head_before = model.head[-1].weight.detach().clone()
    adapt(model, backbone, digits, TrainConfig(epochs=1, seed=0), TransferMode.LINEAR_PROBE)
    for (name, p), q in zip(
        model.blocks.state_dict().items(), backbone.blocks.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name  # weights and BatchNorm statistics untouched
    assert not torch.equal(model.head[-1].weight, head_before)  # the head did train


def test_run_transfer_reports_scratch_and_transfer_per_fraction(digits, tmp_path):
    config = TransferConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, label_fractions=[0.05, 0.2],
        pretrain_epochs=3, min_steps=30, int8=False,
    )  # fmt: skip
    result = run_transfer(config, dataset=digits, cache=ArtifactCache(tmp_path))
    assert [r.label_fraction for r in result.rows] == [0.05, 0.2]
    assert result.rows[0].n_labels < result.rows[1].n_labels
    for row in result.rows:
        assert row.gain["mean"] == pytest.approx(
            row.transfer_accuracy["mean"] - row.scratch_accuracy["mean"]
        )
    assert set(result.summary["gain_by_fraction"]) == {"0.05", "0.2"}
    assert result.to_dict()["backbone"]["role"] == "backbone"
