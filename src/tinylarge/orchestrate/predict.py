"""Expected outcome of every action for every request of a slot, as the adaptive policies see it.

A policy knows the request's device class, its channel now (SNR, the scheduler's CSI), the radio's
state, the edge and uplink backlogs, and what the calibration half of the workload says (mean
accuracies, the gate-score model); it does not know whether this sample is easy. So accuracy enters
as a probability, and a cascade's value is its expectation over the gate score under the best
threshold for this request's offload price (:meth:`ScoreTable.cascade`). Latency is predicted with
the share and edge wait the caller assumes; an SLA violation counts when the prediction exceeds the
SLA. All cuts are costed at once, as ``(requests, cuts)`` arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylarge.orchestrate.actions import CASCADE_CLOUD, CASCADE_EDGE, CUT0_EDGE, LOCAL


@dataclass
class Prediction:
    cost: np.ndarray  # (r, A) expected objective, inf where the device cannot run the action
    latency_s: np.ndarray  # (r, A)
    energy_j: np.ndarray  # (r, A)
    edge_work_s: np.ndarray  # (r, A) expected edge service seconds
    p_send: np.ndarray  # (r, A) probability that the request uses the uplink
    ul_resource_s: np.ndarray  # (r, A) expected seconds of the whole uplink band used
    threshold: np.ndarray  # (r, A) gate threshold (cascade columns)


def predict(view, share: np.ndarray, extra_wait_s: np.ndarray | float = 0.0) -> Prediction:
    """Every action's expected cost; ``share``: assumed uplink share. The edge wait of each request
    is what the FIFO queue already holds when it would get there (the server's queued work ends at
    ``edge_free_at_s``; it arrives after its device part, wake-up, grant, backlog and
    transmission), plus ``extra_wait_s`` (per request: the caller's estimate of what this slot's
    other requests add)."""
    cm, wl = view.cm, view.cm.wl
    sc, band = cm.sc, cm.band
    r, A, c = view.n, cm.n_actions, view.cls
    sla = sc.sla_latency_s
    link = cm.link(
        ul_snr_db=view.ul_snr_db,
        dl_snr_db=view.dl_snr_db,
        ul_share=share,
        dl_share=share,
        ul_backlog_s=view.ul_backlog_s[view.site],
        distance_m=view.distance_3d_m,
        connected=view.connected,
        gap_s=view.gap_s,
        sleep_power_w=wl.sleep_power_w[c],
    )
    lat = np.zeros((r, A))
    energy = np.zeros((r, A))
    p_wrong = np.zeros((r, A))
    work = np.zeros((r, A))
    p_send = np.zeros((r, A))
    ul_res = np.zeros((r, A))
    thr = np.full((r, A), np.inf)
    ok = np.ones((r, A), dtype=bool)

    # what every exchange shares, then the columns of all edge cuts at once
    fixed_s = link.wake_s + link.up_wait_s + link.dl_air_s + link.down_wait_s
    fixed_j = (
        link.wake_j
        + band.ue_rx_electrical_w * link.dl_air_s
        + band.ue_connected_idle_w * (link.up_wait_s + link.down_wait_s)
        + link.tail_j
        + link.sleep_power_w * fixed_s
    )
    idle_w = band.ue_connected_idle_w + link.sleep_power_w  # while the server works
    tx_w = band.ue_tx_electrical_w + link.sleep_power_w  # while sending

    cuts = slice(CUT0_EDGE, cm.cloud_action)
    sends = wl.cut_sent_bytes > 0
    air = (8.0 * (wl.cut_sent_bytes + sc.overhead_bytes))[None, :] / link.ul_rate_bps[:, None]
    dev_t = wl.cut_device_latency_s[c]
    free_at = (view.edge_free_at_s[view.site] - view.t_s)[:, None]
    reach = dev_t + (link.wake_s + link.up_wait_s)[:, None] + air  # until the edge, per cut
    extra = np.broadcast_to(np.asarray(extra_wait_s, dtype=float), (r,))
    wait = np.maximum(0.0, free_at - reach) + extra[:, None]
    server = wait + cm.edge_service_s[None, :]
    off_s = np.where(sends, fixed_s[:, None] + air + server, 0.0)
    off_j = np.where(sends, fixed_j[:, None] + tx_w[:, None] * air + idle_w[:, None] * server, 0.0)
    lat[:, cuts] = dev_t + off_s
    energy[:, cuts] = wl.cut_device_energy_j[c] + off_j
    p_wrong[:, cuts] = 1.0 - wl.cal_cut_ok.mean(axis=1)
    ok[:, cuts] = wl.cut_fits[c]
    work[:, cuts] = np.where(sends, cm.edge_service_s, 0.0)
    p_send[:, cuts] = sends
    ul_res[:, cuts] = np.where(sends, link.ul_share[..., None] * air, 0.0)

    # the whole input to the cloud over the backhaul
    a = cm.cloud_action
    air0 = air[:, 0]
    backhaul = sc.backhaul.rtt_s + 8.0 * (wl.input_bytes + sc.reply_bytes) / sc.backhaul.rate_bps
    cloud_server = backhaul + cm.cloud_service_s
    lat[:, a] = fixed_s + air0 + cloud_server
    energy[:, a] = fixed_j + tx_w * air0 + idle_w * cloud_server
    p_wrong[:, a] = p_wrong[:, CUT0_EDGE]
    p_send[:, a], ul_res[:, a] = 1.0, ul_res[:, CUT0_EDGE]

    t_inf, e_inf = wl.infer_latency_s[c], wl.infer_energy_j[c]
    lat[:, LOCAL], energy[:, LOCAL] = t_inf, e_inf
    p_wrong[:, LOCAL] = 1.0 - wl.cal_student_ok.mean()
    thr[:, LOCAL] = -np.inf
    ok[:, LOCAL] = wl.infer_fits[c]

    cost = cm.cost(energy, p_wrong, lat > sla)
    stop = cm.w_sla * (t_inf > sla)
    # a cascade sends after its local run, so it reaches the edge t_inf later: less FIFO wait
    later = np.maximum(0.0, free_at[:, 0] - reach[:, 0] - t_inf) + extra - wait[:, 0]
    for a, src in ((CASCADE_EDGE, CUT0_EDGE), (CASCADE_CLOUD, cm.cloud_action)):
        o_s, o_j = lat[:, src], energy[:, src]  # the input's exchange after the local run
        if a == CASCADE_EDGE:
            o_s, o_j = o_s + later, o_j + idle_w * later
        price = cm.w_energy * o_j + cm.w_sla * (t_inf + o_s > sla)
        thr[:, a], c_exp, p_off, _ = cm.score_table.cascade(price, stop, cm.w_err)
        cost[:, a] = cm.w_energy * e_inf + c_exp
        lat[:, a] = t_inf + p_off * o_s
        energy[:, a] = e_inf + p_off * o_j
        work[:, a] = p_off * work[:, src]
        p_send[:, a], ul_res[:, a] = p_off, p_off * ul_res[:, src]
        ok[:, a] = wl.infer_fits[c]
    cost[~ok] = np.inf
    return Prediction(cost, lat, energy, work, p_send, ul_res, thr)
