"""Latency and size summaries shared by the service's metrics, the agents and the fleet."""

from __future__ import annotations

import numpy as np

QUANTILES = (0.5, 0.9, 0.99)


def quantiles(values: list[float] | np.ndarray, qs: tuple[float, ...] = QUANTILES) -> dict:
    """``{"n", "mean", "p50", "p90", "p99", "max"}`` of ``values`` (zeros when empty)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "mean": 0.0, **{f"p{round(q * 100)}": 0.0 for q in qs}, "max": 0.0}
    out = {"n": int(a.size), "mean": float(a.mean())}
    out.update({f"p{round(q * 100)}": float(np.quantile(a, q)) for q in qs})
    out["max"] = float(a.max())
    return out
