"""Federated configs are checked when built: partitions, names, client counts."""

import pytest
from pydantic import ValidationError

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.integrate.federated.config import config_from_json, parse_partition
from tinylarge.integrate.federated.fl import FedProxConfig, FLConfig
from tinylarge.integrate.federated.fsl import FSLConfig


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("iid", ("iid", None)), ("group", ("group", None)), ("dirichlet:0.3", ("dirichlet", 0.3))],
)
def test_partitions_parse(text, parsed):
    assert parse_partition(text) == parsed


@pytest.mark.parametrize(
    "text", ["dirichlet", "dirichlet:0", "dirichlet:-1", "dirichlet:x", "iid:2", "shards"]
)
def test_bad_partitions_name_the_value_and_the_valid_ones(text):
    with pytest.raises(TinylargeError, match=f"unknown partition '{text}'; valid: iid, dirichlet"):
        parse_partition(text)


def test_unknown_names_are_refused_with_the_valid_ones():
    # UnknownNameError is no ValueError: pydantic passes it on, and the CLI prints it as it is
    with pytest.raises(UnknownNameError, match="unknown dataset 'cifar'; valid: .*netops-alarms"):
        FLConfig(dataset="cifar")
    with pytest.raises(UnknownNameError, match="unknown band 'wifi'"):
        FLConfig(radio={"band": "wifi"})
    with pytest.raises(UnknownNameError, match="unknown strategy 'median'; valid: bulyan, dp-"):
        FLConfig(strategy="median")


def test_client_counts_must_leave_training_clients():
    with pytest.raises(ValidationError, match="leaves no training client"):
        FLConfig(n_clients=3, n_holdout_clients=3)
    with pytest.raises(ValidationError, match="exceeds the 2 training clients"):
        FLConfig(n_clients=3, n_holdout_clients=1, clients_per_round=3)
    c = FLConfig(n_clients=5, n_holdout_clients=2)
    assert c.training_clients == [0, 1, 2] and c.holdout_clients == [3, 4] and c.n_selected == 3


def test_fedprox_is_fl_plus_mu_and_configs_round_trip_through_json():
    prox = FedProxConfig()
    assert prox.strategy == "fedprox" and prox.proximal_mu > 0
    for config in (prox, FSLConfig(variant="v2", n_clients=4)):
        back = config_from_json(config.to_json())
        assert type(back) is type(config) and back == config


def test_holdout_folds_are_disjoint_blocks_and_bad_ones_name_the_valid_ones():
    folds = [FLConfig(n_clients=10, n_holdout_clients=2, holdout=f"fold:{k}") for k in range(5)]
    held = [c.holdout_clients for c in folds]
    assert held == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert sorted(sum(held, [])) == list(range(10))  # disjoint, and together every client
    for c in folds:
        assert sorted(c.training_clients + c.holdout_clients) == list(range(10))
        assert not set(c.training_clients) & set(c.holdout_clients)
    # the seed does not move a fold: validation and test folds stay disjoint whatever the seeds
    assert FLConfig(
        n_clients=10, n_holdout_clients=2, holdout="fold:1", seed=7
    ).holdout_clients == [
        2,
        3,
    ]
    assert FLConfig(n_clients=5, n_holdout_clients=2).holdout_clients == [3, 4]  # "last"
    for bad in ("fold:5", "fold:x", "fold:-1", "fold", "first", "last:1"):
        with pytest.raises(
            TinylargeError, match=f"unknown holdout '{bad}'; valid: last, fold:K with K in 0..4"
        ):
            FLConfig(n_clients=10, n_holdout_clients=2, holdout=bad)


def test_label_map_takes_shared_or_per_client_only():
    assert FLConfig(label_map="per-client").label_map == "per-client"
    with pytest.raises(ValidationError, match="'shared' or 'per-client'"):
        FLConfig(label_map="per-user")
    with pytest.raises(ValidationError, match="client_arrays bring their own labels"):
        FLConfig(label_map="per-client", client_arrays="k", engine="inprocess")
