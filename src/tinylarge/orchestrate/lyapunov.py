"""Lyapunov drift-plus-penalty (Neely, "Stochastic Network Optimization with Application to
Communication and Queueing Systems", 2010; as used for offloading by Mao, Zhang & Letaief, "Dynamic
Computation Offloading for Mobile-Edge Computing with Energy Harvesting Devices", IEEE JSAC 2016).

Each slot, every request takes the action minimising ``V * penalty + sum_q Q_q * arrival_q``: the
penalty is the request's expected objective (:mod:`.predict`), the queues are its edge server's
work backlog (seconds of work admitted and not yet served) and its cell's uplink backlog (seconds
of band), each multiplied by the work the action adds to it. ``V`` (parameter ``v``) trades the
objective against backlog: large ``V`` chases the objective, small ``V`` keeps queues short. It
decides placements only; the uplink is shared equally and every planned edge request is queued
(no admission control)."""

from __future__ import annotations

import numpy as np

from tinylarge.orchestrate.policies import Plan, Policy, SlotView
from tinylarge.orchestrate.predict import predict


class DriftPlusPenalty(Policy):
    name = "drift-plus-penalty"
    param_names = ("v",)

    def plan(self, view: SlotView) -> Plan:
        v = float(self.params.get("v", 10.0))
        pred = predict(view, share=1.0 / np.maximum(view.prev_senders[view.site], 1))
        q_edge = view.edge_backlog_s[view.site][:, None]
        q_ul = view.ul_backlog_s[view.site][:, None]
        score = v * pred.cost + q_edge * pred.edge_work_s + q_ul * pred.ul_resource_s
        act = np.argmin(score, axis=1)
        return Plan(act, pred.threshold[np.arange(view.n), act])
