"""Federated partitions: every training index goes to exactly one client."""

import numpy as np
import pytest

from tinylarge.data import partition_by_group, partition_dirichlet, partition_iid
from tinylarge.errors import TinylargeError


def _is_partition(parts, n):
    allidx = np.concatenate(parts)
    return len(allidx) == n and len(np.unique(allidx)) == n


def test_iid_parts_are_equal_sized_and_cover_everything():
    parts = partition_iid(103, 4, seed=0)
    assert _is_partition(parts, 103)
    assert sorted(len(p) for p in parts) == [25, 26, 26, 26]


def test_dirichlet_small_alpha_skews_labels_more_than_large_alpha():
    y = np.repeat(np.arange(10), 100)

    def mean_classes_per_client(alpha):
        parts = partition_dirichlet(y, 10, alpha, seed=0)
        assert _is_partition(parts, len(y))
        # classes holding >= 5% of a client's data
        return np.mean([(np.bincount(y[p], minlength=10) / len(p) >= 0.05).sum() for p in parts])

    assert mean_classes_per_client(0.1) < mean_classes_per_client(100.0)
    assert mean_classes_per_client(100.0) == 10


def test_dirichlet_is_seeded():
    y = np.repeat(np.arange(3), 30)
    a = partition_dirichlet(y, 3, 0.5, seed=7)
    b = partition_dirichlet(y, 3, 0.5, seed=7)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_by_group_keeps_each_group_on_one_client():
    groups = np.array([0, 0, 1, 1, 2, 2, 3])
    parts = partition_by_group(groups)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3], [4, 5], [6]]
    merged = partition_by_group(groups, n_clients=2)
    assert [p.tolist() for p in merged] == [[0, 1, 4, 5], [2, 3, 6]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: partition_iid(5, 0), "n_clients must be >= 1, got 0"),
        (lambda: partition_iid(3, 5), "n_clients=5 exceeds the 3 samples"),
        (lambda: partition_dirichlet(np.zeros(10, int), 2, 0.0), "alpha must be > 0, got 0.0"),
        (lambda: partition_by_group(None), "no group ids"),
    ],
)
def test_bad_arguments_name_the_value(call, message):
    with pytest.raises(TinylargeError, match=message):
        call()
