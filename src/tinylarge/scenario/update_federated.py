"""The loop's federated update (``loop.update: federated``): the fleet's devices train the student
together in Flower rounds; LargeML quantizes, signs and rolls it out as after a re-distillation.

What a device trains on: the samples it offloaded, labelled by the answer LargeML sent back (the
teacher's argmax, which the device receives anyway to serve the request), its last
``buffer_samples`` of them. Samples it answered itself stay unlabelled and unused: their only
label would be the device's own guess, and training on it teaches nothing new and reinforces the
errors drift causes (confirmation bias). So the update sends no raw input up: each device sends
its weights (one ``ArrayRecord`` a round) and receives the global ones.

Each device holding at least two labelled samples is one Flower client (per-device, not per
group: a group client would pool several devices' raw data, which is what this update avoids; the
loop's fleets are tens of devices, and at most ``max_clients`` are sampled per update, as
cross-device FL does). The rounds run :func:`tinylarge.integrate.federated.arrays.run_on_arrays`
(Flower's FedAvg/FedProx on the in-process grid); bytes each way and the simulated round time come
from its ledger (TR 38.901 channel on ``band``, the devices' compute prices). The global model is
quantized by the same PTQ path as a re-distillation (``LOOP_INT8``), calibrated on the server's
own training set: it has no device data. Nothing here is cached across runs but the int8 file
(keyed by the model's digest); the rounds are deterministic and take seconds.
"""

from __future__ import annotations

import copy
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np

from tinylarge.integrate.federated.arrays import run_on_arrays
from tinylarge.integrate.federated.config import Engine, RadioConfig
from tinylarge.integrate.federated.fl import FedProxConfig, FLConfig
from tinylarge.integrate.federated.local import accuracy
from tinylarge.integrate.students import ModelReport, finish_int8
from tinylarge.models import count_macs, count_params
from tinylarge.scenario.sections import FederatedUpdateConfig
from tinylarge.scenario.update import LOOP_INT8, LoopData, ModelVersion
from tinylarge.train import ArtifactCache

DEFAULT_BAND = "nr-fr1"


class DeviceLabels:
    """What each device holds for a federated update: its offloaded inputs and the labels
    LargeML answered with, the last ``cap`` of them."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._rows: dict[str, deque] = {}

    def add(self, device_id: str, x: np.ndarray, y: np.ndarray) -> None:
        rows = self._rows.setdefault(device_id, deque(maxlen=self.cap))
        rows.extend(zip(x, np.asarray(y, dtype=np.int64), strict=True))

    def count(self, device_id: str) -> int:
        return len(self._rows.get(device_id, ()))

    def arrays(self, device_id: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rows[device_id]
        return np.stack([r[0] for r in rows]).astype(np.float32), np.array([r[1] for r in rows])


def update_band(fed: FederatedUpdateConfig, fleet: list[Any]) -> str:
    """The band the rounds are priced on: ``fed.band``, else the first group's band (or its
    link, when that preset is also a band), else nr-fr1."""
    from tinylarge.net import list_bands

    if fed.band:
        return fed.band
    bands = list_bands()
    for g in fleet:
        for name in (g.band, g.link):
            if name in bands:
                return name
    return DEFAULT_BAND


def federated_update(
    parent: ModelVersion,
    spec: Any,
    dataset: Any,
    labels: DeviceLabels,
    devices: list[Any],
    fed: FederatedUpdateConfig,
    band: str,
    cache: ArtifactCache,
    out_dir: Path,
    version: int,
    seed: int,
) -> ModelVersion | None:
    """A new student version from ``parent`` by federated rounds among ``devices`` (each with
    ``device_id`` and ``group``, its catalog device); ``None`` when fewer than two devices hold
    labelled samples (no federation to run) or the rounds diverged (non-finite weights)."""
    start = time.perf_counter()
    holders = [d for d in devices if labels.count(d.device_id) >= 2]
    if len(holders) < 2:
        return None
    rng = np.random.default_rng([seed, version, 0xFED])
    if len(holders) > fed.max_clients:
        keep = np.sort(rng.choice(len(holders), size=fed.max_clients, replace=False))
        holders = [holders[i] for i in keep]
    shares = [labels.arrays(d.device_id) for d in holders]
    groups = [d.group for d in holders]
    common = dict(
        dataset=dataset.info.name, split_seed=int(getattr(dataset, "seed", 0)),
        n_clients=len(holders), rounds=fed.rounds, seed=int(rng.integers(2**31)),
        local_epochs=fed.local_epochs, batch_size=fed.batch_size, lr=fed.lr, server_fraction=0.0,
        freeze_bn_stats=True,
        model=spec, device=Counter(groups).most_common(1)[0][0], radio=RadioConfig(band=band),
        engine=Engine.INPROCESS,
    )  # fmt: skip
    if fed.strategy == "fedprox":
        config = FedProxConfig(**common, proximal_mu=fed.proximal_mu)
    else:
        config = FLConfig(**common)
    x_test, y_test = dataset.x_test, dataset.y_test

    def evaluate(model) -> float:  # the server's report of each round (nothing is chosen on it)
        return accuracy(model, x_test, y_test)

    run = run_on_arrays(config, parent.model, shares, evaluate, devices=groups)
    state = run.arrays.to_torch_state_dict()
    if not all(bool(t.isfinite().all()) for t in state.values() if t.is_floating_point()):
        return None  # the rounds diverged (too high a rate): keep the fleet's model
    model = copy.deepcopy(parent.model)
    model.load_state_dict(state)
    model.eval()
    rounds = run.payload["rounds"]
    report = ModelReport(
        role="student",
        spec=spec.model_dump(mode="json"),
        params=count_params(model),
        macs=count_macs(model, tuple(dataset.info.input_shape)),
        float_accuracy=float(rounds[-1]["accuracy"]),
        train_time_s=run.wall_s,
    )
    # PTQ calibrated on the server's own training set: no device sample ever reached it
    data = LoopData(dataset.info, dataset.x_train, dataset.y_train, x_test, y_test, seed)
    tflite_path = out_dir / f"student_v{version}_int8.tflite"
    report = finish_int8(report, model, data, cache, tflite_path, recipe=LOOP_INT8, seed=seed)
    n_samples = int(sum(len(y) for _, y in shares))
    summary = {
        "strategy": fed.strategy,
        "rounds": len(rounds),
        "n_clients": len(holders),
        "n_samples": n_samples,
        "band": band,
        "model_bytes": run.model_bytes,
        "bytes_up": run.bytes_up,
        "bytes_down": run.bytes_down,
        "raw_input_bytes_up": 0,  # only ArrayRecords cross the grid
        "sim_time_s": run.sim_time_s,
        "device_energy_j": float(sum(r["device_energy_j"] for r in rounds)),
        "round_accuracy": [r["accuracy"] for r in rounds],
        "federation_wall_s": run.wall_s,
        "wall_s": time.perf_counter() - start,
    }
    return ModelVersion(
        version=version,
        model=model,
        tflite=tflite_path.read_bytes(),
        source=f"federated from v{parent.version}: {len(rounds)} {fed.strategy} rounds over "
        f"{len(holders)} devices ({n_samples} labelled samples; weights only)",
        int8_accuracy=report.int8_accuracy,
        train_time_s=run.wall_s,
        meta={"federated": summary},
    )
