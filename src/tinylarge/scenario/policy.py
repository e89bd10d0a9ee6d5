"""The running orchestration policy of the loop, and the validated changes intents make to it.

A :class:`PolicyState` says, per device type, where a request runs (``cascade``, ``local``,
``offload-all``, ``early-exit``, ``split``: :mod:`tinylarge.scenario.patterns`), how much a
device may offload, and what the rollout uses. The intent kinds of issue 16 map onto it through
:func:`apply_change`; the loop reads it every tick, so an accepted intent shows in the next
tick's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinylarge.errors import TinylargeError

KINDS = (
    "latency_slo",
    "minimise_energy",
    "maximise_accuracy",
    "offload_budget",
    "data_stays_on_device",
    "placement",
    "canary_rollout",
    "battery_saver",
)
POLICY_KINDS = ("cascade", "local", "offload-all", "early-exit", "split")
PRIVATE_KINDS = ("local", "early-exit", "split")  # kinds that send no raw input up
CLOUD_BACKHAUL_S = 0.04  # modelled: edge -> cloud round trip added when placement is "cloud"


@dataclass
class PolicyState:
    """What the loop does now; ``groups`` are the fleet's device types (catalog names)."""

    groups: list[str]
    kind: dict[str, str]
    threshold: dict[str, float]  # per device type: each type's student has its own gate threshold
    max_offload: dict[str, float | None]
    extra_latency_s: float = 0.0
    canary_fraction: float = 0.2
    battery_below: float | None = None
    audit_fraction: float = 0.0
    exit_threshold: float | None = None  # early exit: the calibrated exit gate's threshold
    available: tuple[str, ...] = ()  # patterns the deploy stage built (early-exit, split)
    update: str | None = None  # how the loop makes the next model; None: the scenario's loop.update
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def initial(
        cls,
        groups: list[str],
        kind: str,
        threshold: float | dict[str, float],
        cap: float | None,
        canary: float,
    ) -> PolicyState:
        """``threshold``: one for every device type, or one per device type."""
        if not isinstance(threshold, dict):
            threshold = dict.fromkeys(groups, float(threshold))
        return cls(
            groups=groups,
            kind=dict.fromkeys(groups, kind),
            threshold=threshold,
            max_offload=dict.fromkeys(groups, cap),
            canary_fraction=canary,
        )

    def effective_kind(self, group: str, battery: float = 1.0) -> str:
        """The kind ``group`` runs now: a device under the battery saver's level answers locally."""
        if self.battery_below is not None and battery < self.battery_below:
            return "local"
        return self.kind[group]

    def offload_mask(
        self,
        group: str,
        scores: np.ndarray,
        battery: float = 1.0,
        latency_cap: float = 1.0,
        audit: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which of one device's requests (gate ``scores``, higher = surer) go further: to
        LargeML (cascade, offload-all), through the rest of the network on the device (early
        exit: ``scores`` are the exit gate's) or split across the link (split). ``audit`` marks
        requests sent up for labelling whatever the gate says (raw input: never under early exit
        or split)."""
        kind = self.effective_kind(group, battery)
        if kind == "local":
            return np.zeros(len(scores), dtype=bool)
        if kind in ("offload-all", "split"):
            mask = np.ones(len(scores), dtype=bool)
        elif kind == "early-exit":
            mask = scores < self.exit_threshold
        else:
            mask = scores < self.threshold[group]
        if audit is not None and kind not in PRIVATE_KINDS:
            mask = mask | audit
        cap = self.max_offload[group]
        cap = latency_cap if cap is None else min(cap, latency_cap)
        limit = int(np.floor(cap * len(scores) + 1e-9))
        if mask.sum() > limit:  # keep the least sure ``limit`` requests offloaded
            order = np.argsort(np.where(mask, scores, np.inf), kind="stable")
            mask = np.zeros(len(scores), dtype=bool)
            mask[order[:limit]] = True
        return mask


def _targets(state: PolicyState, params: dict[str, Any]) -> list[str]:
    """The device types a change names: all, one catalog device, or a kind (``mcu``...)."""
    from tinylarge.tiny.devices import load_device

    group = params.get("device_class")
    if group is None:
        return list(state.groups)
    if group in state.groups:
        return [group]
    by_kind = [g for g in state.groups if load_device(g).kind == group]
    if not by_kind:
        kinds = sorted({load_device(g).kind for g in state.groups})
        raise TinylargeError(
            f"unknown device_class {group!r}; valid: {', '.join(sorted(set(state.groups)))}"
            f" or kind {', '.join(kinds)}"
        )
    return by_kind


def apply_change(
    state: PolicyState, kind: str, params: dict[str, Any], offload_latency_s: dict[str, float]
) -> str:
    """Apply one validated policy change in place; returns what it did, in words.

    ``offload_latency_s``: the latency of one offloaded request per device type, which a latency
    SLO needs (a ``p``-th percentile stays under ``target_s`` only if at most ``1 - p/100`` of the
    requests take the slower path).
    """
    if kind not in KINDS:
        raise TinylargeError(f"unknown policy change {kind!r}; valid: {', '.join(KINDS)}")
    groups = _targets(state, params)
    if kind == "latency_slo":
        q, target = float(params["percentile"]), float(params["target_s"])
        q = q if q <= 1.0 else q / 100  # 0.95 (the intent's form) or 95
        for g in groups:
            if offload_latency_s[g] + state.extra_latency_s > target:
                state.max_offload[g] = min(state.max_offload[g] or 1.0, max(0.0, 1.0 - q))
        what = f"p{100 * q:g} latency <= {target * 1e3:g} ms: offload capped on {', '.join(groups)}"
    elif kind == "minimise_energy":
        for g in groups:
            state.kind[g] = "local"
        what = f"energy: {', '.join(groups)} answer locally (no radio)"
    elif kind == "maximise_accuracy":
        for g in groups:
            state.kind[g], state.max_offload[g] = "offload-all", None
        what = "accuracy: every request goes to LargeML"
    elif kind == "offload_budget":
        for g in groups:
            state.max_offload[g] = float(params["max_offload_fraction"])
        what = f"offload <= {100 * float(params['max_offload_fraction']):g}% per device"
    elif kind == "data_stays_on_device":
        # split keeps the server's help without raw input leaving (when the deploy built it)
        to = "split" if "split" in state.available else "local"
        moved = [g for g in groups if state.kind[g] not in PRIVATE_KINDS]
        for g in moved:
            state.kind[g] = to
        kept = sorted({state.kind[g] for g in groups})
        # the server must not train on raw inputs it holds either: updates become federated
        state.update = "federated"
        what = (
            f"no raw input leaves a device: {', '.join(moved) or 'no device type'} -> {to}"
            f" (now {', '.join(kept)}); model updates by federated rounds (weights only)"
        )
    elif kind == "placement":
        tier = params["tier"]
        for g in groups:
            state.kind[g] = "local" if tier == "device" else "offload-all"
        state.extra_latency_s = CLOUD_BACKHAUL_S if tier == "cloud" else 0.0
        what = f"inference placed on the {tier}"
    elif kind == "canary_rollout":
        state.canary_fraction = float(params["fraction"])
        what = f"next rollouts start on {100 * state.canary_fraction:g}% canaries"
    else:  # battery_saver
        state.battery_below = float(params["battery_below"])
        what = f"devices under {100 * state.battery_below:g}% battery answer locally"
    state.history.append({"kind": kind, "params": params, "effect": what})
    return what
