"""The one local update: steps, determinism, and FedProx's pull towards the global model."""

import numpy as np
import torch
from torch import nn

from tinylarge.integrate.federated.local import accuracy, local_update, personalise


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(5, 2)


def _distance(a, b):
    with torch.no_grad():
        return float(
            sum(((p - q) ** 2).sum() for p, q in zip(a.parameters(), b.parameters(), strict=False))
        )


def test_steps_epochs_and_determinism():
    x, y = _data()
    m1, m2 = _model(), _model()
    r = local_update(m1, x, y, lr=0.1, batch_size=16, seed=3, epochs=2)
    local_update(m2, x, y, lr=0.1, batch_size=16, seed=3, epochs=2)
    assert r.n_steps == 8 and r.n_samples_processed == 128 and r.n_examples == 64
    assert _distance(m1, m2) == 0.0
    r = local_update(_model(), x, y, lr=0.1, batch_size=16, seed=3, steps=5)
    assert r.n_steps == 5


def test_proximal_term_keeps_the_update_closer_to_the_global_model():
    x, y = _data()
    start = _model()
    moved = {}
    for mu in (0.0, 0.1, 1.0):
        m = _model()
        local_update(m, x, y, lr=0.2, batch_size=8, seed=1, epochs=3, proximal_mu=mu)
        moved[mu] = _distance(m, start)
    assert moved[0.0] > moved[0.1] > moved[1.0] > 0


def test_training_helps_and_personalisation_reports_before_and_after():
    x, y = _data(200)
    m = _model()
    before = accuracy(m, x, y)
    local_update(m, x, y, lr=0.5, batch_size=16, seed=0, epochs=5)
    assert accuracy(m, x, y) > max(before, 0.9)
    b, a = personalise(
        _model(), (x[:40], y[:40]), (x[40:], y[40:]), steps=20, lr=0.5, batch_size=8, seed=0
    )
    assert a > b
