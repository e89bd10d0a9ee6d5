"""The fleet: devices placed in regions of cells, their mobility, and their request arrivals.

Geometry. The fleet is tiled into independent regions of ``devices_per_region`` devices; a region
is a square of ``sites_per_side x sites_per_side`` edge sites ``isd_m`` apart (one cell each, site
at the centre of its square), side ``L = sites_per_side * isd_m``. Devices start uniformly in their
region and move in a straight line at constant speed, reflected at the region's edges (a random
direction model; ``x(t) = L - |((x0 + v t) mod 2L) - L|`` per axis, so a position at any time costs
O(1) and needs no state). A device is served by the site of the square it is in (the nearest site
on a square grid). A square grid instead of 3GPP's hexagonal one keeps that lookup O(1).

Arrivals, all generated up front for the whole run and keyed per device (see :mod:`.rng`):

- Poisson: ``N_i ~ Poisson(T / mean_interval)`` arrivals per device, at i.i.d. uniform times (the
  order-statistics property of a Poisson process);
- periodic: every ``mean_interval`` from a uniform phase, plus normal jitter;
- bursty: per region, alternating exponential quiet/burst periods; arrivals thinned from a Poisson
  process at the burst rate (Lewis & Shedler 1979) so the mean rate stays ``1 / mean_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from tinylarge.orchestrate import rng
from tinylarge.orchestrate.config import ArrivalKind, FleetScenario

# rng streams (one per kind of random number)
S_CLASS, S_X, S_Y, S_MOB, S_DIR, S_COUNT, S_TIME, S_THIN, S_BURST = range(1, 10)


@dataclass(frozen=True)
class Layout:
    """Regions and sites; global ids: device ``r * devices_per_region + j``, site
    ``r * sites_per_region + a * sites_per_side + b``."""

    n_devices: int
    devices_per_region: int
    sites_per_side: int
    isd_m: float

    @property
    def n_regions(self) -> int:
        return -(-self.n_devices // self.devices_per_region)

    @property
    def sites_per_region(self) -> int:
        return self.sites_per_side**2

    @property
    def side_m(self) -> float:
        return self.sites_per_side * self.isd_m

    def region_devices(self, region: int) -> np.ndarray:
        lo = region * self.devices_per_region
        return np.arange(lo, min(lo + self.devices_per_region, self.n_devices))


def layout_of(scenario: FleetScenario) -> Layout:
    net = scenario.network
    return Layout(scenario.devices.n, net.devices_per_region, net.sites_per_side, net.isd_m)


@dataclass
class Devices:
    """Static per-device attributes of one shard (``ids`` are global device ids, ascending)."""

    ids: np.ndarray  # (m,) int64
    region: np.ndarray  # (m,) int64
    cls: np.ndarray  # (m,) int64 index into the workload's device classes
    x0_m: np.ndarray
    y0_m: np.ndarray
    vx_m_s: np.ndarray
    vy_m_s: np.ndarray


def make_devices(
    scenario: FleetScenario, layout: Layout, regions: np.ndarray, class_names: list[str]
) -> Devices:
    """The devices of ``regions``: class drawn from the scenario's mix, position, velocity."""
    seed = scenario.seed
    ids = np.concatenate([layout.region_devices(int(r)) for r in regions])
    region = ids // layout.devices_per_region
    mix = scenario.devices.mix
    weights = np.array([mix.get(n, 0.0) for n in class_names], dtype=float)
    cum = np.cumsum(weights / weights.sum())
    cls = np.minimum(np.searchsorted(cum, rng.uniform(seed, S_CLASS, ids)), len(cum) - 1)
    side = layout.side_m
    mob = scenario.devices.mobility
    u = rng.uniform(seed, S_MOB, ids)
    speed = np.where(
        u < mob.vehicle_fraction,
        mob.vehicle_speed_m_s,
        np.where(u < mob.vehicle_fraction + mob.pedestrian_fraction, mob.pedestrian_speed_m_s, 0.0),
    )
    angle = 2.0 * np.pi * rng.uniform(seed, S_DIR, ids)
    return Devices(
        ids=ids,
        region=region,
        cls=cls.astype(np.int64),
        x0_m=side * rng.uniform(seed, S_X, ids),
        y0_m=side * rng.uniform(seed, S_Y, ids),
        vx_m_s=speed * np.cos(angle),
        vy_m_s=speed * np.sin(angle),
    )


def _reflect(p: np.ndarray, side: float) -> np.ndarray:
    return side - np.abs(np.mod(p, 2.0 * side) - side)


def positions_m(dev: Devices, local: np.ndarray, t_s: np.ndarray, side: float):
    """``(x, y)`` of shard-local devices ``local`` at times ``t_s`` (region coordinates)."""
    return (
        _reflect(dev.x0_m[local] + dev.vx_m_s[local] * t_s, side),
        _reflect(dev.y0_m[local] + dev.vy_m_s[local] * t_s, side),
    )


def serving_site(layout: Layout, region: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Global site id and the 2D distance to it (the site at the centre of the device's square)."""
    g, isd = layout.sites_per_side, layout.isd_m
    a = np.minimum((x / isd).astype(np.int64), g - 1)
    b = np.minimum((y / isd).astype(np.int64), g - 1)
    d2 = np.hypot(x - (a + 0.5) * isd, y - (b + 0.5) * isd)
    return region * layout.sites_per_region + a * g + b, d2


@dataclass
class Arrivals:
    """All requests of a shard, sorted by time (then device, then arrival number)."""

    t_s: np.ndarray  # (r,) arrival time
    local: np.ndarray  # (r,) shard-local device index
    key: np.ndarray  # (r,) uint64 request key (global device id, arrival number)


def make_arrivals(scenario: FleetScenario, dev: Devices) -> Arrivals:
    """Every arrival of the shard's devices over the run (see the module docstring)."""
    arr = scenario.devices.arrivals
    seed, duration = scenario.seed, scenario.duration_s
    m = len(dev.ids)
    if arr.kind is ArrivalKind.PERIODIC:
        phase = arr.mean_interval_s * rng.uniform(seed, S_TIME, dev.ids)
        n = np.floor((duration - phase) / arr.mean_interval_s).astype(np.int64) + 1
    else:
        rate = 1.0 / arr.mean_interval_s
        if arr.kind is ArrivalKind.BURSTY:
            rate *= _burst_peak_factor(arr)
        n = poisson.ppf(rng.uniform(seed, S_COUNT, dev.ids), rate * duration).astype(np.int64)
    local = np.repeat(np.arange(m), n)
    k = np.arange(len(local)) - np.repeat(np.cumsum(n) - n, n)
    key = rng.combine(dev.ids[local], k)
    if arr.kind is ArrivalKind.PERIODIC:
        t = phase[local] + k * arr.mean_interval_s
        if arr.jitter_s > 0:
            t = t + arr.jitter_s * rng.normal(seed, S_TIME, key)
    else:
        t = duration * rng.uniform(seed, S_TIME, key)
    keep = (t >= 0) & (t < duration)
    if arr.kind is ArrivalKind.BURSTY:
        keep &= rng.uniform(seed, S_THIN, key) < _burst_accept(scenario, dev.region[local], t)
    # stable: ties (of measure zero) keep device order, the same in every sharding
    order = np.flatnonzero(keep)
    order = order[np.argsort(t[order], kind="stable")]
    return Arrivals(t_s=t[order], local=local[order], key=key[order])


def _burst_peak_factor(arr) -> float:
    """Burst rate / mean rate for the two-state process with the configured mean rate."""
    on = arr.burst_on_s / (arr.burst_on_s + arr.burst_off_s)
    # mean = on * peak + (1 - on) * peak / burst_factor  ->  peak / mean
    return 1.0 / (on + (1.0 - on) / arr.burst_factor)


def _burst_accept(scenario: FleetScenario, region: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Acceptance probability of a candidate at (region, t): 1 in bursts, 1/burst_factor else."""
    arr = scenario.devices.arrivals
    accept = np.empty_like(t)
    for r in np.unique(region):
        sel = region == r
        on = _region_in_burst(scenario.seed, int(r), arr, scenario.duration_s, t[sel])
        accept[sel] = np.where(on, 1.0, 1.0 / arr.burst_factor)
    return accept


def _region_in_burst(seed: int, region: int, arr, duration: float, t: np.ndarray) -> np.ndarray:
    """Whether ``t`` falls in a burst of ``region``'s alternating renewal process."""
    n = int(4 + 4 * duration / min(arr.burst_on_s, arr.burst_off_s))
    idx = np.arange(n)
    u = rng.uniform(seed, S_BURST, rng.combine(np.full(n, region), idx))
    mean = np.where(idx % 2 == 0, arr.burst_off_s, arr.burst_on_s)  # starts quiet
    ends = np.cumsum(-mean * np.log(u))
    return np.searchsorted(ends, t, side="right") % 2 == 1
