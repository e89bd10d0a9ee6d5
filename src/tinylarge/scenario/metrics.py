"""The loop's measurements: fleet metrics per tick on the evaluation half, and the run's summary
(pre-drift, worst and final accuracy, recovery, accuracy-vs-offload curves, latency CDFs)."""

from __future__ import annotations

import numpy as np

from tinylarge.integrate.calibration import offload_curve
from tinylarge.scenario.patterns import PATTERN_KINDS, take
from tinylarge.tiny.gates import gate_scores


def device_view(d, versions, pools, runtimes, gate, policy, costs, drifting, pats=None):
    """One device on the evaluation half: ``(y, small, correct, sent, latency, energy, extra)``;
    ``sent``: requests that left the device (raw input, or split activations), ``extra``: bytes
    up per request, whether each exited early (early exit only) and the device's own answers."""
    cond = "drifted" if (drifting and d.drifts) else "clean"
    rows = pools.eval_index(cond)
    small = pools.small(versions[d.version], runtimes, cond, "B")[rows]
    big = pools.teacher[(cond, "B")][rows]
    y = pools.y["B"][rows]
    c = costs[d.group]
    kind = policy.effective_kind(d.group, d.battery)
    if kind in PATTERN_KINDS:
        outputs = take(pats.outputs(kind, pools, cond, "B"), rows)
        r = pats.route(kind, policy, d.group, d.battery, small, y, c, outputs, gate)
        sent = r.further if kind == "split" else np.zeros(len(y), dtype=bool)
        extra = {"bytes_up": r.bytes_up, "exited": r.exited, "device_correct": r.device_correct}
        return y, small, r.correct, sent, r.latency_s, r.energy_j, extra
    # audited requests: a fixed, evenly spread share of the evaluation half (golden-ratio sequence)
    audit = ((np.arange(len(y)) + 1) * 0.6180339887498949) % 1.0 < policy.audit_fraction
    mask = policy.offload_mask(d.group, gate_scores(small, gate), d.battery, audit=audit)
    correct = np.where(mask, big.argmax(1) == y, small.argmax(1) == y)
    latency = c.infer_latency_s + mask * (c.offload_latency_s + policy.extra_latency_s)
    energy = c.infer_energy_j + mask * c.offload_energy_j
    extra = {"bytes_up": mask * float(c.offload_bytes), "exited": None,
             "device_correct": small.argmax(1) == y}  # fmt: skip
    return y, small, correct, mask, latency, energy, extra


def measure_tick(
    tick, devices, versions, pools, runtimes, gate, policy, costs, drifting, lat_store, pats=None
):
    """Fleet metrics of one tick on the evaluation half (as each device's traffic mix draws it).
    ``exit_fraction``: share of requests answered by the early exit, over the devices running
    early exit this tick (``None`` when none does); ``bytes_up_per_request``: uplink payload
    (raw input or split activations) per request, fleet mean."""
    acc, dev_acc, off, energy, lats, bytes_up, exits = [], [], [], [], [], [], []
    for d in devices:
        y, small, correct, mask, latency, e, extra = device_view(
            d, versions, pools, runtimes, gate, policy, costs, drifting, pats
        )
        acc.append(float(np.mean(correct)))
        dev_acc.append(float(np.mean(extra["device_correct"])))
        off.append(float(np.mean(mask)))
        energy.append(float(np.mean(e)))
        lats.append(latency)
        bytes_up.append(float(np.mean(extra["bytes_up"])))
        if extra["exited"] is not None:
            exits.append(float(np.mean(extra["exited"])))
    lat = np.concatenate(lats)
    lat_store["after drift" if drifting else "pre-drift"].append(lat)
    counts: dict[int, int] = {}
    for d in devices:
        counts[d.version] = counts.get(d.version, 0) + 1
    return {
        "tick": tick,
        "drifting": drifting,
        "accuracy": float(np.mean(acc)),
        "accuracy_drifted_devices": float(
            np.mean([a for a, d in zip(acc, devices, strict=True) if d.drifts] or [np.nan])
        ),  # fmt: skip
        "device_model_accuracy": float(np.mean(dev_acc)),
        "offload_fraction": float(np.mean(off)),
        "exit_fraction": float(np.mean(exits)) if exits else None,
        "bytes_up_per_request": float(np.mean(bytes_up)),
        "latency_p50_s": float(np.percentile(lat, 50)),
        "latency_p95_s": float(np.percentile(lat, 95)),
        "energy_j": float(np.mean(energy)),
        "versions": {str(k): v for k, v in sorted(counts.items())},
    }


def summarize(sc, ticks, events, intents_log, versions, pools, runtimes, gate, policy, lat, final):
    loop, drift = sc.loop, sc.drift
    acc = [t["accuracy"] for t in ticks]
    w = loop.recover_window_ticks
    pre_end = drift.at_tick if drift.kind != "none" else len(acc)
    pre = float(np.mean(acc[max(0, pre_end - w) : pre_end])) if pre_end > 0 else acc[0]
    final_acc = float(np.mean(acc[-w:]))
    worst = float(min(acc[pre_end:])) if pre_end < len(acc) else final_acc
    recovered_at = None
    if drift.kind != "none":
        for t in ticks[pre_end:]:
            if t["accuracy"] >= pre - 0.01:
                recovered_at = t["tick"]
                if all(u["accuracy"] >= pre - 0.01 for u in ticks[t["tick"] :]):
                    break
                recovered_at = None
    curves = {}
    first, last = versions[1], versions[final]
    y = pools.y["B"]
    for label, version, cond in (
        ("v1, clean", first, "clean"),
        ("v1, drifted", first, "drifted"),
        (f"v{final}, drifted", last, "drifted"),
    ):
        if cond == "drifted" and drift.kind == "none":
            continue
        small = pools.small(version, runtimes, cond, "B")
        big = pools.teacher[(cond, "B")]
        curve = offload_curve(gate_scores(small, gate), small.argmax(1) == y, big.argmax(1) == y)
        curves[label] = curve.points(100)
    cdf = {k: np.concatenate(v) for k, v in lat.items() if v}
    quantiles = np.linspace(0, 1, 101)
    return {
        "ticks": ticks,
        "tick_s": loop.tick_s,
        "events": events,
        "intents": intents_log,
        "policy_changes": policy.history,
        "versions": {
            v: {
                "source": m.source,
                "int8_accuracy": m.int8_accuracy,
                "cached": m.cached,
                "train_time_s": m.train_time_s,
                **m.meta,  # a federated update's traffic and simulated time
            }  # fmt: skip
            for v, m in versions.items()
        },
        "final_version": final,
        "accuracy_over_time": acc,
        "pre_drift_accuracy": pre,
        "worst_after_drift_accuracy": worst,
        "final_accuracy": final_acc,
        "drift_recovered": bool(drift.kind == "none" or final_acc >= pre - 0.01),
        "recovered_at_tick": recovered_at,
        "offload_curves": curves,
        "latency_cdf": {k: np.quantile(v, quantiles).tolist() for k, v in cdf.items()},
        "n_devices": sum(g.count for g in sc.fleet),
    }
