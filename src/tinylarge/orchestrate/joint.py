"""The joint optimiser: offload decisions, uplink bandwidth shares and edge compute shares together,
under the edge's capacity, for the scenario's own objective (energy, errors, SLA violations).

Each slot (a heuristic; no optimality claim):

1. Plan. Every request takes the action with the lowest expected objective (:mod:`.predict`), its
   cascade threshold set by its own offload price (channel, radio state, queues). The prediction
   is then redone with the slot's own load: uplink shares as the square-root rule below would
   give them if everyone sends as planned, and the edge wait as the backlog plus half the work this
   slot plans to add (the mean FIFO position), capped at the capacity left; the plan is redone
   once with these.
2. Allocate, once the gate scores have decided who sends:
   - uplink: each cell's band is split among its senders in proportion to the square root of their
     whole-band transmission time, which minimises the sum of their transmission times (Cauchy-
     Schwarz; exact for rates linear in the share, a close approximation with power concentration);
   - edge compute: per site, senders headed for the edge are admitted by expected gain over the
     cloud per second of edge work until the slot's capacity left after the backlog is used
     (a greedy knapsack); the rest go to the cloud. So the work admitted to an edge server in a slot
     never exceeds what it can serve in that slot minus its backlog: the simulator asserts it.
"""

from __future__ import annotations

import numpy as np

from tinylarge.net import uplink_rate_bps
from tinylarge.orchestrate.actions import CASCADE_CLOUD, CASCADE_EDGE, CUT0_EDGE
from tinylarge.orchestrate.policies import Allocation, Plan, Policy, SlotView, equal_shares
from tinylarge.orchestrate.predict import predict


def sqrt_shares(site: np.ndarray, weight_s: np.ndarray, n_sites: int) -> np.ndarray:
    """Share ``sqrt(w_i) / sum_cell sqrt(w_j)`` per sender (``weight_s``: whole-band airtime)."""
    root = np.sqrt(weight_s)
    total = np.bincount(site, weights=root, minlength=n_sites)
    return root / np.maximum(total[site], 1e-300)


class JointOptimiser(Policy):
    name = "joint"
    respects_edge_capacity = True

    def _airtime_s(self, view: SlotView, payload_bytes) -> np.ndarray:
        bits = 8.0 * (np.asarray(payload_bytes) + view.cm.sc.overhead_bytes)
        return bits / uplink_rate_bps(view.cm.band, view.ul_snr_db, 1.0)

    def plan(self, view: SlotView) -> Plan:
        cm = view.cm
        n_sites = len(view.edge_backlog_s)
        idx = np.arange(view.n)
        cap = np.maximum(0.0, view.slot_s - view.edge_backlog_s)
        root = np.sqrt(self._airtime_s(view, cm.wl.input_bytes))
        pred = predict(view, share=1.0 / np.maximum(view.prev_senders[view.site], 1))
        act = np.argmin(pred.cost, axis=1)
        for _ in range(1):
            p = pred.p_send[idx, act]
            others = np.bincount(view.site, weights=p * root, minlength=n_sites)[view.site]
            share = root / np.maximum(others - p * root + root, 1e-300)
            load = np.bincount(view.site, weights=pred.edge_work_s[idx, act], minlength=n_sites)
            wait = view.edge_backlog_s + 0.5 * np.minimum(load, cap)
            pred = predict(view, share=np.minimum(share, 1.0), edge_wait_s=wait[view.site])
            act = np.argmin(pred.cost, axis=1)
        self._gain = pred.cost[:, cm.cloud_action] - pred.cost[:, CUT0_EDGE]
        return Plan(act, pred.threshold[idx, act])

    def allocate(self, view: SlotView, plan: Plan, sending, payload_bytes) -> Allocation:
        cm = view.cm
        n_sites = len(view.edge_backlog_s)
        a = plan.action
        to_cloud = (a == CASCADE_CLOUD) | (a == cm.cloud_action)
        ul_share = np.ones(view.n)
        snd = np.flatnonzero(sending)
        air = self._airtime_s(view, payload_bytes)[snd]
        ul_share[snd] = sqrt_shares(view.site[snd], air, n_sites)
        # edge admission, per site by gain per second of work, within the capacity left
        cand = np.flatnonzero(sending & ~to_cloud)
        share = equal_shares(view.site, sending, n_sites)
        if len(cand) == 0:
            return Allocation(to_cloud=to_cloud, ul_share=ul_share, dl_share=share)
        k = np.where(a[cand] <= CASCADE_EDGE, 0, a[cand] - CUT0_EDGE)
        work = cm.edge_service_s[k]
        site = view.site[cand]
        order = np.lexsort((-self._gain[cand] / work, site))
        s_sorted, w_sorted = site[order], work[order]
        first = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
        csum = np.cumsum(w_sorted)
        start = (csum - w_sorted)[first][np.cumsum(first) - 1]
        cap = np.maximum(0.0, view.slot_s - view.edge_backlog_s)
        admitted = np.empty(len(cand), dtype=bool)
        admitted[order] = (csum - start) <= cap[s_sorted]
        to_cloud[cand[~admitted]] = True
        return Allocation(to_cloud=to_cloud, ul_share=ul_share, dl_share=share)
