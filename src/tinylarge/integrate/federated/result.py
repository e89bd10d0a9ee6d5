"""``FederatedResult``: what every framework's ``run_<framework>`` returns.

``to_dict()`` is the interface of ``tinylarge federate --json``: ``framework``, ``dataset``,
``n_clients``, ``rounds`` (``round``, ``accuracy``, ``bytes_up``, ``bytes_down``, ``sim_time_s``,
``device_energy_j`` and more), ``final_accuracy``, ``bytes_up_per_client_round``,
``bytes_down_per_client_round``, ``device_peak_memory_bytes``; plus ``config`` and ``summary``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinylarge.integrate.federated.config import FederatedConfig
from tinylarge.integrate.federated.ledger import RoundRecord


@dataclass(kw_only=True)
class FederatedResult:
    config: FederatedConfig
    rounds: list[RoundRecord]
    memory: dict[str, int] = field(default_factory=dict)
    personalised: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    selected_counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, config: FederatedConfig, payload: dict[str, Any], wall_s: float) -> Any:
        rounds = [RoundRecord(**r) for r in payload["rounds"]]
        out = cls(
            config=config,
            rounds=rounds,
            memory=payload.get("memory", {}),
            personalised=payload.get("personalised"),
            extras=payload.get("extras", {}),
            selected_counts=payload.get("selected_counts", {}),
            wall_s=wall_s,
        )
        out.summary = summarise(config, rounds, out.memory, out.personalised, out.extras)
        return out

    @property
    def final_accuracy(self) -> float | None:
        return self.summary.get("final_accuracy")

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "framework": str(self.config.framework),
            "dataset": self.config.dataset,
            "n_clients": self.config.n_clients,
            "rounds": [r.to_dict() for r in self.rounds],
            "final_accuracy": s["final_accuracy"],
            "bytes_up_per_client_round": s["bytes_up_per_client_round"],
            "bytes_down_per_client_round": s["bytes_down_per_client_round"],
            "device_peak_memory_bytes": s["device_peak_memory_bytes"],
            "memory": self.memory,
            "personalised": self.personalised,
            "extras": self.extras,
            "selected_counts": self.selected_counts,
            "wall_s": self.wall_s,
            "summary": s,
            "config": self.config.model_dump(mode="json"),
        }


def rounds_to_target(rounds: list[RoundRecord], target: float | None) -> int | None:
    """The first round whose test accuracy reaches ``target`` (``None``: never, or no target)."""
    if target is None:
        return None
    return next((r.round for r in rounds if r.accuracy is not None and r.accuracy >= target), None)


def summarise(
    config: FederatedConfig,
    rounds: list[RoundRecord],
    memory: dict[str, int],
    personalised: dict[str, Any] | None,
    extras: dict[str, Any],
) -> dict[str, Any]:
    """Headline numbers, units in the names; per-client figures average over client-rounds."""
    client_rounds = max(sum(r.n_clients for r in rounds), 1)
    accs = [r.accuracy for r in rounds if r.accuracy is not None]
    from tinylarge.tiny.devices import load_device

    sram = load_device(config.device).sram_bytes
    peak = int(memory.get("peak_bytes", 0))
    reached = rounds_to_target(rounds, config.accuracy_target)
    return {
        "final_accuracy": accs[-1] if accs else None,
        "best_accuracy": max(accs) if accs else None,
        "accuracy_target": config.accuracy_target,
        "rounds_to_target": reached,
        "sim_time_to_target_s": next(
            (r.cum_sim_time_s for r in rounds if r.round == reached), None
        ),
        "bytes_up_per_client_round": sum(r.bytes_up for r in rounds) / client_rounds,
        "bytes_down_per_client_round": sum(r.bytes_down for r in rounds) / client_rounds,
        "device_compute_s_per_client_round": sum(r.device_compute_s for r in rounds)
        / client_rounds,
        "radio_energy_j_per_client_round": sum(r.radio_energy_j for r in rounds) / client_rounds,
        "device_energy_j_per_client_round": sum(r.device_energy_j for r in rounds) / client_rounds,
        "sim_time_s": float(sum(r.sim_time_s for r in rounds)),
        "sim_time_s_per_round": float(np.mean([r.sim_time_s for r in rounds])) if rounds else 0.0,
        "radio_energy_j": float(sum(r.radio_energy_j for r in rounds)),
        "device_energy_j": float(sum(r.device_energy_j for r in rounds)),
        "device_peak_memory_bytes": peak,
        "device_trainable_memory_bytes": int(memory.get("trainable_bytes", 0)),
        "device": config.device,
        "fits_device_sram": peak <= sram,
        "personalised_accuracy": personalised["accuracy_after"] if personalised else None,
        **{k: v for k, v in extras.items() if isinstance(v, int | float | str | bool)},
    }
