"""Checkpoints rebuild the same model with the same outputs, and fail clearly on bad files."""

import pytest
import torch

from tinylarge.models import (
    CheckpointError,
    ModelSpec,
    build_model,
    load_checkpoint,
    save_checkpoint,
)


def test_roundtrip_gives_identical_outputs(tmp_path):
    spec = ModelSpec(name="dscnn2d", width=6, depth=2)
    torch.manual_seed(0)
    model = build_model(spec, (1, 8, 8), 4)
    model.train()(torch.randn(16, 1, 8, 8))  # move BatchNorm running stats off their init
    model.eval()
    meta = {"dataset": "digits", "input_shape": (1, 8, 8), "n_classes": 4, "note": "x"}
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, spec, meta)

    ckpt = load_checkpoint(path)
    assert ckpt.spec == spec
    assert ckpt.meta["note"] == "x" and ckpt.input_shape == (1, 8, 8) and ckpt.n_classes == 4
    assert not ckpt.model.training
    x = torch.randn(5, 1, 8, 8)
    assert torch.equal(ckpt.model(x), model(x))
    assert not list(tmp_path.glob("sub/*.tmp"))  # atomic write left no temp file


def test_meta_must_allow_a_rebuild(tmp_path):
    spec = ModelSpec(name="mlp", width=4, depth=1)
    model = build_model(spec, (1, 4, 4), 2)
    with pytest.raises(ValueError, match="n_classes"):
        save_checkpoint(tmp_path / "m.pt", model, spec, {"dataset": "d", "input_shape": (1, 4, 4)})


def test_missing_and_foreign_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a tinylarge checkpoint"):
        load_checkpoint(foreign)
