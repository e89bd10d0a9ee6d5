"""Every framework sees the same clients: a partition of the device share, rebuilt from the
config alone on any node."""

import numpy as np

from tinylarge.integrate.federated.clients import (
    client_share,
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
