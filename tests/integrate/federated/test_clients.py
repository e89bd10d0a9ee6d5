"""Every framework sees the same clients: a partition of the device share, rebuilt from the
config alone on any node."""

import numpy as np

from tinylarge.integrate.federated.clients import (
    client_share,
    label_permutation,
    load_split,
    partition_indices,
    server_and_device_indices,
    support_query,
)
from tinylarge.integrate.federated.fl import FLConfig
from tinylarge.integrate.federated.sl import SLConfig


def test_clients_partition_the_device_share_exactly():
    config = FLConfig(dataset="digits", n_clients=6, partition="dirichlet:0.3")
    ds = load_split("digits", 0)
    server, device = server_and_device_indices(ds, config)
    parts = partition_indices(ds, config)
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined)) == len(device)
    assert set(joined) == set(device) and not set(joined) & set(server)
    # Dirichlet(0.3) is label-skewed: some client misses some class
    assert min(len(np.unique(ds.y_train[p])) for p in parts) < ds.info.n_classes


def test_every_framework_gets_the_same_shares():
    a = client_share(FLConfig(dataset="digits", n_clients=4), 2)
    b = client_share(SLConfig(dataset="digits", n_clients=4, rounds=9), 2)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


def test_group_partition_gives_one_speaker_per_client():
    config = FLConfig(dataset="japanese-vowels", n_clients=9, partition="group")
    ds = load_split("japanese-vowels", 0)
    for part in partition_indices(ds, config):
        assert len(np.unique(ds.groups_train[part])) == 1


def test_held_out_clients_split_into_support_and_query():
    support, query = support_query(np.arange(100, 150), 0.2, seed=3)
    assert len(support) == 10 and len(query) == 40
    assert not set(support) & set(query)
    share = client_share(FLConfig(dataset="digits", n_clients=4, n_holdout_clients=1), 3)
    assert share.x_query is not None and len(share.y_query) > len(share.y)


def test_per_client_label_maps_permute_each_clients_labels_support_and_query_alike():
    base = dict(dataset="digits", n_clients=4, n_holdout_clients=1, seed=5)
    n = load_split("digits", 0).info.n_classes
    perms = [label_permutation(FLConfig(**base, label_map="per-client"), c, n) for c in range(4)]
    for p in perms:
        assert sorted(p) == list(range(n))  # a permutation of the classes
    assert len({tuple(p) for p in perms}) == 4  # each client its own
    assert list(label_permutation(FLConfig(**base), 2, n)) == list(range(n))  # shared: identity
    for client in (1, 3):  # a training client and the held-out one
        shared = client_share(FLConfig(**base), client)
        own = client_share(FLConfig(**base, label_map="per-client"), client)
        np.testing.assert_array_equal(own.x, shared.x)
        np.testing.assert_array_equal(own.y, perms[client][shared.y])
        if client == 3:
            np.testing.assert_array_equal(own.x_query, shared.x_query)
            np.testing.assert_array_equal(own.y_query, perms[client][shared.y_query])


def test_a_holdout_fold_of_a_group_partition_holds_out_one_subject_for_every_seed():
    base = dict(dataset="watch-exercises", n_clients=10, partition="group", n_holdout_clients=1)
    ds = load_split("watch-exercises", 0)
    subjects = []
    for fold, seed in ((8, 100), (8, 0), (2, 0)):
        config = FLConfig(**base, holdout=f"fold:{fold}", seed=seed)
        parts = partition_indices(ds, config)
        held = np.unique(ds.groups_train[parts[fold]])
        trained = np.unique(
            ds.groups_train[np.concatenate([parts[c] for c in config.training_clients])]
        )
        assert len(held) == 1 and held[0] not in trained
        subjects.append(held[0])
    assert subjects[0] == subjects[1] != subjects[2]  # the fold, not the seed, picks the wearer
