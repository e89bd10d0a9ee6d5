"""Plots of a federated run (matplotlib, Agg backend): accuracy against rounds and against
simulated time, and what each round cost the devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_rounds(result: Any, out_dir: str | Path) -> list[str]:
    """``accuracy.png`` (vs round and vs cumulative simulated time) and ``cost.png`` (bytes and
    device energy per round); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rounds = [r for r in result.rounds if r.accuracy is not None]
    name = f"{result.config.framework} on {result.config.dataset}"
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot([r.round for r in rounds], [100 * r.accuracy for r in rounds], marker=".")
    a.set_xlabel("round (SL/FSL: epoch)")
    b.plot([r.cum_sim_time_s for r in rounds], [100 * r.accuracy for r in rounds], marker=".")
    b.set_xlabel("simulated time (s)")
    for ax in (a, b):
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(name)
    fig.tight_layout()
    paths = [out / "accuracy.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = [r.round for r in result.rounds]
    a.bar(xs, [r.bytes_up / 1e3 for r in result.rounds], label="up", alpha=0.7)
    a.bar(xs, [r.bytes_down / 1e3 for r in result.rounds], label="down", alpha=0.5)
    a.set_ylabel("kB per round (all clients)")
    a.legend()
    b.bar(xs, [r.radio_energy_j for r in result.rounds], label="radio")
    b.bar(xs, [r.compute_energy_j for r in result.rounds],
          bottom=[r.radio_energy_j for r in result.rounds], label="compute")  # fmt: skip
    b.set_ylabel("device energy per round (J)")
    b.legend()
    for ax in (a, b):
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{name}: cost per round (modelled)")
    fig.tight_layout()
    paths.append(out / "cost.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return [str(p) for p in paths]
