"""The student preset reaches the issue's floor on mnist5k (>= 96 %, <= 25 k params)."""

import pytest

from tinylarge.data import load_dataset
from tinylarge.models import build_model, count_params, default_student_spec
from tinylarge.train import Role, default_train_config, fit, seed_everything


@pytest.mark.slow
def test_student_preset_reaches_96_percent_on_mnist5k():
    ds = load_dataset("mnist5k", seed=0)
    config = default_train_config(ds.info, Role.STUDENT)
    seed_everything(config.seed)
    model = build_model(default_student_spec(ds.info), ds.info.input_shape, ds.info.n_classes)
    assert count_params(model) <= 25_000
    result = fit(model, ds, config, progress=False)
    assert result.test_accuracy >= 0.96
