"""Federated meta-learning (FML), Reptile style: the server learns an initialisation from which a
new client adapts in a few local steps.

Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms"), federated as
in TinyReptile / TinyMetaFed (Ren et al. 2023): each round a client runs the *inner loop*, ``k``
plain SGD steps on its own task from the current initialisation ``w``; the server takes the outer
step ``w <- w + eps * (mean_i(w_i) - w)`` -- Flower's FedAvgM with server learning rate ``eps``
and no momentum. Evaluation is what the method is for: a held-out client fine-tunes the
initialisation for ``finetune_steps`` steps on its support set and is scored on its query set,
against FedAvg's global model with the same fine-tuning budget (``fl`` with the same holdouts).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tinylarge.integrate.federated.config import FederatedConfig, Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.fl import client_personalise, client_train, student_task
from tinylarge.integrate.federated.server import Progress, serve_rounds


class FMLConfig(FederatedConfig):
    """Reptile: ``local_steps`` inner steps at ``lr`` (plain SGD), outer step ``outer_lr``."""

    framework: Literal[Framework.FML] = Framework.FML
    strategy: str = "fedavgm"
    local_steps: int | None = Field(10, ge=1, description="Reptile inner steps per round")
    momentum: float = Field(0.0, ge=0, lt=1, description="inner-loop momentum (Reptile: none)")
    outer_lr: float = Field(1.0, gt=0, le=2, description="Reptile outer step size eps")
    server_momentum: float = Field(0.0, ge=0, lt=1, description="momentum of the outer step")
    n_holdout_clients: int = Field(2, ge=1, description="clients kept out, for personalisation")

    @model_validator(mode="after")
    def _steps(self) -> FMLConfig:
        if self.local_steps is None:
            raise ValueError("Reptile needs local_steps (its inner loop)")
        return self


def serve(grid: Any, config: FederatedConfig, progress: Progress) -> dict[str, Any]:
    return serve_rounds(grid, config, student_task(config), progress)


def run(config: FMLConfig | None = None, **io: Any) -> Any:
    """``run_fml``: Reptile meta-training, then personalisation of the held-out clients."""
    io.pop("cache", None)
    return run_pattern(config or FMLConfig(), serve, **io)


run_fml = run
__all__ = ["FMLConfig", "client_personalise", "client_train", "run_fml"]
