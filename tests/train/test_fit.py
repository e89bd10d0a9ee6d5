"""fit: deterministic, restores the best-validation weights, stops early, evaluates on test."""

import numpy as np
import pytest
import torch

from tinylarge.models import ModelSpec, build_model
from tinylarge.train import (
    DistillObjective,
    TrainArrays,
    TrainConfig,
    evaluate,
    fit,
    fit_split,
    predict_logits,
    seed_everything,
    split_validation,
)
from tinylarge.train.presets import epochs_for_steps, few_label_config

SPEC = ModelSpec(name="cnn2d", width=8, depth=2)
QUICK = TrainConfig(epochs=3, batch_size=32, lr=1e-2, augment=True, seed=3)


def _trained(ds, config=QUICK):
    seed_everything(config.seed)
    model = build_model(SPEC, ds.info.input_shape, ds.info.n_classes)
    return model, fit(model, ds, config, progress=False)


def test_same_seed_gives_identical_weights_and_history(digits_small):
    model_a, result_a = _trained(digits_small)
    model_b, result_b = _trained(digits_small)
    for (name, a), b in zip(
        model_a.state_dict().items(), model_b.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert result_a.history == result_b.history


def test_different_seed_gives_different_weights(digits_small):
    model_a, _ = _trained(digits_small)
    model_b, _ = _trained(digits_small, QUICK.model_copy(update={"seed": 4}))
    assert not torch.equal(model_a.blocks[0][0].weight, model_b.blocks[0][0].weight)


def test_fit_learns_and_reports_consistent_numbers(digits_small):
    config = TrainConfig(epochs=6, batch_size=32, lr=1e-2, val_fraction=0.2, seed=0)
    model, result = _trained(digits_small, config)
    assert result.test_accuracy > 0.7  # chance is 0.1
    assert result.test_accuracy == evaluate(model, digits_small.x_test, digits_small.y_test)
    assert result.n_epochs == len(result.history) == 6
    assert result.train_time_s > 0
    # the returned weights are those of the best validation epoch, on the split fit_split names
    _, val_idx = fit_split(digits_small, config)
    assert np.array_equal(
        val_idx, split_validation(digits_small.y_train, config.val_fraction, config.seed)[1]
    )
    val_acc = evaluate(model, digits_small.x_train[val_idx], digits_small.y_train[val_idx])
    assert val_acc == pytest.approx(result.best_val_accuracy)
    assert result.best_val_accuracy == max(h["val_accuracy"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_accuracy"] == result.best_val_accuracy
    assert not model.training


def test_early_stopping_stops_patience_epochs_after_the_best(digits_small):
    config = TrainConfig(epochs=40, batch_size=64, lr=3e-2, patience=2, seed=0)
    _, result = _trained(digits_small, config)
    assert result.n_epochs == config.epochs or result.n_epochs - result.best_epoch == 2
    assert result.n_epochs < config.epochs  # 300 digits saturate long before 40 epochs


def test_checkpoint_path_holds_best_weights(digits_small, tmp_path):
    seed_everything(0)
    model = build_model(SPEC, (1, 8, 8), 10)
    fit(model, digits_small, QUICK, progress=False, checkpoint_path=tmp_path / "best.pt")
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)


def test_split_validation_is_stratified_disjoint_and_complete():
    y = np.repeat(np.arange(4), [10, 20, 3, 2])
    train, val = split_validation(y, 0.2, seed=1)
    assert len(np.intersect1d(train, val)) == 0
    assert sorted(np.concatenate([train, val])) == list(range(len(y)))
    assert np.bincount(y[val], minlength=4).tolist() == [2, 4, 1, 1]  # >= 1 per class
    assert np.array_equal(split_validation(y, 0.2, seed=1)[1], val)
    assert len(split_validation(y, 0.0, seed=1)[1]) == 0


def test_predict_logits_shape_and_mode(digits_small):
    model = build_model(SPEC, (1, 8, 8), 10).train()
    logits = predict_logits(model, digits_small.x_test[:7], batch_size=3)
    assert logits.shape == (7, 10)
    assert model.training  # restored


def test_trains_time_series_layout():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    # class 1 carries a bump in channel 0; layout (n, C, 1, L)
    x = rng.normal(size=(64, 3, 1, 16)).astype(np.float32)
    x[y == 1, 0, 0, 4:8] += 3.0

    class Series:
        x_train, y_train, x_test, y_test = x[:48], y[:48], x[48:], y[48:]

    seed_everything(0)
    model = build_model(ModelSpec(name="cnn1d", width=8, depth=2), (3, 1, 16), 2)
    config = TrainConfig(epochs=15, batch_size=16, lr=1e-2, augment=True, seed=0)
    result = fit(model, Series(), config, progress=False)
    assert result.test_accuracy >= 0.9


def test_a_teacher_objective_needs_a_teacher_and_attention_transfer_trains(digits_small):
    seed_everything(0)
    teacher = build_model(ModelSpec(name="resnet2d", width=8, depth=2), (1, 8, 8), 10).eval()
    student = build_model(SPEC, (1, 8, 8), 10)
    config = TrainConfig(epochs=1, batch_size=64, seed=0)
    objective = DistillObjective(alpha=0.5, attention_weight=50.0)
    result = fit(student, digits_small, config, objective=objective, teacher=teacher,
                 progress=False)  # fmt: skip
    assert np.isfinite(result.history[0]["train_loss"])
    with pytest.raises(ValueError, match="teacher"):
        fit(student, digits_small, config, objective=objective, progress=False)


def test_a_frozen_module_keeps_weights_and_statistics_under_a_new_head(digits_small):
    seed_everything(0)
    model = build_model(SPEC, (1, 8, 8), 10)
    before = {k: v.clone() for k, v in model.blocks.state_dict().items()}
    head_before = model.head[-1].weight.detach().clone()
    fit(model, digits_small, QUICK, frozen=model.blocks, progress=False)
    for name, value in model.blocks.state_dict().items():
        assert torch.equal(value, before[name]), name  # weights and BatchNorm statistics
    assert not torch.equal(model.head[-1].weight, head_before)
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again afterwards


def test_plain_arrays_train_without_a_test_split(digits_small):
    seed_everything(QUICK.seed)
    data = TrainArrays(digits_small.x_train, digits_small.y_train)
    result = fit(build_model(SPEC, (1, 8, 8), 10), data, QUICK, progress=False)
    _, with_test = _trained(digits_small)
    assert np.isnan(result.test_accuracy)
    assert result.history == with_test.history  # the same training, only not tested


def test_few_labels_get_no_validation_split_and_enough_steps():
    assert epochs_for_steps(n_samples=20, batch_size=5, min_steps=100, epochs=3) == 25
    assert epochs_for_steps(n_samples=4000, batch_size=64, min_steps=100, epochs=3) == 3
    cfg = few_label_config(TrainConfig(epochs=3, batch_size=64, lr=1e-2), 20, min_steps=100)
    assert cfg.val_fraction == 0.0 and cfg.batch_size == 5 and cfg.epochs == 25


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 8, 9])
def test_every_schedule_survives_a_run_of_a_few_steps(steps):
    from tinylarge.train.loop import Schedule, make_scheduler

    for schedule in Schedule:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
        sched = make_scheduler(opt, TrainConfig(schedule=schedule, lr=0.1), steps)
        for _ in range(steps):
            opt.step()
            sched.step()
        assert all(0.0 <= g["lr"] <= 0.1 + 1e-12 for g in opt.param_groups)
