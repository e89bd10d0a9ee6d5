"""Which data each client holds: the same partition for every framework, computed from the config
alone, so a ClientApp on any SuperNode (or Ray worker) rebuilds its own share without receiving it.

The LargeML server keeps ``server_fraction`` of the training data (stratified; only FTL's server
uses it, to train the teacher and distil the backbone); the clients share the rest by the
config's partition (:mod:`tinylarge.data.partition`). Held-out clients (the last
``n_holdout_clients``, or the fold ``holdout`` names) never train: their data splits into a
support set (few-shot fine-tuning) and a query set (personalised accuracy). With ``label_map =
"per-client"`` every client's labels go through its own seeded permutation of the classes (each
client a task of its own, as in Reptile's Omniglot tasks: users mapping the same gestures to
their own commands), support and query alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from tinylarge.data import partition_by_group, partition_dirichlet, partition_iid
from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated.config import FederatedConfig, parse_partition
from tinylarge.integrate.server_device import server_device_split


@lru_cache(maxsize=4)
def load_split(name: str, split_seed: int) -> Any:
    """The dataset, loaded once per process (every client of a Ray worker shares it)."""
    from tinylarge.data import load_dataset, load_netops
    from tinylarge.data.netops import NAME

    if name == NAME:
        return load_netops(split_seed)
    return load_dataset(name, seed=split_seed)


def server_and_device_indices(dataset: Any, config: FederatedConfig) -> tuple[np.ndarray, ...]:
    """Indices into ``dataset.x_train``: ``(server, device)``; all device data when the server
    holds none."""
    if config.server_fraction == 0:
        return np.array([], dtype=np.int64), np.arange(len(dataset.y_train))
    return server_device_split(dataset.y_train, config.server_fraction, config.split_seed)


def partition_indices(dataset: Any, config: FederatedConfig) -> list[np.ndarray]:
    """One array of training-set indices per client, ``config.n_clients`` of them."""
    _, device = server_and_device_indices(dataset, config)
    kind, alpha = parse_partition(config.partition)
    y = dataset.y_train[device]
    if kind == "iid":
        parts = partition_iid(len(device), config.n_clients, seed=config.seed)
    elif kind == "dirichlet":
        parts = partition_dirichlet(
            y,
            config.n_clients,
            float(alpha),
            seed=config.seed,
            min_size=max(4, config.batch_size // 4),
        )
    else:
        if dataset.groups_train is None:
            raise TinylargeError(
                f"dataset {dataset.info.name!r} has no subject/speaker groups; use iid or dirichlet"
            )
        parts = partition_by_group(dataset.groups_train[device], config.n_clients)
    return [device[p] for p in parts]


def evaluation_split(config: FederatedConfig) -> tuple[np.ndarray, np.ndarray]:
    """What the server scores the global model on: the test split, or (``evaluate_on =
    "validation"``, for choosing hyper-parameters) the server's share of the training data."""
    ds = load_split(config.dataset, config.split_seed)
    if config.evaluate_on == "test":
        return ds.x_test, ds.y_test
    server, _ = server_and_device_indices(ds, config)
    if len(server) == 0:
        raise TinylargeError("evaluate_on='validation' needs server_fraction > 0")
    return ds.x_train[server], ds.y_train[server]


def check_clients(config: FederatedConfig) -> list[int]:
    """Build the partition once before any engine starts, so that a partition the data cannot
    give (too many clients for the groups, a client with fewer than 2 samples) is one error here
    rather than a failure inside every ClientApp. Returns the clients' sizes."""
    ds = load_split(config.dataset, config.split_seed)
    sizes = [len(p) for p in partition_indices(ds, config)]
    small = [c for c, n in enumerate(sizes) if n < 2]
    if small:
        raise TinylargeError(
            f"client {small[0]} would hold {sizes[small[0]]} sample(s) with partition "
            f"{config.partition!r} over {config.n_clients} clients; use fewer clients"
        )
    return sizes


@dataclass(frozen=True)
class ClientShare:
    """One client's arrays: its training data, and for a held-out client support and query."""

    client: int
    x: np.ndarray
    y: np.ndarray
    x_query: np.ndarray | None = None
    y_query: np.ndarray | None = None

    @property
    def n_examples(self) -> int:
        return len(self.y)


def support_query(idx: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of one held-out client's indices: ``fraction`` support, the rest query."""
    order = np.random.default_rng(seed).permutation(idx)
    n_support = min(len(order) - 1, max(2, round(fraction * len(order))))
    return np.sort(order[:n_support]), np.sort(order[n_support:])


def label_permutation(config: FederatedConfig, client: int, n_classes: int) -> np.ndarray:
    """Client ``client``'s label map (``perm[y]`` is its label of class ``y``): the identity when
    labels are shared, else a permutation seeded by (run seed, client)."""
    if config.label_map == "shared":
        return np.arange(n_classes)
    return np.random.default_rng([config.seed, client, _LABEL_TAG]).permutation(n_classes)


_LABEL_TAG = 7  # keeps the label maps' stream apart from the other per-client seeds


@lru_cache(maxsize=64)
def _share(config_json: str, client: int) -> ClientShare:
    from tinylarge.integrate.federated.config import config_from_json

    config = config_from_json(config_json)
    dataset = load_split(config.dataset, config.split_seed)
    idx = partition_indices(dataset, config)[client]
    labels = label_permutation(config, client, dataset.info.n_classes)[dataset.y_train]
    if client in config.holdout_clients:
        support, query = support_query(idx, config.support_fraction, config.seed + client)
        return ClientShare(
            client,
            dataset.x_train[support],
            labels[support],
            dataset.x_train[query],
            labels[query],
        )
    return ClientShare(client, dataset.x_train[idx], labels[idx])


def client_share(config: FederatedConfig, client: int) -> ClientShare:
    """Client ``client``'s data (cached per process by config and id)."""
    if not 0 <= client < config.n_clients:
        raise TinylargeError(f"client {client} is not in 0..{config.n_clients - 1}")
    if config.client_arrays is not None:
        from tinylarge.integrate.federated.arrays import registered_share

        return registered_share(config.client_arrays, client)
    return _share(config.to_json(), client)
