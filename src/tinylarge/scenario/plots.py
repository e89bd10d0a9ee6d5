"""The loop's plots (matplotlib, Agg): metrics over time, accuracy vs offload, latency CDFs,
the rollout timeline. Each returns the PNG path it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinylarge.integrate.plots import _save, plt


def _hours(loop: dict) -> tuple[np.ndarray, str]:
    ticks = np.array([t["tick"] for t in loop["ticks"]], dtype=float)
    scale, unit = (3600.0, "h") if loop["tick_s"] >= 600 else (1.0, "s")
    return ticks * loop["tick_s"] / scale, unit


def _drift_line(ax: Any, loop: dict, x: np.ndarray) -> None:
    drifting = [t["drifting"] for t in loop["ticks"]]
    if any(drifting):
        ax.axvline(x[drifting.index(True)], color="C3", ls=":", label="drift starts")


def plot_over_time(loop: dict, path: Path) -> Path:
    """Fleet accuracy, latency (p50/p95), device energy per request, and what went further
    (offloaded or split share, early-exit share, bytes up per request), tick by tick."""
    x, unit = _hours(loop)
    t = loop["ticks"]
    fig, axes = plt.subplots(4, 1, figsize=(7, 9.5), sharex=True)
    ax = axes[0]
    ax.plot(x, [100 * r["accuracy"] for r in t], "-o", ms=3, label="fleet (with offloading)")
    ax.plot(x, [100 * r["device_model_accuracy"] for r in t], "-", alpha=0.7, label="device models")
    ax.axhline(100 * loop["pre_drift_accuracy"] - 1, color="grey", ls="--", lw=1,
               label="pre-drift - 1 point")  # fmt: skip
    for e in loop["events"]:
        if e["event"] == "rollout full":
            ax.axvline(x[min(e["tick"], len(x) - 1)], color="C2", alpha=0.4, lw=1)
    _drift_line(ax, loop, x)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    ax.plot(x, [1e3 * r["latency_p50_s"] for r in t], label="p50")
    ax.plot(x, [1e3 * r["latency_p95_s"] for r in t], label="p95")
    ax.set_ylabel("latency (ms, modelled)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.plot(x, [1e3 * r["energy_j"] for r in t], color="C4")
    ax.set_ylabel("device energy / request (mJ)")
    ax = axes[3]
    ax.plot(x, [100 * r["offload_fraction"] for r in t], label="sent up (offload or split)")
    exits = [r.get("exit_fraction") for r in t]
    if any(e is not None for e in exits):
        ax.plot(x, [np.nan if e is None else 100 * e for e in exits], label="early exit")
    ax.set_ylabel("share of requests (%)")
    ax.legend(fontsize=7, loc="upper left")
    if any("bytes_up_per_request" in r for r in t):
        right = ax.twinx()
        right.plot(x, [r.get("bytes_up_per_request", np.nan) for r in t], color="C3", ls=":")
        right.set_ylabel("bytes up / request (dotted)")
    ax.set_xlabel(f"simulated time ({unit}); green: a new model reached the whole fleet")
    for a in axes:
        a.grid(alpha=0.3)
    return _save(fig, path)


def plot_offload_curves(loop: dict, path: Path) -> Path:
    """Accuracy vs fraction offloaded, per model version and data condition."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in loop["offload_curves"].items():
        ax.plot([p["offload_fraction"] for p in points], [100 * p["accuracy"] for p in points],
                label=label)  # fmt: skip
    ax.set_xlabel("fraction of requests offloaded to LargeML")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy vs offload (evaluation half)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_latency_cdf(loop: dict, path: Path) -> Path:
    """Empirical CDF of per-request latency before and after the drift."""
    fig, ax = plt.subplots(figsize=(6, 4))
    q = np.linspace(0, 1, 101)
    for label, values in loop["latency_cdf"].items():
        ax.step(1e3 * np.asarray(values), q, where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency per request (ms, modelled)")
    ax.set_ylabel("fraction of requests")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_rollout(loop: dict, path: Path) -> Path:
    """Share of the fleet on each model version over time, with rollout decisions marked."""
    x, unit = _hours(loop)
    versions = sorted({int(v) for t in loop["ticks"] for v in t["versions"]})
    n = loop["n_devices"]
    shares = np.array([[t["versions"].get(str(v), 0) / n for t in loop["ticks"]] for v in versions])
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.stackplot(x, shares, labels=[f"v{v}" for v in versions], alpha=0.8)
    for e in loop["events"]:
        if e["event"].startswith("rollout"):
            colour = "C2" if e["event"] == "rollout full" else "C3"
            ax.axvline(x[min(e["tick"], len(x) - 1)], color=colour, ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of devices")
    ax.set_xlabel(f"simulated time ({unit}); dashed: promoted (green) / rolled back (red)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, path)
