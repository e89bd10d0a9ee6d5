"""Transfer learning: the backbone really moves to the device model, and it beats scratch."""

import numpy as np
import torch

from tinylarge.integrate import TransferConfig, TransferMode, run_transfer
from tinylarge.integrate.server_device import server_device_split, stratified_fraction
from tinylarge.integrate.students import StudentRun
from tinylarge.models import build_model
from tinylarge.train import TrainConfig

from .conftest import STUDENT, TEACHER


def test_server_and_device_parts_are_disjoint_and_stratified(digits):
    server, device = server_device_split(digits.y_train, 0.5, seed=0)
    assert len(np.intersect1d(server, device)) == 0
    assert len(server) + len(device) == len(digits.y_train)
    assert set(np.unique(digits.y_train[server])) == set(range(10))


def test_a_tiny_label_fraction_keeps_one_sample_per_class(digits):
    idx = stratified_fraction(digits.y_train, 0.001, seed=0)
    assert np.bincount(digits.y_train[idx]).tolist() == [1] * 10


def test_linear_probe_copies_and_freezes_the_backbone(digits):
    info = digits.info
    torch.manual_seed(0)
    backbone = build_model(STUDENT, info.input_shape, info.n_classes)
    torch.manual_seed(1)
    model = build_model(STUDENT, info.input_shape, info.n_classes)
    head_before = model.head[-1].weight.detach().clone()
    run = StudentRun("t", digits, TrainConfig(epochs=1, seed=0), backbone=backbone,
                     freeze_backbone=True)  # fmt: skip
    run.train(model)
    for (name, p), q in zip(
        model.blocks.state_dict().items(), backbone.blocks.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name  # weights and BatchNorm statistics untouched
    assert not torch.equal(model.head[-1].weight, head_before)  # the head did train


def test_transfer_beats_scratch_at_5_percent_labels(digits, cache, tmp_path):
    """39 labelled device digits: a linear probe on the backbone the server distilled beats the
    same student trained from scratch on the same labels, on every seed."""
    config = TransferConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, label_fractions=[0.05],
        mode=TransferMode.LINEAR_PROBE, finetune_lr_scale=1.0, pretrain_epochs=10,
        seeds=[0, 1, 2], int8=False,
    )  # fmt: skip
    result = run_transfer(config, dataset=digits, cache=cache, out_dir=tmp_path)
    (row,) = result.rows
    assert row.n_labels == 39
    assert row.gain["mean"] > 0.05 and row.gain["excludes_zero"]
    assert all(t.accuracy > s.accuracy for s, t in zip(row.scratch, row.transfer, strict=True))
    assert result.summary["gain_by_fraction"]["0.05"] == row.gain
    assert (tmp_path / "transfer_0.05_seed2.pt").is_file()
    assert result.to_dict()["backbone"]["role"] == "backbone"
