"""The frameworks' servers and clients on an in-process grid (Flower's own objects, direct calls):
what crosses the network, who is selected, and the algebra each framework promises."""

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord

from tinylarge.integrate.federated import fl, fml, fsl, sl
from tinylarge.integrate.federated.fl import FedProxConfig, FLConfig, build_student
from tinylarge.integrate.federated.fml import FMLConfig
from tinylarge.integrate.federated.fsl import FSLConfig
from tinylarge.integrate.federated.result import FederatedResult
from tinylarge.integrate.federated.sl import SLConfig

INTERFACE = {
    "framework",
    "dataset",
    "n_clients",
    "rounds",
    "final_accuracy",
    "bytes_up_per_client_round",
    "bytes_down_per_client_round",
    "device_peak_memory_bytes",
}
ROUND_KEYS = {"round", "accuracy", "bytes_up", "bytes_down", "sim_time_s", "device_energy_j"}


def _run(module, config, grid_cls):
    grid = grid_cls(config.n_clients)
    return FederatedResult.from_payload(config, module.serve(grid, config, None), 0.0), grid


def test_fedavg_learns_sends_the_model_each_way_and_selects_k_clients(local_grid):
    config = FLConfig(dataset="digits", n_clients=4, rounds=3, clients_per_round=2, seed=1)
    result, grid = _run(fl, config, local_grid)
    out = result.to_dict()
    assert set(out) >= INTERFACE and all(set(r) >= ROUND_KEYS for r in out["rounds"])
    size = ArrayRecord(build_student(config).state_dict()).count_bytes()
    assert out["bytes_up_per_client_round"] == out["bytes_down_per_client_round"] == size
    train = [m for m in grid.sent if m.metadata.message_type == "train"]
    assert len(train) == 3 * 2 and all(r["n_clients"] == 2 for r in out["rounds"])
    assert out["final_accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert out["rounds"][-1]["cum_sim_time_s"] == sum(r["sim_time_s"] for r in out["rounds"])


def test_fedprox_sends_mu_and_changes_the_update(local_grid):
    base = dict(dataset="digits", n_clients=3, rounds=1, seed=2)
    prox, grid = _run(fl, FedProxConfig(**base, proximal_mu=1.0), local_grid)
    train = [m for m in grid.sent if m.metadata.message_type == "train"]
    assert train[0].content["config"]["proximal-mu"] == 1.0  # Flower's FedProx puts it there
    avg, _ = _run(fl, FLConfig(**base), local_grid)
    assert prox.rounds[0].train_loss != avg.rounds[0].train_loss


def test_reptile_with_a_unit_outer_step_is_fedavg_of_the_same_inner_loop(local_grid):
    """w + 1 * (mean(w_i) - w) = mean(w_i): FML with eps = 1 and FedAvg with the same plain-SGD
    steps give the same global model, hence the same accuracy; personalisation is reported."""
    base = dict(
        dataset="digits",
        n_clients=4,
        rounds=1,
        local_steps=5,
        momentum=0.0,
        n_holdout_clients=1,
        seed=3,
    )
    meta, _ = _run(fml, FMLConfig(**base, outer_lr=1.0), local_grid)
    avg, _ = _run(fl, FLConfig(**base), local_grid)
    assert meta.rounds[0].accuracy == avg.rounds[0].accuracy
    half, _ = _run(fml, FMLConfig(**base, outer_lr=0.5), local_grid)
    assert half.rounds[0].accuracy != meta.rounds[0].accuracy
    p = meta.personalised
    assert p["finetune_steps"] == 5 and 0 <= p["accuracy_after"] <= 1 and len(p["clients"]) == 1


def test_a_holdout_fold_trains_on_the_other_clients_and_personalises_it_alone(local_grid):
    config = FMLConfig(
        dataset="digits", n_clients=4, rounds=2, local_steps=3, n_holdout_clients=1,
        holdout="fold:1", label_map="per-client", seed=4,
    )  # fmt: skip
    result, grid = _run(fml, config, local_grid)
    to = {
        kind: {grid.nodes[m.metadata.dst_node_id] for m in grid.sent
               if m.metadata.message_type == kind}
        for kind in ("train", "evaluate")
    }  # fmt: skip
    assert to == {"train": {0, 2, 3}, "evaluate": {1}}
    assert len(result.personalised["clients"]) == 1


def test_split_learning_and_splitfed_move_the_same_bytes_splitfed_faster(local_grid):
    base = dict(dataset="digits", n_clients=3, rounds=1, seed=4, batch_size=16)
    results = {
        "sl": _run(sl, SLConfig(**base), local_grid)[0],
        "v1": _run(fsl, FSLConfig(**base, variant="v1"), local_grid)[0],
        "v2": _run(fsl, FSLConfig(**base, variant="v2"), local_grid)[0],
    }
    up = {k: r.rounds[0].bytes_up for k, r in results.items()}
    down = {k: r.rounds[0].bytes_down for k, r in results.items()}
    assert len(set(up.values())) == 1 and len(set(down.values())) == 1
    assert results["v1"].rounds[0].sim_time_s < results["sl"].rounds[0].sim_time_s
    assert results["v1"].rounds[0].sim_time_s <= results["v2"].rounds[0].sim_time_s
    # the device trains only its part: its memory is that of the first blocks
    assert results["sl"].extras["device_forward_macs"] < results["sl"].extras["server_forward_macs"]


def test_splitfed_with_every_client_does_an_sl_epoch_of_work_and_a_sample_does_less(local_grid):
    """Equal participation (the benchmark's SL vs SplitFed comparison): with clients_per_round
    unset a SplitFed epoch trains every training client, as SL's does, so both process the
    same batches (equal device compute); a sample of clients does proportionally less."""
    base = dict(dataset="digits", n_clients=3, rounds=1, seed=4, batch_size=16)
    sl_run = _run(sl, SLConfig(**base), local_grid)[0].rounds[0]
    every = _run(fsl, FSLConfig(**base, variant="v2"), local_grid)[0].rounds[0]
    some = _run(fsl, FSLConfig(**base, clients_per_round=2), local_grid)[0].rounds[0]
    assert sorted(every.clients) == sorted(sl_run.clients) == [0, 1, 2]
    assert every.device_compute_s == pytest.approx(sl_run.device_compute_s, rel=1e-9)
    assert some.n_clients == 2 and some.device_compute_s < every.device_compute_s


def test_a_split_client_step_is_reproducible_from_its_saved_state(local_grid):
    """The ClientApp keeps no Python state: the activation it sends comes from context.state."""
    config = SLConfig(dataset="digits", n_clients=2, rounds=1, seed=5)
    _, device_part, _ = sl.parts(config)
    weights = ArrayRecord(device_part.state_dict())
    acts = []
    for _ in range(2):
        grid = local_grid(2)
        reply = grid.send_and_receive([sl.step_message(config, 1000, 1, arrays=weights)])[0]
        acts.append(reply.content["act"]["a"].numpy())
    np.testing.assert_array_equal(acts[0], acts[1])
    assert torch.is_tensor(torch.from_numpy(acts[0]))


def test_a_selectors_outer_step_moves_the_global_model_along_the_line_from_the_last(
    local_grid, monkeypatch
):
    """A selector's ``server_step`` scales the round's FedAvg update: with step 0 the weights
    never move (only BatchNorm's running statistics take the mean), so every round scores an
    untrained student; with FedAvg's step it learns."""
    import sys
    import types

    from tinylarge.integrate.federated import random_selection

    def factory(config):
        def select(states, k, rng):
            return random_selection(states, k, rng)

        select.server_step = lambda states, chosen: 0.0
        return select

    module = types.ModuleType("_frozen_selector")
    module.factory = factory
    monkeypatch.setitem(sys.modules, "_frozen_selector", module)
    base = dict(dataset="digits", n_clients=3, rounds=2, seed=4)
    frozen, _ = _run(fl, FLConfig(**base, selection="_frozen_selector:factory"), local_grid)
    plain, _ = _run(fl, FLConfig(**base), local_grid)
    accs = [r.accuracy for r in frozen.rounds]
    assert max(accs) < 0.3  # untrained weights (10 classes: chance 0.1)
    assert plain.final_accuracy > max(accs) + 0.3


def test_the_outer_step_keeps_batchnorm_statistics_and_integer_buffers_at_the_mean():
    from tinylarge.integrate.federated.strategy import outer_step

    start = torch.nn.BatchNorm1d(3).state_dict()
    mean = {k: v.clone() for k, v in start.items()}
    mean["weight"] += 1.0
    mean["running_var"] *= 0.2
    mean["num_batches_tracked"] += 7
    out = outer_step(ArrayRecord(start), ArrayRecord(mean), 1.5).to_torch_state_dict()
    assert torch.equal(out["weight"], torch.full((3,), 2.5))
    assert torch.equal(out["running_var"], mean["running_var"])  # 1 - 1.5 * 0.8 would be < 0
    assert int(out["num_batches_tracked"]) == 7
    same = outer_step(ArrayRecord(start), ArrayRecord(mean), 1.0).to_torch_state_dict()
    assert all(torch.equal(same[k], mean[k]) for k in mean)
