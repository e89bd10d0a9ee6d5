"""What a fleet run measures, accumulated per region so that shards merge exactly.

Sums are kept per region (``np.bincount`` adds a region's requests in arrival order whatever else
shares the batch) and merged in region order; latency percentiles come from a fixed log-spaced
histogram (400 bins per decade from 10 us to 10^4 s: a percentile is reported at its bin's
geometric centre, within 0.3 %) whose integer counts add exactly. So 1 worker and N workers give the
same numbers to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BINS_PER_DECADE = 400
LOG_MIN, LOG_MAX = -5.0, 4.0
N_BINS = int((LOG_MAX - LOG_MIN) * BINS_PER_DECADE)
SUMS = (
    "n",
    "energy_j",
    "correct",
    "violations",
    "bytes_on_air",
    "sent_edge",
    "sent_cloud",
    "latency_s",
    "objective",
    "edge_busy_s",
)


def latency_bin(latency_s: np.ndarray) -> np.ndarray:
    idx = np.floor((np.log10(np.maximum(latency_s, 1e-12)) - LOG_MIN) * BINS_PER_DECADE)
    return np.clip(idx, 0, N_BINS - 1).astype(np.int64)


def bin_centre_s(i: int) -> float:
    return float(10.0 ** (LOG_MIN + (i + 0.5) / BINS_PER_DECADE))


@dataclass
class PolicyMetrics:
    """One policy's accumulators over a set of regions."""

    n_regions: int
    n_time_bins: int
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (regions,)
    hist: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS, dtype=np.int64))
    edge_work_series: np.ndarray | None = None  # (regions, time bins) edge service seconds
    max_edge_fill: float = (
        0.0  # largest (backlog + admitted work) / slot seen (joint: must be <= 1)
    )

    def __post_init__(self) -> None:
        for name in SUMS:
            self.sums.setdefault(name, np.zeros(self.n_regions))
        if self.edge_work_series is None:
            self.edge_work_series = np.zeros((self.n_regions, self.n_time_bins))

    def add(self, region: np.ndarray, **values: np.ndarray) -> None:
        for name, v in values.items():
            self.sums[name] += np.bincount(region, weights=v, minlength=self.n_regions)

    def add_latencies(self, latency_s: np.ndarray) -> None:
        self.hist += np.bincount(latency_bin(latency_s), minlength=N_BINS)

    def add_edge_work(self, region: np.ndarray, time_bin: np.ndarray, work_s: np.ndarray) -> None:
        flat = region * self.n_time_bins + time_bin
        self.edge_work_series += np.bincount(
            flat, weights=work_s, minlength=self.n_regions * self.n_time_bins
        ).reshape(self.n_regions, self.n_time_bins)

    @staticmethod
    def merge(parts: list[PolicyMetrics]) -> PolicyMetrics:
        """Shards in region order -> one accumulator over all their regions."""
        out = PolicyMetrics(sum(p.n_regions for p in parts), parts[0].n_time_bins)
        for name in SUMS:
            out.sums[name] = np.concatenate([p.sums[name] for p in parts])
        out.hist = np.sum([p.hist for p in parts], axis=0)
        out.edge_work_series = np.concatenate([p.edge_work_series for p in parts])
        out.max_edge_fill = max(p.max_edge_fill for p in parts)
        return out

    def summary(self, n_sites: int, duration_s: float, time_bin_s: float) -> dict:
        """The reported numbers (sums added over regions in region order)."""
        tot = {k: float(sum(v.tolist())) for k, v in self.sums.items()}
        n = max(tot["n"], 1.0)
        cdf = np.cumsum(self.hist) / max(self.hist.sum(), 1)
        pct = {f"p{q}": bin_centre_s(int(np.searchsorted(cdf, q / 100.0))) for q in (50, 95, 99)}
        series = self.edge_work_series.sum(axis=0) / (n_sites * time_bin_s)
        return {
            "n_requests": int(tot["n"]),
            "latency_s": {**pct, "mean": tot["latency_s"] / n},
            "energy_j_per_inference": tot["energy_j"] / n,
            "accuracy": tot["correct"] / n,
            "sla_violation_rate": tot["violations"] / n,
            "edge_utilisation": tot["edge_busy_s"] / (n_sites * duration_s),
            "bytes_on_air_per_request": tot["bytes_on_air"] / n,
            "offload_fraction_edge": tot["sent_edge"] / n,
            "offload_fraction_cloud": tot["sent_cloud"] / n,
            "objective": tot["objective"] / n,
            "max_edge_fill": self.max_edge_fill,
            "edge_load_series": series.tolist(),
        }
