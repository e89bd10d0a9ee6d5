"""Plots of a fleet run: latency CDFs, the policy scoreboard, edge utilisation over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinylarge.orchestrate.metrics import BINS_PER_DECADE, LOG_MIN, N_BINS


def plot_fleet(result, out_dir: str | Path) -> list[str]:
    """Write ``latency_cdf.png``, ``policies.png`` and ``edge_load.png``; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(result.metrics)
    summaries = {n: result.policy_summary(n) for n in names}
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    edges = 10.0 ** (LOG_MIN + np.arange(N_BINS + 1) / BINS_PER_DECADE)
    used = np.flatnonzero(np.sum([result.metrics[n].hist for n in names], axis=0))
    if len(used):  # show only the range latencies fall in
        ax.set_xlim(edges[used[0]] / 1.5, edges[used[-1] + 1] * 1.5)
    for n in names:
        h = result.metrics[n].hist
        cdf = np.cumsum(h) / max(h.sum(), 1)
        ax.step(edges[1:], cdf, where="post", label=n)
    ax.axvline(result.scenario.sla_latency_s, color="k", ls=":", lw=1, label="SLA")
    ax.set(xscale="log", xlabel="latency (s)", ylabel="fraction of requests", ylim=(0, 1.01))
    ax.set_title(f"{result.scenario.name}: end-to-end latency")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "latency_cdf.png"))

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    panels = [
        ("objective", "objective per request (lower is better)", 1.0),
        ("energy_j_per_inference", "device energy per inference (mJ)", 1e3),
        ("accuracy", "accuracy (%)", 100.0),
        ("sla_violation_rate", "SLA violations (%)", 100.0),
    ]
    for ax, (key, title, scale) in zip(axes.flat, panels, strict=True):
        values = [scale * summaries[n][key] for n in names]
        ax.bar(range(len(names)), values, color="C0")
        if key == "accuracy":  # the differences are fractions of a point: zoom in
            ax.set_ylim(max(0.0, min(values) - 1.0), min(100.0, max(values) + 0.5))
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"{result.scenario.name}: {result.n_requests:,} requests per policy")
    paths.append(_save(fig, out / "policies.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    for n in names:
        series = summaries[n]["edge_load_series"]
        t = (np.arange(len(series)) + 0.5) * result.scenario.duration_s / len(series)
        ax.plot(t, series, label=n)
    ax.axhline(1.0, color="k", ls=":", lw=1)
    ax.set(xlabel="simulated time (s)", ylabel="edge work offered / capacity")
    ax.set_title(f"{result.scenario.name}: edge servers over time (mean of sites)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "edge_load.png"))
    return paths


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
