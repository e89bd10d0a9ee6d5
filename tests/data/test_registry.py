"""The dataset registry: real bundled data, seeded stratified splits, train-only normalisation."""

import numpy as np
import pytest

from tinylarge.data import list_datasets, load_dataset
from tinylarge.data.registry import dataset_names, recording_split, stratified_split
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


def test_a_recording_split_keeps_every_recording_whole_and_each_class_near_its_fraction():
    rng = np.random.default_rng(0)
    sizes = rng.integers(5, 30, 60)
    recordings = np.repeat(np.arange(60), sizes)
    y = np.repeat(np.arange(60) % 4, sizes)  # one class per recording
    train, test = recording_split(y, recordings, 0.3, seed=2)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    assert not set(recordings[train]) & set(recordings[test])
    for c in range(4):
        n_c, t_c = np.count_nonzero(y == c), np.count_nonzero(y[test] == c)
        assert abs(t_c - 0.3 * n_c) <= sizes.max() / 2 + 1e-9  # within half a recording
    assert not np.array_equal(test, recording_split(y, recordings, 0.3, seed=3)[1])


def test_watch_test_windows_come_from_recordings_no_training_window_comes_from():
    """Windows of one recording are near-copies (one set of repetitions): a window-level split
    would score memory of the recording, not recognition of the exercise."""
    from tinylarge.data.sources import watch_exercises, watch_recordings

    _, y, subjects, _ = watch_exercises()
    recordings = watch_recordings()
    assert len(recordings) == len(y) and len(np.unique(recordings)) == 140
    for seed in (0, 1):
        train, test = recording_split(y, recordings, 0.3, seed, subjects)
        assert not set(recordings[train]) & set(recordings[test])
        pairs = set(zip(subjects[train], y[train], strict=True))
        assert pairs == set(zip(subjects, y, strict=True))  # every subject keeps every exercise
        ds = load_dataset("watch-exercises", seed=seed)
        assert len(ds.y_test) == len(test) == ds.info.n_test
        assert 0.25 < len(test) / len(y) < 0.35
