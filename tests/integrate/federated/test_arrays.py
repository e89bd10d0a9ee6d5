"""Federated rounds over caller-held arrays (the closed loop's devices): Flower's FedAvg/FedProx on
the in-process grid, only weights cross, and the rounds learn what the clients hold."""

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated import arrays as arrays_module
from tinylarge.integrate.federated.arrays import registered_share, run_on_arrays
from tinylarge.integrate.federated.clients import load_split
from tinylarge.integrate.federated.fl import FedProxConfig, FLConfig, build_student
from tinylarge.integrate.federated.local import accuracy
from tinylarge.models import ModelSpec

SPEC = ModelSpec(name="mlp", width=32, depth=1)


def _shares(n_clients=3, n=60):
    ds = load_split("digits", 0)
    parts = np.array_split(np.arange(n_clients * n), n_clients)
    return ds, [(ds.x_train[p], ds.y_train[p]) for p in parts]


@pytest.mark.parametrize("cls", [FLConfig, FedProxConfig])
def test_rounds_learn_from_the_arrays_and_only_weights_cross(cls):
    ds, shares = _shares()
    config = cls(dataset="digits", n_clients=3, rounds=3, model=SPEC, engine="inprocess",
                 lr=0.05, local_epochs=2, batch_size=16)  # fmt: skip
    model = build_student(config)
    before = accuracy(model, ds.x_test, ds.y_test)
    run = run_on_arrays(config, model, shares, lambda m: accuracy(m, ds.x_test, ds.y_test))
    rounds = run.payload["rounds"]
    assert len(rounds) == 3 and all(r["n_clients"] == 3 for r in rounds)
    assert rounds[-1]["accuracy"] > before + 0.2  # direction: 180 labelled digits teach it
    # every client sends the model's ArrayRecord once per round and receives it once: nothing else
    assert run.bytes_up == run.bytes_down == 3 * 3 * run.model_bytes
    n_params = sum(p.numel() for p in model.state_dict().values())
    assert 4 * n_params <= run.model_bytes < 4 * n_params + 4096  # float32 weights plus keys
    assert run.sim_time_s > 0
    assert arrays_module._SHARES == {}  # the arrays are freed after the run
    with pytest.raises(TinylargeError, match="no client arrays registered"):
        registered_share("0123456789abcdef", 0)


def test_bad_calls_are_refused():
    ds, shares = _shares()
    config = FLConfig(dataset="digits", n_clients=2, model=SPEC, engine="inprocess")
    with pytest.raises(TinylargeError, match="n_clients 2 but 3 client arrays"):
        run_on_arrays(config, build_student(config), shares, lambda m: 0.0)
    tiny = [shares[0], (shares[1][0][:1], shares[1][1][:1])]
    with pytest.raises(TinylargeError, match="client 1 holds fewer than 2 samples"):
        run_on_arrays(config, build_student(config), tiny, lambda m: 0.0)
    with pytest.raises(ValueError, match="engine must be inprocess"):
        FLConfig(dataset="digits", client_arrays="abc", engine="simulation")


def test_frozen_bn_keeps_running_statistics_and_still_trains():
    import torch

    from tinylarge.integrate.federated.local import frozen_bn_forward, local_update

    ds, shares = _shares(1, 64)
    model = build_student(FLConfig(dataset="digits", model=ModelSpec(name="cnn2d", width=4)))
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    weights = [p.detach().clone() for p in model.parameters()]
    assert stats  # the student has BatchNorm
    local_update(model, *shares[0], lr=0.01, batch_size=16, seed=0, forward=frozen_bn_forward)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in stats.items())
    assert any(not torch.equal(p, w) for p, w in zip(model.parameters(), weights, strict=True))
    local_update(model, *shares[0], lr=0.01, batch_size=16, seed=0)  # without: they move
    assert not all(torch.equal(model.state_dict()[k], v) for k, v in stats.items())
