"""The fleet simulator: slotted, vectorised over every request of a slot, exact where requests
interact.

Per slot of ``slot_s`` (default 0.1 s): the slot's arrivals (generated up front, :mod:`.fleet`) get
their positions, serving sites and one channel draw each (:mod:`.channel`), shared by all policies
(common random numbers). Then, per policy: it plans from the state at the slot's start, the devices
run what it planned and their real int8 gate scores decide who sends, it allocates shares and
targets, and the outcome follows: uplink transmission at the granted share after the cell's fluid
backlog, the edge servers' exact FIFO queues (:func:`.queues.fifo_batch`), the cloud over the
backhaul, the reply. What the simulation approximates is listed in :mod:`.queues` (slot-ordered
FIFO, fluid uplink backlog) and :mod:`.channel` (tile-wise spatial consistency); decisions see the
state at the slot's start, as a scheduler with a ``slot_s`` decision period would."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinylarge.orchestrate import rng
from tinylarge.orchestrate.actions import CASCADE_CLOUD, CUT0_EDGE, LOCAL, CostModel
from tinylarge.orchestrate.channel import ChannelModel, draw
from tinylarge.orchestrate.config import FleetScenario
from tinylarge.orchestrate.fleet import (
    layout_of,
    make_arrivals,
    make_devices,
    positions_m,
    serving_site,
)
from tinylarge.orchestrate.metrics import PolicyMetrics
from tinylarge.orchestrate.policies import Policy, SlotView, make_policy
from tinylarge.orchestrate.queues import NS, fifo_batch, to_ns, uplink_backlog_step
from tinylarge.orchestrate.workload import Workload

S_SAMPLE = 40


def time_bin_s(scenario: FleetScenario) -> float:
    """Width of the utilisation-over-time bins: the slot, or 1/120 of the run if longer."""
    return max(scenario.slot_s, scenario.duration_s / 120.0)


@dataclass
class ShardResult:
    regions: np.ndarray
    metrics: dict[str, PolicyMetrics]
    n_requests: int
    wall_s: dict[str, float] = field(default_factory=dict)  # part -> seconds


@dataclass
class _State:
    """What one policy carries from slot to slot in one shard."""

    policy: Policy
    metrics: PolicyMetrics
    edge_last_ns: np.ndarray  # (S,) last departure at each edge server
    edge_backlog_s: np.ndarray  # (S,) fluid work backlog: max(0, backlog + admitted - slot)
    ul_backlog_s: np.ndarray  # (S,)
    prev_senders: np.ndarray  # (S,)
    radio_end_s: np.ndarray  # (m,) when each device's radio last finished an exchange


def simulate_shard(
    scenario: FleetScenario,
    workload: Workload,
    regions: np.ndarray,
    policies: list[str] | None = None,
    progress: Callable[[float], None] | None = None,
    trace: Callable[[str, dict], None] | None = None,
) -> ShardResult:
    """Simulate the devices and sites of ``regions`` (independent of every other region).
    ``trace(policy, arrays)``, if given, sees every slot's per-request outcome (for analysis)."""
    t_start = time.perf_counter()
    wall = {"setup": 0.0, "channel": 0.0, "policy": 0.0, "queues": 0.0, "metrics": 0.0}
    layout = layout_of(scenario)
    regions = np.asarray(regions, dtype=np.int64)
    dev = make_devices(scenario, layout, regions, list(workload.devices))
    arr = make_arrivals(scenario, dev)
    band = scenario.band()
    ch = ChannelModel.of(band, scenario.network.channel_scenario, scenario.network.h_ut_m)
    cm = CostModel(scenario, workload, band)
    spr = layout.sites_per_region
    n_sites = len(regions) * spr
    region_rank = np.zeros(int(regions.max()) + 1, dtype=np.int64)
    region_rank[regions] = np.arange(len(regions))
    bin_s = time_bin_s(scenario)
    n_bins = int(np.ceil(scenario.duration_s / bin_s))
    states = {
        name: _State(
            policy=make_policy(name, **scenario.policy_params.get(name, {})),
            metrics=PolicyMetrics(len(regions), n_bins),
            edge_last_ns=np.zeros(n_sites, dtype=np.int64),
            edge_backlog_s=np.zeros(n_sites),
            ul_backlog_s=np.zeros(n_sites),
            prev_senders=np.zeros(n_sites),
            radio_end_s=np.full(len(dev.ids), -np.inf),
        )
        for name in (policies or scenario.policies)
    }
    slot = scenario.slot_s
    n_slots = int(np.ceil(scenario.duration_s / slot))
    bounds = np.searchsorted(arr.t_s, np.arange(n_slots + 1) * slot)
    wall["setup"] = time.perf_counter() - t_start
    for s in range(n_slots):
        lo, hi = bounds[s], bounds[s + 1]
        if hi == lo:
            continue
        t0 = time.perf_counter()
        t = arr.t_s[lo:hi]
        local, key = arr.local[lo:hi], arr.key[lo:hi]
        reg = dev.region[local]
        x, y = positions_m(dev, local, t, layout.side_m)
        site_g, d2 = serving_site(layout, reg, x, y)
        site = region_rank[reg] * spr + site_g % spr
        chan = draw(ch, scenario.seed, site_g, x, y, d2, key)
        sample = (rng.uniform(scenario.seed, S_SAMPLE, key) * workload.n_eval).astype(np.int64)
        rr = region_rank[reg]
        tb = np.minimum((t / bin_s).astype(np.int64), n_bins - 1)
        wall["channel"] += time.perf_counter() - t0
        for name, st in states.items():
            out = _step(
                st, s * slot, slot, t, local, dev.cls[local], site, rr, tb, chan, sample, cm, wall
            )
            if trace is not None:
                trace(name, {**out, "cls": dev.cls[local], "t_s": t})
        if progress is not None:
            progress((s + 1) / n_slots)
    return ShardResult(
        regions=regions,
        metrics={k: v.metrics for k, v in states.items()},
        n_requests=int(len(arr.t_s)),
        wall_s={**wall, "total": time.perf_counter() - t_start},
    )


def _step(st: _State, t_slot, slot, t, local, cls, site, region, tbin, chan, sample, cm, wall):
    """One policy, one slot: plan, run, allocate, queue, measure."""
    t0 = time.perf_counter()
    wl, band = cm.wl, cm.band
    gap = t - st.radio_end_s[local]
    view = SlotView(
        slot_s=slot,
        t_s=t,
        cls=cls,
        site=site,
        ul_snr_db=chan.ul_snr_db,
        dl_snr_db=chan.dl_snr_db,
        distance_3d_m=chan.distance_3d_m,
        connected=gap < band.connected_tail_s,
        gap_s=gap,
        edge_backlog_s=st.edge_backlog_s,
        edge_free_at_s=st.edge_last_ns / NS,
        ul_backlog_s=st.ul_backlog_s,
        prev_senders=st.prev_senders,
        cm=cm,
    )
    plan = st.policy.plan(view)
    a = plan.action
    local_first = a <= CASCADE_CLOUD
    k = np.where(local_first, 0, np.where(a == cm.cloud_action, 0, a - CUT0_EDGE))
    t_loc = np.where(local_first, wl.infer_latency_s[cls], wl.cut_device_latency_s[cls, k])
    e_loc = np.where(local_first, wl.infer_energy_j[cls], wl.cut_device_energy_j[cls, k])
    t_loc = np.where(a == cm.cloud_action, 0.0, t_loc)
    e_loc = np.where(a == cm.cloud_action, 0.0, e_loc)
    payload = np.where(local_first, wl.input_bytes, wl.cut_sent_bytes[k])
    score_low = wl.gate_score[sample] < plan.threshold
    sending = np.where(local_first, (a != LOCAL) & score_low, payload > 0)
    alloc = st.policy.allocate(view, plan, sending, payload, t_loc)
    if alloc.cancel is not None:
        # a cancelled cascade keeps its own answer; a cancelled direct sender of the whole input
        # runs the student instead (the grant comes before anything was sent)
        cancel = alloc.cancel & sending
        direct = cancel & ~local_first
        assert np.all(k[direct] == 0), "only whole-input senders can fall back to the student"
        local_first = local_first | direct
        t_loc = np.where(direct, wl.infer_latency_s[cls], t_loc)
        e_loc = np.where(direct, wl.infer_energy_j[cls], e_loc)
        sending = sending & ~cancel
    correct = np.where(
        local_first,
        np.where(sending, wl.teacher_ok[sample], wl.student_ok[sample]),
        wl.cut_ok[k, sample],
    )
    wall["policy"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    latency, energy = t_loc.copy(), e_loc.copy()
    snd = np.flatnonzero(sending)
    to_cloud = alloc.to_cloud[snd]
    s_site = site[snd]
    o = cm.offload(
        payload_bytes=payload[snd],
        ul_snr_db=chan.ul_snr_db[snd],
        dl_snr_db=chan.dl_snr_db[snd],
        ul_share=alloc.ul_share[snd],
        dl_share=alloc.dl_share[snd],
        ul_backlog_s=st.ul_backlog_s[s_site],
        server_s=0.0,
        distance_m=chan.distance_3d_m[snd],
        connected=view.connected[snd],
        gap_s=gap[snd],
        sleep_power_w=wl.sleep_power_w[cls[snd]],
        to_cloud=to_cloud,
    )
    ks = k[snd]
    server_s = cm.cloud_service_cut_s[ks].copy()
    edge = np.flatnonzero(~to_cloud)
    service = cm.edge_service_s[ks[edge]]
    admitted = np.bincount(s_site[edge], weights=service, minlength=len(view.edge_backlog_s))
    st.edge_backlog_s = np.maximum(0.0, st.edge_backlog_s + admitted - slot)
    if getattr(st.policy, "respects_edge_capacity", False):
        fill = (view.edge_backlog_s + admitted) / slot
        st.metrics.max_edge_fill = max(st.metrics.max_edge_fill, float(fill.max(initial=0.0)))
        assert np.all(admitted <= np.maximum(0.0, slot - view.edge_backlog_s) + 1e-9), (
            f"{st.policy.name} exceeded edge capacity: {fill.max():.3f} of a slot"
        )
    arrive = t[snd][edge] + t_loc[snd][edge] + o.edge_arrival_offset_s[edge]
    arrive_ns = to_ns(arrive)
    dep_ns = fifo_batch(s_site[edge], arrive_ns, to_ns(service), st.edge_last_ns)
    server_s[edge] = (dep_ns - arrive_ns) / NS
    latency[snd] += o.latency_s + server_s
    energy[snd] += o.energy_j + server_s * o.wait_power_w
    st.ul_backlog_s = uplink_backlog_step(st.ul_backlog_s, s_site, o.ul_resource_s, slot)
    st.prev_senders = np.bincount(s_site, minlength=len(st.prev_senders)).astype(float)
    np.maximum.at(st.radio_end_s, local[snd], t[snd] + latency[snd])
    wall["queues"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    sc = cm.sc
    viol = latency > sc.sla_latency_s
    m = st.metrics
    bytes_air = np.zeros(len(t))
    bytes_air[snd] = o.bytes_on_air
    sent_edge = np.zeros(len(t))
    sent_edge[snd[edge]] = 1.0
    busy = np.zeros(len(t))
    start_s = dep_ns / NS - service
    busy[snd[edge]] = np.clip(dep_ns / NS, 0, sc.duration_s) - np.clip(start_s, 0, sc.duration_s)
    m.add(
        region,
        n=np.ones(len(t)),
        energy_j=energy,
        correct=correct.astype(float),
        violations=viol.astype(float),
        bytes_on_air=bytes_air,
        sent_edge=sent_edge,
        sent_cloud=sending - sent_edge,
        latency_s=latency,
        objective=cm.cost(energy, 1.0 - correct, viol),
        edge_busy_s=busy,
    )
    m.add_latencies(latency)
    m.add_edge_work(region[snd[edge]], tbin[snd[edge]], service)
    wall["metrics"] += time.perf_counter() - t0
    return {
        "action": a,
        "sending": sending,
        "to_cloud": alloc.to_cloud & sending,
        "latency_s": latency,
        "energy_j": energy,
        "correct": correct,
        "violation": viol,
    }
