"""Training presets: one recipe per (kind of data, role), bounded in optimizer steps."""

import math

import pytest

from tinylarge.data import load_dataset
from tinylarge.errors import UnknownNameError
from tinylarge.train import Role, TrainConfig, default_train_config


@pytest.mark.parametrize("name", ["digits", "italy-power"])
def test_presets_are_valid_configs_for_both_roles(name):
    info = load_dataset(name).info
    teacher = default_train_config(info, Role.TEACHER, seed=7)
    student = default_train_config(info, "student", seed=7)
    assert isinstance(teacher, TrainConfig) and isinstance(student, TrainConfig)
    assert teacher.seed == student.seed == 7
    assert teacher != student


def test_image_presets_augment_and_series_presets_bound_their_steps():
    image = default_train_config(load_dataset("digits").info, Role.TEACHER)
    assert image.augment
    for name in ["basic-motions", "italy-power"]:
        info = load_dataset(name).info
        config = default_train_config(info, Role.STUDENT)
        n_fit = info.n_samples * (1 - info.test_fraction) * (1 - config.val_fraction)
        steps = config.epochs * math.ceil(n_fit / config.batch_size)
        assert 30 <= config.epochs <= 300
        assert steps <= 1200 + math.ceil(n_fit / config.batch_size) * 30  # 30-epoch floor


def test_unknown_role_is_rejected():
    with pytest.raises(UnknownNameError, match="'mentor'; valid: student, teacher"):
        default_train_config(load_dataset("digits").info, "mentor")
