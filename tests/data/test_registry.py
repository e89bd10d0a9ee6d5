"""The dataset registry: real bundled data, seeded stratified splits, train-only normalisation."""

import numpy as np
import pytest

from tinylarge.data import list_datasets, load_dataset
from tinylarge.data.registry import dataset_names, stratified_split
from tinylarge.errors import UnknownNameError

EXPECTED = {  # name: (input_shape, n_classes, n_samples) as published by the source packages
    "mnist5k": ((1, 28, 28), 10, 5000),
    "digits": ((1, 8, 8), 10, 1797),
    "basic-motions": ((6, 1, 100), 4, 80),
    "italy-power": ((1, 1, 24), 2, 1096),
    "japanese-vowels": ((12, 1, 29), 9, 640),
    "watch-exercises": ((6, 1, 100), 7, 2369),  # 140 recordings cut into 2 s windows
    "acsf1": ((1, 1, 1460), 10, 200),
}


def test_every_registered_dataset_loads_with_its_published_size():
    infos = {i.name: i for i in list_datasets()}
    assert set(infos) == set(EXPECTED)
    for name, (shape, n_classes, n_samples) in EXPECTED.items():
        info = infos[name]
        assert (info.input_shape, info.n_classes, info.n_samples) == (shape, n_classes, n_samples)
        assert info.source and info.license


@pytest.mark.parametrize("name", ["digits", "italy-power", "japanese-vowels"])
def test_split_is_seeded_disjoint_and_complete(name):
    a, b, c = load_dataset(name, seed=1), load_dataset(name, seed=1), load_dataset(name, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train) or not np.array_equal(a.x_train, c.x_train)
    assert len(a.y_train) + len(a.y_test) == a.info.n_samples
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert a.x_train.shape[1:] == a.info.input_shape


def test_stratified_split_keeps_class_proportions():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, test = stratified_split(y, 0.5, seed=0)
    assert not set(train) & set(test)
    np.testing.assert_array_equal(np.bincount(y[test]), [5, 10, 15, 20])


def test_normalisation_uses_train_statistics_only():
    ds = load_dataset("basic-motions", seed=0)
    # per-channel stats: the training part is standardised exactly, the test part only roughly
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert ds.mean.shape == (6, 1, 1)


def test_groups_follow_the_split():
    ds = load_dataset("japanese-vowels", seed=0)
    assert ds.groups_train is not None and len(ds.groups_train) == len(ds.y_train)
    assert load_dataset("digits").groups_train is None


def test_unknown_dataset_names_the_bad_value_and_lists_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        load_dataset("cifar10")
    msg = str(err.value)
    assert "'cifar10'" in msg
    for name in dataset_names():
        assert name in msg


def test_reported_split_sizes_match_the_split():
    for info in list_datasets():
        if info.name in ("digits", "italy-power"):
            ds = load_dataset(info.name, seed=3)
            assert (info.n_train, info.n_test) == (len(ds.y_train), len(ds.y_test))


def test_watch_subjects_each_hold_every_exercise():
    """Unlike japanese-vowels (speaker = class), a subject partition of watch-exercises gives
    clients every class: the shift between clients is the wearer, not the label."""
    ds = load_dataset("watch-exercises", seed=0)
    subjects = np.unique(ds.groups_train)
    assert len(subjects) == 10
    for s in subjects:
        assert set(ds.y_train[ds.groups_train == s]) == set(range(7))
