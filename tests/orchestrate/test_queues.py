"""Edge FIFO queues: the batched closed form equals the one-at-a-time recursion, exactly, and a
server's departures do not depend on which other servers share the batch."""

import numpy as np

from tinylarge.orchestrate.queues import NS, fifo_batch, fifo_reference, uplink_backlog_step


def test_matches_the_recursion_on_random_batches():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n, n_srv = int(rng.integers(1, 300)), int(rng.integers(1, 9))
        srv = rng.integers(0, n_srv, n)
        a = rng.integers(0, 10 * NS, n)
        s = rng.integers(1, NS // 20, n)
        last = rng.integers(0, 5 * NS, n_srv)
        want_last = last.copy()
        dep = fifo_batch(srv, a, s, want_last)
        for k in range(n_srv):
            m = srv == k
            ref = fifo_reference(list(a[m]), list(s[m]), int(last[k]))
            assert sorted(dep[m].tolist()) == ref  # exact integers
            if m.any():
                assert want_last[k] == ref[-1]
            else:
                assert want_last[k] == last[k]


def test_a_server_is_blind_to_its_batch_mates():
    rng = np.random.default_rng(4)
    a, s = rng.integers(0, NS, 50), rng.integers(1, NS // 10, 50)
    alone = fifo_batch(np.zeros(50, dtype=np.int64), a, s, np.zeros(1, dtype=np.int64))
    srv = np.r_[np.zeros(50, dtype=np.int64), np.ones(500, dtype=np.int64) * 7]
    both = fifo_batch(
        srv,
        np.r_[a, rng.integers(0, 10**13, 500)],
        np.r_[s, rng.integers(1, 10**12, 500)],
        np.zeros(8, dtype=np.int64),
    )
    np.testing.assert_array_equal(both[:50], alone)


def test_hand_computed_departures():
    # arrivals 0, 1, 1.5 s with 1 s service each, server busy until 0.5 s
    dep = fifo_batch(
        np.zeros(3, dtype=np.int64),
        np.array([0, 1, 1.5]) * NS,
        np.array([1, 1, 1]) * NS,
        np.array([NS // 2]),
    )
    assert (dep / NS).tolist() == [1.5, 2.5, 3.5]


def test_uplink_backlog_is_a_fluid_queue():
    used = np.array([0.08, 0.04, 0.01])
    b = uplink_backlog_step(np.array([0.0, 0.05]), np.array([0, 0, 1]), used, 0.1)
    np.testing.assert_allclose(b, [0.02, 0.0])
