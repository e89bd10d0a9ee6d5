"""Plots for the integration patterns (matplotlib, Agg backend: no display needed): the cascade's
accuracy/offload curve, split latency per cut and link, a search's per-device front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_cascade(result: Any, path: str | Path) -> Path:
    """Accuracy vs offloaded fraction, with the teacher alone and the chosen point marked."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = [p["offload_fraction"] for p in result.curve]
    ys = [100 * p["accuracy"] for p in result.curve]
    ax.plot(xs, ys, label=f"cascade ({result.gate} gate)")
    ax.axhline(100 * result.big_accuracy, color="grey", ls="--", label="LargeML alone")
    ax.plot(
        [result.offload_fraction], [100 * result.accuracy], "o", color="C3", label="chosen point"
    )
    ax.set_xlabel("fraction of inputs offloaded to LargeML")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"cascade on held-out data (n={result.n_eval})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_split(result: Any, path: str | Path) -> Path:
    """End-to-end latency of every cut on every link (log scale), best cut per link marked."""
    from tinylarge.integrate.split import Objective, end_to_end
    from tinylarge.net import load_link
    from tinylarge.tiny.devices import load_device

    sleep_w = load_device(result.config.device).sleep_power_w
    fig, ax = plt.subplots(figsize=(6.5, 4))
    cuts = [c for c in result.cuts if c.fits]
    for choice in result.choices:
        link = load_link(choice.link)
        ys = [1e3 * end_to_end(c, link, sleep_w, Objective.LATENCY) for c in cuts]
        (ln,) = ax.plot([c.cut for c in cuts], ys, marker=".", label=choice.link)
        best = next(c for c in cuts if c.cut == choice.best_cut)
        ax.plot(
            [best.cut],
            [1e3 * end_to_end(best, link, sleep_w, Objective.LATENCY)],
            "o",
            ms=9,
            mfc="none",
            color=ln.get_color(),
        )
    ax.set_yscale("log")
    ax.set_xlabel(
        f"cut (blocks on {result.config.device}; 0 = all on server, last = all on device)"
    )
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title("split computing: latency per cut and link (circle = chosen)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_device(result: Any, path: str | Path) -> Path:
    """Write ``result`` (a ``DeviceSearch``) as a PNG at ``path``; returns the path."""
    rows = result.rows
    max_ram = max(r["ram_bytes"] for r in rows) or 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fits, colour, marker, name in ((True, "tab:blue", "o", "fits"),
                                       (False, "0.6", "x", "over budget")):  # fmt: skip
        sel = [r for r in rows if r["fits"] is fits]
        if sel:
            ax.scatter(
                [1e3 * r["latency_s"] for r in sel],
                [100 * r["val_int8_accuracy"] for r in sel],
                s=[20 + 300 * r["ram_bytes"] / max_ram for r in sel],
                c=colour, marker=marker, alpha=0.7, label=name,
            )  # fmt: skip
    front = [r for r in rows if r.get("pareto")]
    if front:  # the front is 3-D (accuracy, latency, RAM): ring its points rather than join them
        ax.scatter(
            [1e3 * r["latency_s"] for r in front],
            [100 * r["val_int8_accuracy"] for r in front],
            s=[60 + 300 * r["ram_bytes"] / max_ram for r in front],
            facecolors="none", edgecolors="tab:red", linewidths=1.5, label="Pareto front",
        )  # fmt: skip
    for r in rows:
        if r["candidate"] == result.winner:
            ax.scatter([1e3 * r["latency_s"]], [100 * r["val_int8_accuracy"]], s=250,
                       marker="*", c="gold", edgecolors="k", zorder=5, label="winner")  # fmt: skip
            ax.annotate(r["candidate"], (1e3 * r["latency_s"], 100 * r["val_int8_accuracy"]),
                        textcoords="offset points", xytext=(6, -12), fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("estimated latency per inference (ms, log)")
    ax.set_ylabel("int8 accuracy in TFLM, validation (%)")
    title = f"{result.device}: {sum(r['fits'] for r in rows)}/{len(rows)} candidates fit"
    ax.set_title(title + ("" if result.winner else " (none)") + "; marker area ~ RAM")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path, dpi=110)


def _save(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Lay out, write ``fig`` as a PNG at ``path`` (folders created), close it; the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
