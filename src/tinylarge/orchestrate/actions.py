"""What a request can do, and what each choice costs: the one model both the simulator (with the
realised channel, shares and queue waits) and the adaptive policies (with their predictions) use.

Actions (columns of every ``(requests, actions)`` matrix):

- ``LOCAL``: the int8 student on the device answers;
- ``CASCADE_EDGE`` / ``CASCADE_CLOUD``: the student runs, and the int8 input goes up when its gate
  score is below the request's threshold;
- ``CUT0_EDGE + j``: split cut ``workload.cuts[j]`` with its tail on the edge (cut 0: the whole
  input goes up; the last cut: the whole teacher runs on the device and nothing is sent);
- ``CUT0_CLOUD``: the whole input goes up and on to the cloud over the backhaul.

An offload costs: wake-up when the radio is asleep, the uplink grant, the cell's uplink backlog,
transmission at the granted share, propagation, then either the edge server (FIFO wait + serving
overhead + model time) or the backhaul round trip + the cloud (no queue: it scales out), then the
downlink grant and the reply's transmission. The device's energy: its compute, wake-up, transmit at
the radio's transmit power, receive the reply, connected-idle power while it waits, and the radio's
connected tail after the exchange (minus the part of an earlier tail this exchange cuts short),
plus the microcontroller's sleep power while it waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylarge.net import Band, downlink_rate_bps, uplink_rate_bps
from tinylarge.net.radio import SPEED_OF_LIGHT_M_S
from tinylarge.orchestrate.config import FleetScenario
from tinylarge.orchestrate.workload import Workload

LOCAL, CASCADE_EDGE, CASCADE_CLOUD, CUT0_EDGE = 0, 1, 2, 3


def n_actions(workload: Workload) -> int:
    return CUT0_EDGE + len(workload.cuts) + 1


def cut0_cloud(workload: Workload) -> int:
    return CUT0_EDGE + len(workload.cuts)


@dataclass(frozen=True)
class Link:
    """Per-request link state for one slot (see :meth:`CostModel.link`)."""

    ul_rate_bps: np.ndarray
    ul_share: np.ndarray
    dl_air_s: np.ndarray
    wake_s: np.ndarray
    wake_j: np.ndarray
    up_wait_s: np.ndarray  # uplink grant + the cell's uplink backlog + propagation
    down_wait_s: np.ndarray  # downlink grant + propagation
    tail_j: np.ndarray
    wait_power_w: np.ndarray
    sleep_power_w: np.ndarray


@dataclass(frozen=True)
class Offload:
    """Latency parts and energy of sending ``payload_bytes`` up and getting the reply."""

    latency_s: np.ndarray
    energy_j: np.ndarray
    edge_arrival_offset_s: np.ndarray  # from the start of the upload chain to reaching the edge
    ul_airtime_s: np.ndarray
    ul_resource_s: np.ndarray  # share * airtime: seconds of the whole band used
    bytes_on_air: np.ndarray
    wait_power_w: np.ndarray  # device power while waiting: add server time x this to the energy


class CostModel:
    """Per-run constants (band, servers, workload costs) and the cost formulas."""

    def __init__(self, scenario: FleetScenario, workload: Workload, band: Band) -> None:
        self.sc, self.wl, self.band = scenario, workload, band
        self.n_actions = n_actions(workload)
        self.cloud_action = cut0_cloud(workload)
        self.edge_overhead_s = scenario.edge.overhead_s
        # service seconds of each cut's tail at the edge and of the whole model in the cloud
        sends = workload.cut_sent_bytes > 0
        # seconds a server spends per request: serving overhead + the tail on its catalog profile
        self.edge_service_s = sends * (
            scenario.edge.overhead_s
            + workload.server_latency_s(scenario.edge.device) / scenario.edge.n_units
        )
        self.cloud_service_cut_s = scenario.cloud.overhead_s + (
            workload.server_latency_s(scenario.cloud.device) / scenario.cloud.n_units
        )
        self.cloud_service_s = float(self.cloud_service_cut_s[0])
        self.score_table = ScoreTable.of(workload)
        obj = scenario.objective
        self.w_energy, self.w_err, self.w_sla = (
            1.0 / obj.energy_scale_j,
            obj.error_weight,
            obj.sla_weight,
        )

    def link(
        self,
        ul_snr_db: np.ndarray,
        dl_snr_db: np.ndarray,
        ul_share: np.ndarray | float,
        dl_share: np.ndarray | float,
        ul_backlog_s: np.ndarray,
        distance_m: np.ndarray,
        connected: np.ndarray,
        gap_s: np.ndarray,
        sleep_power_w: np.ndarray,
    ) -> Link:
        """The per-request parts of an exchange that do not depend on what is sent or where."""
        b, sc = self.band, self.sc
        prop = distance_m / SPEED_OF_LIGHT_M_S
        down_bits = 8.0 * (sc.reply_bytes + sc.overhead_bytes)
        return Link(
            ul_rate_bps=uplink_rate_bps(b, ul_snr_db, ul_share),
            ul_share=np.asarray(ul_share, dtype=float),
            dl_air_s=down_bits / downlink_rate_bps(b, dl_snr_db, dl_share),
            wake_s=np.where(connected, 0.0, b.wakeup_latency_s),
            wake_j=np.where(connected, 0.0, b.wakeup_energy_j),
            up_wait_s=b.scheduling_delay_s + prop + ul_backlog_s,
            down_wait_s=b.scheduling_delay_s + prop,
            # the tail after this exchange, minus the part of the last one it cuts short
            tail_j=b.ue_connected_idle_w
            * (b.connected_tail_s - np.maximum(0.0, b.connected_tail_s - gap_s)),
            wait_power_w=b.ue_connected_idle_w + sleep_power_w,
            sleep_power_w=np.asarray(sleep_power_w, dtype=float),
        )

    def exchange(self, link: Link, payload_bytes, server_s, to_cloud) -> Offload:
        """Send ``payload_bytes`` over ``link`` to the edge (``server_s``: wait + service) or the
        cloud (``server_s``: service; the backhaul is added here). ``server_s`` may be 0 and added
        later as latency and ``server_s * wait_power_w`` of energy when it is not known yet."""
        b, sc = self.band, self.sc
        up_bits = 8.0 * (np.asarray(payload_bytes, dtype=float) + sc.overhead_bytes)
        ul_air = up_bits / link.ul_rate_bps
        backhaul = np.where(
            to_cloud,
            sc.backhaul.rtt_s + 8.0 * (payload_bytes + sc.reply_bytes) / sc.backhaul.rate_bps,
            0.0,
        )
        waiting = link.up_wait_s + link.down_wait_s + backhaul + server_s
        latency = link.wake_s + ul_air + link.dl_air_s + waiting
        energy = (
            link.wake_j
            + b.ue_tx_electrical_w * ul_air
            + b.ue_rx_electrical_w * link.dl_air_s
            + b.ue_connected_idle_w * waiting
            + link.tail_j
            + link.sleep_power_w * latency
        )
        return Offload(
            latency_s=latency,
            energy_j=energy,
            edge_arrival_offset_s=link.wake_s + link.up_wait_s + ul_air,
            ul_airtime_s=ul_air,
            ul_resource_s=link.ul_share * ul_air,
            bytes_on_air=up_bits / 8.0 + self.sc.reply_bytes + self.sc.overhead_bytes,
            wait_power_w=link.wait_power_w,
        )

    def offload(self, payload_bytes, server_s, to_cloud, **link_args) -> Offload:
        """:meth:`link` then :meth:`exchange`, for one-off use."""
        return self.exchange(self.link(**link_args), payload_bytes, server_s, to_cloud)

    def cost(self, energy_j, p_wrong, p_violation):
        """The scenario objective of one request (lower is better)."""
        return self.w_energy * energy_j + self.w_err * p_wrong + self.w_sla * p_violation


@dataclass(frozen=True)
class ScoreTable:
    """What the calibration half says about the gate score: bins of equal mass (lowest score first),
    P(student right) and P(teacher right) per bin, and the bins' score edges.

    The probabilities come from two logistic regressions on the logit of the score, fitted on the
    calibration half (a few hundred samples, of which a handful disagree: per-bin frequencies would
    be mostly noise), averaged over each bin's samples. The offload benefit ``P(teacher right) -
    P(student right)`` is made non-increasing in the score (pool adjacent violators), so "offload
    while the benefit beats the price" is a score threshold."""

    edges: np.ndarray  # (B + 1,) score edges, -inf ... +inf
    mass: np.ndarray  # (B,)
    p_student: np.ndarray  # (B,)
    p_teacher: np.ndarray  # (B,)
    benefit: np.ndarray  # (B,) isotonic (non-increasing) p_teacher - p_student

    @classmethod
    def of(cls, workload: Workload, n_bins: int = 32) -> ScoreTable:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        s = workload.cal_gate_score
        z = np.log(np.clip(s, 1e-6, 1 - 1e-6) / np.clip(1 - s, 1e-6, 1))[:, None]
        probs = []
        for ok in (workload.cal_student_ok, workload.cal_teacher_ok):
            if ok.min() == ok.max():
                probs.append(np.full(len(s), float(ok[0])))
            else:
                probs.append(LogisticRegression().fit(z, ok).predict_proba(z)[:, 1])
        order = np.argsort(s, kind="stable")
        parts = np.array_split(order, n_bins)
        mass = np.array([len(p) for p in parts], dtype=float) / len(s)
        ps = np.array([probs[0][p].mean() for p in parts])
        pt = np.array([probs[1][p].mean() for p in parts])
        inner = [(s[parts[i][-1]] + s[parts[i + 1][0]]) / 2.0 for i in range(n_bins - 1)]
        edges = np.r_[-np.inf, inner, np.inf]
        iso = IsotonicRegression(increasing=False).fit(
            np.arange(n_bins), pt - ps, sample_weight=mass
        )
        return cls(edges, mass, ps, pt, iso.predict(np.arange(n_bins)))

    def mean_benefit_below(self, threshold: np.ndarray) -> np.ndarray:
        """Mean offload benefit over the bins a threshold offloads (0 when it offloads none)."""
        n = np.searchsorted(self.edges[1:], threshold, side="left")  # bins wholly below
        n = np.clip(n, 0, len(self.mass))
        cum_mass = np.r_[0.0, np.cumsum(self.mass)]
        cum_gain = np.r_[0.0, np.cumsum(self.mass * self.benefit)]
        return np.where(n > 0, cum_gain[n] / np.maximum(cum_mass[n], 1e-300), 0.0)

    def cascade(self, price: np.ndarray, stop_cost: np.ndarray, w_err: float):
        """For per-request extra cost ``price`` of offloading (energy and SLA terms, weighted) and
        cost ``stop_cost`` of answering locally (SLA term), the best threshold and the expected
        (cost, P(offload), P(wrong)) of the cascade under it."""
        # offload bins b < n where w_err * benefit_b > price - stop_cost
        margin = (price - stop_cost) / max(w_err, 1e-12)
        n_off = np.searchsorted(-self.benefit, -margin, side="left")  # benefit non-increasing
        cum_mass = np.r_[0.0, np.cumsum(self.mass)]
        cum_wrong_t = np.r_[0.0, np.cumsum(self.mass * (1 - self.p_teacher))]
        cum_wrong_s = np.r_[0.0, np.cumsum(self.mass * (1 - self.p_student))]
        p_off = cum_mass[n_off]
        p_wrong = cum_wrong_t[n_off] + (cum_wrong_s[-1] - cum_wrong_s[n_off])
        cost = w_err * p_wrong + p_off * price + (1 - p_off) * stop_cost
        return self.edges[n_off], cost, p_off, p_wrong
