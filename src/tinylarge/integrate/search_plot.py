"""The per-device plot of a search: int8 accuracy vs latency, marker area by RAM, front marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_device(result: Any, path: str | Path) -> Path:
    """Write ``result`` (a ``DeviceSearch``) as a PNG at ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
