"""Placement and resource policies: one small protocol, chosen by name.

Each decision slot a policy sees a :class:`SlotView` (every request of the slot: arrival time,
device class, channel, radio state; every site: edge work backlog, when its FIFO queue empties,
uplink backlog, last slot's senders) and answers in
two steps, like a real system: :meth:`Policy.plan` before the device runs anything (an action and,
for cascades, a gate threshold per request), then :meth:`Policy.allocate` once the devices' gate
scores have decided who actually sends (edge or cloud per sender, uplink and downlink shares of the
cell's band). The base class allocates the way a plain scheduler does: targets as planned, equal
shares among the cell's senders.

Policies: ``all-local``, ``all-edge``, ``all-cloud``, ``cascade-threshold`` (the cascade pattern's
calibrated threshold, edge), ``split-optimal`` (per request, the split cut with the lowest expected
objective for its device and channel), ``drift-plus-penalty`` (Lyapunov, :mod:`.lyapunov`) and
``joint`` (:mod:`.joint`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from tinylarge.errors import UnknownNameError
from tinylarge.orchestrate.actions import CASCADE_CLOUD, CASCADE_EDGE, CUT0_EDGE, LOCAL, CostModel


@dataclass
class SlotView:
    """One slot's requests (arrays of length r) and the shard's sites (arrays of length S)."""

    slot_s: float
    t_s: np.ndarray  # arrival time of each request
    cls: np.ndarray  # device class index
    site: np.ndarray  # shard-local site index
    ul_snr_db: np.ndarray
    dl_snr_db: np.ndarray
    distance_3d_m: np.ndarray
    connected: np.ndarray  # radio still in its connected tail
    gap_s: np.ndarray  # time since the radio's last exchange ended
    edge_backlog_s: np.ndarray  # (S,) work admitted but not yet served (fluid), slot start
    edge_free_at_s: np.ndarray  # (S,) when each edge server will have served its FIFO queue
    ul_backlog_s: np.ndarray  # (S,) uplink backlog of each cell
    prev_senders: np.ndarray  # (S,) senders per cell in the previous slot
    cm: CostModel

    @property
    def n(self) -> int:
        return len(self.cls)


@dataclass
class Plan:
    action: np.ndarray  # (r,) int
    threshold: np.ndarray  # (r,) offload when the gate score is below (cascade actions)


@dataclass
class Allocation:
    to_cloud: np.ndarray  # (r,) bool, for senders
    ul_share: np.ndarray  # (r,) share of the cell's uplink band while sending
    dl_share: np.ndarray  # (r,)
    # (r,) bool: senders told not to send: a cascade keeps its own answer, a whole-input sender
    # runs the student instead
    cancel: np.ndarray | None = None


class Policy(ABC):
    """Base: subclasses define :meth:`plan` (and override :meth:`allocate` to manage resources)."""

    name = "base"
    param_names: tuple[str, ...] = ()  # what ``policy_params`` may set for this policy

    def __init__(self, **params: float) -> None:
        from tinylarge.errors import TinylargeError

        for key in params:
            if key not in self.param_names:
                valid = ", ".join(self.param_names) or "none"
                raise TinylargeError(
                    f"policy {self.name!r} has no parameter {key!r}; valid: {valid}"
                )
        self.params = params

    @abstractmethod
    def plan(self, view: SlotView) -> Plan:
        """Each request's action (and its cascade threshold) for this slot."""

    def allocate(
        self, view: SlotView, plan: Plan, sending: np.ndarray, payload_bytes, device_s
    ) -> Allocation:
        """Targets as planned, equal shares among the senders of each cell. ``payload_bytes`` and
        ``device_s`` (time on the device before sending) are per request."""
        cloud_action = view.cm.cloud_action
        to_cloud = (plan.action == CASCADE_CLOUD) | (plan.action == cloud_action)
        share = equal_shares(view.site, sending, len(view.edge_backlog_s))
        return Allocation(to_cloud=to_cloud, ul_share=share, dl_share=share)


def equal_shares(site: np.ndarray, sending: np.ndarray, n_sites: int) -> np.ndarray:
    count = np.bincount(site[sending], minlength=n_sites)
    return 1.0 / np.maximum(count[site], 1)


def _fixed(view: SlotView, action: int, feasible: np.ndarray) -> Plan:
    """Everyone takes ``action``; where the device cannot (model too big), the whole input goes
    to the edge instead."""
    act = np.where(feasible, action, CUT0_EDGE)
    return Plan(act, np.full(view.n, np.inf))


class AllLocal(Policy):
    name = "all-local"

    def plan(self, view: SlotView) -> Plan:
        p = _fixed(view, LOCAL, view.cm.wl.infer_fits[view.cls])
        p.threshold[:] = -np.inf
        return p


class AllEdge(Policy):
    name = "all-edge"

    def plan(self, view: SlotView) -> Plan:
        return _fixed(view, CUT0_EDGE, np.ones(view.n, dtype=bool))


class AllCloud(Policy):
    name = "all-cloud"

    def plan(self, view: SlotView) -> Plan:
        return _fixed(view, view.cm.cloud_action, np.ones(view.n, dtype=bool))


class CascadeThreshold(Policy):
    """The cascade pattern as deployed: the calibrated threshold, senders go to the edge.
    ``max_offload_fraction`` (an operator's offload budget) lowers the threshold, where needed,
    to offload at most that share of the calibration half."""

    name = "cascade-threshold"
    param_names = ("max_offload_fraction",)

    def __init__(self, **params: float) -> None:
        from tinylarge.errors import TinylargeError

        super().__init__(**params)
        budget = params.get("max_offload_fraction", 0.0)
        if not 0.0 <= budget <= 1.0:
            raise TinylargeError(
                f"policy 'cascade-threshold': max_offload_fraction must be in [0, 1], got {budget}"
            )

    def plan(self, view: SlotView) -> Plan:
        from tinylarge.orchestrate.workload import cascade_threshold_within_budget

        wl = view.cm.wl
        threshold = wl.cascade_threshold
        if "max_offload_fraction" in self.params:
            if getattr(self, "_budget_for", None) is not wl:  # once per workload
                budget = self.params["max_offload_fraction"]
                self._budget_threshold = cascade_threshold_within_budget(wl, budget)
                self._budget_for = wl
            threshold = self._budget_threshold
        p = _fixed(view, CASCADE_EDGE, wl.infer_fits[view.cls])
        p.threshold = np.where(p.action == CASCADE_EDGE, threshold, np.inf)
        return p


class SplitOptimal(Policy):
    """Per request, the cut (0 = all on the edge ... all on the device) with the lowest expected
    objective for its device, its channel now and the edge queue now (Neurosurgeon-style).
    ``keep_raw_input`` = 1: never the cut that sends the raw input (data stays on the device);
    a device that can run no other cut answers locally (or, if even that does not fit, sends)."""

    name = "split-optimal"
    param_names = ("keep_raw_input",)

    def plan(self, view: SlotView) -> Plan:
        from tinylarge.orchestrate.predict import predict

        pred = predict(view, share=1.0 / np.maximum(view.prev_senders[view.site], 1))
        cost = pred.cost[:, CUT0_EDGE : view.cm.cloud_action].copy()
        if self.params.get("keep_raw_input", 0.0):
            cost[:, view.cm.wl.cuts == 0] = np.inf
            stuck = ~np.isfinite(cost).any(axis=1) & view.cm.wl.infer_fits[view.cls]
        else:
            stuck = np.zeros(view.n, dtype=bool)
        act = np.where(stuck, LOCAL, CUT0_EDGE + np.argmin(cost, axis=1))
        return Plan(act, np.full(view.n, np.inf))


def _registry() -> dict[str, type[Policy]]:
    from tinylarge.orchestrate.joint import JointOptimiser
    from tinylarge.orchestrate.lyapunov import DriftPlusPenalty

    return {
        p.name: p
        for p in (
            AllLocal,
            AllEdge,
            AllCloud,
            CascadeThreshold,
            SplitOptimal,
            DriftPlusPenalty,
            JointOptimiser,
        )
    }


def policy_names() -> list[str]:
    return list(_registry())


def make_policy(name: str, **params: float) -> Policy:
    """The policy called ``name``; an unknown name lists the valid ones."""
    registry = _registry()
    if name not in registry:
        raise UnknownNameError("policy", name, registry)
    return registry[name](**params)
