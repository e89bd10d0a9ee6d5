"""The joint optimiser: offload decisions, uplink bandwidth shares and edge compute shares together,
under the edge's capacity, for the scenario's own objective (energy, errors, SLA violations).

Each slot (a heuristic; no optimality claim):

1. Plan. Every request takes the action with the lowest expected objective (:mod:`.predict`), its
   cascade threshold set by its own offload price (channel, radio state, queues), plus a price per
   second of edge work: each site's price is the smallest that keeps the work planned for its
   server within the capacity it has left this slot (dual decomposition, :func:`price_edge`), so
   the edge goes to the requests that gain most from it. The capacity is ``rho_max`` (parameter,
   default 0.8) of a slot of server time, minus the work backlog.
2. Allocate, once the gate scores have decided who sends:
   - uplink, deadline-aware: each sender's smallest share that meets the SLA given everything else
     its request waits for is granted, smallest first per cell, while the band lasts (this
     maximises the number that make it); the band left over is split among all senders by the
     square-root rule (shares proportional to the square root of the whole-band transmission time
     minimise the sum of transmission times, Cauchy-Schwarz), so it also cuts energy on air;
   - edge compute (decided first: the uplink needs to know where each request goes): per site,
     senders headed for the edge are admitted by expected gain over the cloud per second of edge
     work until the slot's capacity left after the backlog is used (a greedy knapsack); the rest
     go to the cloud, or, when that is cheaper, answer on the device (a cascade keeps the
     student's answer, a whole-input sender runs the student). So the work admitted to an edge
     server in a slot never exceeds what it can serve in that slot minus its backlog: the
     simulator asserts it.
"""

from __future__ import annotations

import numpy as np

from tinylarge.net import uplink_rate_bps
from tinylarge.orchestrate.actions import CASCADE_CLOUD, CUT0_EDGE, LOCAL
from tinylarge.orchestrate.policies import Allocation, Plan, Policy, SlotView, equal_shares
from tinylarge.orchestrate.predict import predict


def sqrt_shares(site: np.ndarray, weight_s: np.ndarray, n_sites: int) -> np.ndarray:
    """Share ``sqrt(w_i) / sum_cell sqrt(w_j)`` per sender (``weight_s``: whole-band airtime)."""
    root = np.sqrt(weight_s)
    total = np.bincount(site, weights=root, minlength=n_sites)
    return root / np.maximum(total[site], 1e-300)


class JointOptimiser(Policy):
    name = "joint"
    param_names = ("rho_max",)
    respects_edge_capacity = True

    def _airtime_s(self, view: SlotView, payload_bytes) -> np.ndarray:
        bits = 8.0 * (np.asarray(payload_bytes) + view.cm.sc.overhead_bytes)
        return bits / uplink_rate_bps(view.cm.band, view.ul_snr_db, 1.0)

    def plan(self, view: SlotView) -> Plan:
        len(view.edge_backlog_s)
        idx = np.arange(view.n)
        rho_max = float(self.params.get("rho_max", 0.8))
        cap = np.maximum(0.0, rho_max * view.slot_s - view.edge_backlog_s)
        share = 1.0 / np.maximum(view.prev_senders[view.site], 1)
        pred = predict(view, share=share)
        act = price_edge(pred, view.site, cap)
        cm = view.cm
        self._gain = pred.cost[:, cm.cloud_action] - pred.cost[:, CUT0_EDGE]
        # for a cascade sender the edge may turn away: what the cloud would cost it, against the
        # expected error it saves (given its score is below its threshold)
        t_inf = cm.wl.infer_latency_s[view.cls]
        sla = cm.sc.sla_latency_s
        late_cloud = t_inf + pred.latency_s[:, cm.cloud_action] > sla
        self._cloud_price = cm.w_energy * pred.energy_j[:, cm.cloud_action] + cm.w_sla * (
            late_cloud.astype(float) - (t_inf > sla)
        )
        self._saving = cm.w_err * cm.score_table.mean_benefit_below(pred.threshold[idx, act])
        # for a whole-input sender: the cloud against running the student on the device
        self._local_cost = pred.cost[:, LOCAL]
        self._cloud_cost = pred.cost[:, cm.cloud_action]
        return Plan(act, pred.threshold[idx, act])

    def allocate(self, view: SlotView, plan: Plan, sending, payload_bytes, device_s) -> Allocation:
        cm = view.cm
        n_sites = len(view.edge_backlog_s)
        a = plan.action
        to_cloud = (a == CASCADE_CLOUD) | (a == cm.cloud_action)
        dl_share = equal_shares(view.site, sending, n_sites)
        k_all = np.where(a <= CASCADE_CLOUD, 0, np.where(a == cm.cloud_action, 0, a - CUT0_EDGE))
        turned_away = self._admit(view, a, sending, to_cloud, k_all)
        # turned away from the edge: a cascade sender keeps its own answer, and a whole-input
        # sender runs the student instead, when that is cheaper than the cloud
        cancel = np.zeros(view.n, dtype=bool)
        cascade = turned_away[a[turned_away] <= CASCADE_CLOUD]
        cancel[cascade] = self._cloud_price[cascade] > self._saving[cascade]
        whole = turned_away[a[turned_away] == CUT0_EDGE]
        cancel[whole] = self._local_cost[whole] < self._cloud_cost[whole]
        sending = sending & ~cancel
        snd = np.flatnonzero(sending)
        ul_share = np.ones(view.n)
        if len(snd):
            ul_share[snd] = self._deadline_shares(
                view, snd, payload_bytes, device_s, to_cloud, k_all, dl_share
            )
        return Allocation(to_cloud=to_cloud, ul_share=ul_share, dl_share=dl_share, cancel=cancel)

    def _admit(self, view, a, sending, to_cloud, k_all) -> np.ndarray:
        """Edge admission, per site by gain per second of work, within the capacity left; the
        indices of the senders turned away (now headed for the cloud)."""
        cm = view.cm
        cand = np.flatnonzero(sending & ~to_cloud)
        if len(cand) == 0:
            return cand
        work = cm.edge_service_s[k_all[cand]]
        site = view.site[cand]
        order = np.lexsort((-self._gain[cand] / work, site))
        s_sorted, w_sorted = site[order], work[order]
        within = _within_group_cumsum(s_sorted, w_sorted)
        rho_max = float(self.params.get("rho_max", 0.8))
        cap = np.maximum(0.0, rho_max * view.slot_s - view.edge_backlog_s)
        admitted = np.empty(len(cand), dtype=bool)
        admitted[order] = within <= cap[s_sorted]
        to_cloud[cand[~admitted]] = True
        return cand[~admitted]

    def _deadline_shares(self, view, snd, payload_bytes, device_s, to_cloud, k_all, dl_share):
        """Uplink shares that let as many senders as possible meet the SLA: each sender's smallest
        share that does (given everything else its request waits for), granted smallest first per
        cell while the band lasts (which maximises how many make it); those that cannot make it
        share what is left by the square-root rule."""
        cm, sc = view.cm, view.cm.sc
        site = view.site[snd]
        k = k_all[snd]
        cloud = to_cloud[snd]
        link = cm.link(
            ul_snr_db=view.ul_snr_db[snd],
            dl_snr_db=view.dl_snr_db[snd],
            ul_share=1.0,
            dl_share=dl_share[snd],
            ul_backlog_s=view.ul_backlog_s[site],
            distance_m=view.distance_3d_m[snd],
            connected=view.connected[snd],
            gap_s=view.gap_s[snd],
            sleep_power_w=cm.wl.sleep_power_w[view.cls[snd]],
        )
        backhaul = (
            sc.backhaul.rtt_s + 8.0 * (payload_bytes[snd] + sc.reply_bytes) / sc.backhaul.rate_bps
        )
        server = np.where(
            cloud,
            backhaul + cm.cloud_service_cut_s[k],
            np.maximum(0.0, view.edge_free_at_s[site] - view.t_s[snd] - device_s[snd])
            + cm.edge_service_s[k],
        )
        fixed = device_s[snd] + link.wake_s + link.up_wait_s + link.dl_air_s + link.down_wait_s
        slack = sc.sla_latency_s - fixed - server
        bits = 8.0 * (payload_bytes[snd] + sc.overhead_bytes)
        need = _share_for_rate(cm.band, view.ul_snr_db[snd], bits / np.maximum(slack, 1e-12))
        need[slack <= 0] = np.inf
        order = np.lexsort((need, site))
        within = _within_group_cumsum(site[order], np.minimum(need[order], 2.0))  # 2: never fits
        ok = np.empty(len(snd), dtype=bool)
        ok[order] = within <= 1.0
        n_sites = len(view.edge_backlog_s)
        granted = np.bincount(site[ok], weights=need[ok], minlength=n_sites)
        late = ~ok
        np.bincount(site[late], minlength=n_sites)
        # then the band left over goes to every sender by the square-root rule, which minimises
        # the total transmission time (and so the energy on air)
        air = bits / link.ul_rate_bps
        share = np.where(ok, need, 0.0) + (1.0 - granted)[site] * sqrt_shares(site, air, n_sites)
        total = np.bincount(site, weights=share, minlength=n_sites)
        return share / np.maximum(total[site], 1.0)  # a cell never hands out more than its band


def price_edge(pred, site: np.ndarray, cap_s: np.ndarray, iters: int = 24) -> np.ndarray:
    """Actions minimising ``cost + lambda_site * edge work``, with each site's price ``lambda``
    the smallest (bisection in log space) that keeps the expected work planned for its edge server
    within ``cap_s`` (dual decomposition of the capacity constraint); 0 where it already fits."""
    n_sites = len(cap_s)
    act = np.argmin(pred.cost, axis=1)
    rows = np.arange(len(act))
    load = np.bincount(site, weights=pred.edge_work_s[rows, act], minlength=n_sites)
    over = load > cap_s
    if not over.any():
        return act
    sel = np.flatnonzero(over[site])
    cost, work, s_sel = pred.cost[sel], pred.edge_work_s[sel], site[sel]
    lo, hi = np.full(n_sites, -2.0), np.full(n_sites, 7.0)  # log10 of the price
    for _ in range(iters):
        mid = (lo + hi) / 2.0
        a = np.argmin(cost + (10.0 ** mid[s_sel])[:, None] * work, axis=1)
        l_sel = np.bincount(s_sel, weights=work[np.arange(len(sel)), a], minlength=n_sites)
        fits = l_sel <= cap_s
        hi, lo = np.where(over & fits, mid, hi), np.where(over & ~fits, mid, lo)
    act[sel] = np.argmin(cost + (10.0 ** hi[s_sel])[:, None] * work, axis=1)
    return act


def _within_group_cumsum(group_sorted: np.ndarray, values_sorted: np.ndarray) -> np.ndarray:
    """Inclusive running sum restarting at each group (input sorted by group)."""
    first = np.r_[True, group_sorted[1:] != group_sorted[:-1]]
    csum = np.cumsum(values_sorted)
    base = (csum - values_sorted)[first][np.cumsum(first) - 1]
    return csum - base


def _share_for_rate(band, snr_db: np.ndarray, rate_bps: np.ndarray) -> np.ndarray:
    """Smallest share of the band whose uplink rate reaches ``rate_bps`` (inf if the whole band
    cannot); the rate grows with the share, so bisection in log-share finds it."""
    lo, hi = np.full(len(snr_db), -7.0), np.zeros(len(snr_db))
    enough = uplink_rate_bps(band, snr_db, 1.0) >= rate_bps
    for _ in range(30):
        mid = (lo + hi) / 2.0
        up = uplink_rate_bps(band, snr_db, 10.0**mid) >= rate_bps
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return np.where(enough, 10.0**hi, np.inf)
