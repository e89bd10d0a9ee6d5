"""Keyed random numbers: a pure function of (seed, stream, key), well spread."""

import numpy as np

from tinylarge.orchestrate import rng


def test_depends_on_the_key_not_on_the_batch():
    keys = np.arange(1000, dtype=np.uint64)
    full = rng.uniform(7, 3, keys)
    np.testing.assert_array_equal(rng.uniform(7, 3, keys[::-1])[::-1], full)
    np.testing.assert_array_equal(rng.uniform(7, 3, keys[500:]), full[500:])
    assert not np.array_equal(rng.uniform(8, 3, keys), full)
    assert not np.array_equal(rng.uniform(7, 4, keys), full)


def test_moments():
    keys = np.arange(200_000, dtype=np.uint64)
    u = rng.uniform(0, 1, keys)
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.002
    z1, z2 = rng.normal_pair(0, 2, keys)
    for z in (z1, z2, rng.normal(0, 5, keys)):
        assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.corrcoef(z1, z2)[0, 1]) < 0.01


def test_combined_keys_differ_by_order():
    a = rng.combine(np.array([1, 2]), np.array([2, 1]))
    assert a[0] != a[1]
