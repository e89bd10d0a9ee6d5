"""Robust and private FL (issue 15): FedAvg of the student under attack, defended by a robust
aggregator (:mod:`.defences`), or trained with client-level differential privacy (:mod:`.privacy`).

The attackers are a seeded ``malicious_fraction`` of the training clients; each runs the honest
local update (:func:`.fl.client_train`) on its (possibly poisoned) data and may then poison the
model it returns (:mod:`.attacks`). The server is the FL server; a backdoor run also reports the
attack success rate of the global model each round.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
from flwr.app import Array, ArrayRecord
from pydantic import Field, model_validator

from tinylarge.integrate.federated import fl
from tinylarge.integrate.federated.attacks import (
    Attack,
    backdoor_inputs,
    flip_labels,
    malicious_clients,
    poison_backdoor,
    sign_flip,
)
from tinylarge.integrate.federated.clients import (
    evaluation_split,
    load_split,
    server_and_device_indices,
)
from tinylarge.integrate.federated.config import Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.local import accuracy, local_update
from tinylarge.integrate.federated.privacy import (
    UNIT_WEIGHT,
    clipped_record,
    epsilon_spent,
    noise_for_epsilon,
)
from tinylarge.integrate.federated.server import Progress, serve_rounds
from tinylarge.models import ModelSpec

# no BatchNorm: every array is a float parameter (clipping, noise and coordinate-wise rules
# apply to all of it); 784-64-10 learns mnist5k in ~20 rounds
ROBUST_MODEL = ModelSpec(name="mlp", width=64, depth=1)


class RobustConfig(fl.FLConfig):
    """FL under poisoning attacks with a robust aggregator, or with client-level DP."""

    framework: Literal[Framework.ROBUST] = Framework.ROBUST  # type: ignore[assignment]
    n_clients: int = Field(20, ge=2, le=1000, description="clients (SuperNodes)")
    model: ModelSpec | None = ROBUST_MODEL
    attack: Attack = Field(Attack.NONE, description="what the malicious clients do")
    malicious_fraction: float = Field(
        0.0, ge=0, lt=0.5, description="share of training clients that attack"
    )
    attack_scale: float = Field(10.0, gt=0, description="sign-flip: w_g - scale (w - w_g)")
    backdoor_target: int = Field(0, ge=0, description="class the trigger maps to")
    backdoor_fraction: float = Field(
        0.5, gt=0, le=1, description="share of an attacker's samples carrying the trigger"
    )
    assumed_malicious: int | None = Field(
        None, ge=0, description="f given to Krum/Bulyan (default: the true number)"
    )
    trim_beta: float = Field(0.2, ge=0, lt=0.5, description="FedTrimmedAvg: cut per side")
    root_size: int = Field(100, ge=1, description="FLTrust: server's clean root samples")
    dp_clip: float = Field(1.0, gt=0, description="client-level DP: update L2 clipping norm")
    dp_epsilon: float | None = Field(
        None, gt=0, description="client-level DP: target epsilon (sets the noise)"
    )
    dp_noise_multiplier: float | None = Field(
        None, ge=0, description="client-level DP: noise multiplier z (instead of epsilon)"
    )
    dp_delta: float = Field(1e-5, gt=0, lt=1)
    server_lr: float = Field(
        1.0, gt=0, le=10, description="dp-fedavg / fedavgm: server learning rate on the mean update"
    )
    server_momentum: float = Field(
        0.0, ge=0, lt=1, description="dp-fedavg / fedavgm: server momentum on the mean update"
    )

    @model_validator(mode="after")
    def _dp(self) -> RobustConfig:
        if self.strategy == "dp-fedavg" and (self.dp_epsilon is None) == (
            self.dp_noise_multiplier is None
        ):
            raise ValueError(
                "strategy 'dp-fedavg' needs exactly one of dp_epsilon, dp_noise_multiplier"
            )
        if self.backdoor_target >= load_split(self.dataset, self.split_seed).info.n_classes:
            raise ValueError(f"backdoor_target {self.backdoor_target} is not a class")
        return self

    @cached_property
    def malicious(self) -> list[int]:
        return malicious_clients(self.training_clients, self.malicious_fraction, self.seed)

    @cached_property
    def noise_multiplier(self) -> float:
        if self.dp_noise_multiplier is not None:
            return self.dp_noise_multiplier
        return noise_for_epsilon(float(self.dp_epsilon or 0), self.rounds, self.dp_delta)


def client_train(
    config: RobustConfig, share: Any, arrays: ArrayRecord, round_: int
) -> tuple[ArrayRecord, dict[str, Any]]:
    bad = share.client in config.malicious
    attack = config.attack if bad else Attack.NONE
    x, y = share.x, share.y
    if attack is Attack.LABEL_FLIP:
        y = flip_labels(y, load_split(config.dataset, config.split_seed).info.n_classes)
    elif attack is Attack.BACKDOOR:
        seed = fl.local_seed(config, round_, share.client, tag=3)
        x, y = poison_backdoor(x, y, config.backdoor_target, config.backdoor_fraction, seed)
    out, metrics = fl.client_train(config, replace(share, x=x, y=y), arrays, round_)
    if attack is Attack.SIGN_FLIP:
        sent = sign_flip(out.to_numpy_ndarrays(), arrays.to_numpy_ndarrays(), config.attack_scale)
        out = ArrayRecord({k: Array(np.asarray(v)) for k, v in zip(out.keys(), sent, strict=True)})
    elif config.strategy == "dp-fedavg":  # honest clients clip; attackers would not
        out, metrics["update-norm"] = clipped_record(out, arrays, config.dp_clip)
    metrics[UNIT_WEIGHT] = 1.0
    return out, metrics


client_personalise = fl.client_personalise


def root_indices(config: RobustConfig) -> np.ndarray:
    """FLTrust's root data: ``root_size`` samples (seeded) of the server's share."""
    server, _ = server_and_device_indices(load_split(config.dataset, config.split_seed), config)
    if len(server) == 0:
        from tinylarge.errors import TinylargeError

        raise TinylargeError("FLTrust needs server_fraction > 0 (its root data)")
    rng = np.random.default_rng([config.seed, 7])
    return np.sort(rng.choice(server, size=min(config.root_size, len(server)), replace=False))


def root_update(config: RobustConfig, arrays: ArrayRecord, round_: int) -> ArrayRecord:
    """The server's own local update on its root data, with the clients' hyper-parameters."""
    ds = load_split(config.dataset, config.split_seed)
    idx = root_indices(config)
    model = fl.build_student(config)
    model.load_state_dict(arrays.to_torch_state_dict())
    local_update(
        model,
        ds.x_train[idx],
        ds.y_train[idx],
        lr=config.lr,
        batch_size=config.batch_size,
        seed=fl.local_seed(config, round_, config.n_clients, tag=2),
        epochs=config.local_epochs,
        steps=config.local_steps,
        momentum=config.momentum,
    )
    return ArrayRecord(model.state_dict())


def serve(grid: Any, config: RobustConfig, progress: Progress) -> dict[str, Any]:
    task = fl.student_task(config)
    task.extras.update(n_malicious=len(config.malicious), attack=str(config.attack))
    if config.strategy == "dp-fedavg":
        np.random.seed(config.seed)  # Flower's DP noise draws from numpy's global generator
        z = config.noise_multiplier
        task.extras.update(
            dp_noise_multiplier=z,
            dp_epsilon=epsilon_spent(z, config.rounds, config.dp_delta),
            dp_delta=config.dp_delta,
            dp_clip=config.dp_clip,
        )
    if config.attack is Attack.BACKDOOR:
        x_eval, y_eval = evaluation_split(config)
        x_bd, y_bd = backdoor_inputs(x_eval, y_eval, config.backdoor_target)
        model, evaluate = fl.build_student(config), task.evaluate

        def evaluate_with_asr(arrays: ArrayRecord) -> float:
            model.load_state_dict(arrays.to_torch_state_dict())
            task.extras["attack_success_rate"] = accuracy(model, x_bd, y_bd)
            return evaluate(arrays)

        task.evaluate = evaluate_with_asr
    from threadpoolctl import threadpool_limits

    # numpy's OpenBLAS threads spin against torch's in one process: Flower's Krum distance
    # matrix (20 x 51k) took 1.4 s per round with them, 1 ms without
    with threadpool_limits(limits=1, user_api="blas"):
        return serve_rounds(grid, config, task, progress)


def run(config: RobustConfig | None = None, **io: Any) -> Any:
    """``run_robust``: FL with attackers and a robust or private aggregator."""
    io.pop("cache", None)
    return run_pattern(config or RobustConfig(), serve, **io)


run_robust = run
