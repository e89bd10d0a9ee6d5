"""Split computing (TinyML -> LargeML): the device runs the first blocks of a network in int8,
sends the int8 activation over the uplink, and the server finishes the network.

After Kang et al., "Neurosurgeon: Collaborative Intelligence Between the Cloud and Mobile Edge"
(ASPLOS 2017): profile every cut, then pick the cut minimising end-to-end latency or device energy
for the current uplink rate. Cut ``k`` puts ``blocks[:k]`` on the device (``k = 0``: everything on
the server, the device sends its int8 input; ``k = n_blocks + 1``: everything, head included, on
the device, nothing is sent). Device costs come from the real int8 ``.tflite`` of each device part
profiled on a catalog device (measured TFLM arena); the server's from its catalog cost model.

For a fixed link except its rate ``r``, both objectives are linear in ``u = 1/r``:
``latency_k = A_k + 8 S_k u`` and ``energy_k = E_k + 8 S_k (P_tx + P_sleep) u`` (``S_k``: bytes
sent), so the best cut over all rates is the lower envelope of ``n_blocks + 2`` lines:
``rate_sweep`` computes its breakpoints, and the tests check it against brute force.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from tinylarge.net import LinkProfile


class Objective(StrEnum):
    LATENCY = "latency"
    ENERGY = "energy"


@dataclass
class CutCost:
    """What cut ``k`` costs, independent of the link."""

    cut: int
    device_latency_s: float
    device_energy_j: float
    server_latency_s: float
    sent_bytes: int  # int8 activation (or input) crossing the link; 0 when all on device
    fits: bool
    device_flash_bytes: int = 0
    device_ram_bytes: int = 0
    accuracy: float | None = None
    tflite_path: str | None = None
    reasons: list[str] = field(default_factory=list)


def line(
    c: CutCost, link: LinkProfile, sleep_power_w: float, objective: Objective
) -> tuple[float, float]:
    """``(intercept, slope)`` of cut ``c``'s objective as a function of ``u = 1/rate_bps``."""
    if c.sent_bytes == 0:  # all on device: no radio, no round trip, no server
        value = c.device_latency_s if objective is Objective.LATENCY else c.device_energy_j
        return value, 0.0
    bits = 8.0 * (c.sent_bytes + link.overhead_bytes)
    wait_s = link.rtt_s + c.server_latency_s
    if objective is Objective.LATENCY:
        return c.device_latency_s + wait_s, bits
    return c.device_energy_j + sleep_power_w * wait_s, bits * (link.tx_power_w + sleep_power_w)


def end_to_end(c: CutCost, link: LinkProfile, sleep_power_w: float, objective: Objective) -> float:
    """Latency (s) or device energy (J) of one inference with cut ``c`` over ``link``."""
    a, b = line(c, link, sleep_power_w, objective)
    return a + b / link.rate_bps


def best_cut(
    cuts: list[CutCost], link: LinkProfile, sleep_power_w: float, objective: Objective
) -> CutCost:
    """The feasible cut minimising ``objective`` at the link's rate (ties: fewer device blocks)."""
    feasible = [c for c in cuts if c.fits]
    values = np.array([end_to_end(c, link, sleep_power_w, objective) for c in feasible])
    return feasible[int(np.argmin(values))]


def rate_sweep(
    cuts: list[CutCost], link: LinkProfile, sleep_power_w: float, objective: Objective
) -> list[dict[str, float]]:
    """Where the best cut changes as the rate grows: ``[{"cut", "from_rate_bps", "to_rate_bps"}]``.

    The lower envelope of the lines ``a_k + b_k u`` over ``u = 1/r`` in ``(0, inf)``, found by
    walking from ``u = inf`` (rate 0: the cut sending least wins) towards ``u = 0``.
    """
    feasible = [c for c in cuts if c.fits]
    lines = [line(c, link, sleep_power_w, objective) for c in feasible]
    # at u -> inf the smallest slope wins (then the smallest intercept)
    cur = min(range(len(lines)), key=lambda i: (lines[i][1], lines[i][0]))
    u = np.inf
    segments = []
    while True:
        a0, b0 = lines[cur]
        # the next breakpoint: the largest u* < u where a steeper line with a lower intercept
        # crosses the current one; among equal u*, the steepest is lowest just below it
        nxt, u_next = None, -1.0
        for i, (a, b) in enumerate(lines):
            if b > b0 and a < a0:
                u_star = (a0 - a) / (b - b0)
                better = u_star > u_next or (u_star == u_next and b > lines[nxt][1])
                if u_star < u and better:
                    nxt, u_next = i, u_star
        segments.append(
            {
                "cut": feasible[cur].cut,
                "from_rate_bps": 0.0 if np.isinf(u) else 1.0 / u,
                "to_rate_bps": np.inf if nxt is None else 1.0 / u_next,
            }
        )
        if nxt is None:
            return segments
        cur, u = nxt, u_next


@dataclass
class SplitChoice:
    """The chosen cut for one link, next to the two extremes."""

    link: str
    rate_bps: float
    objective: str
    best_cut: int
    value: float
    all_server: float
    all_device: float | None
    brute_force_cut: int


@dataclass
class SplitResult:
    """Every cut's cost, the choice per link, and the rate ranges over which each cut is best."""

    device: str
    server: str
    n_blocks: int
    cuts: list[CutCost]
    choices: list[SplitChoice]
    sweep: dict[str, list[dict[str, float]]]

    @property
    def optimiser_matches_brute_force(self) -> bool:
        return all(c.best_cut == c.brute_force_cut for c in self.choices)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["optimiser_matches_brute_force"] = self.optimiser_matches_brute_force
        return d


def brute_force_cut(
    cuts: list[CutCost], link: LinkProfile, sleep_power_w: float, objective: Objective
) -> int:
    """Reference: evaluate every feasible cut one by one and keep the cheapest."""
    best, best_value = None, np.inf
    for c in cuts:
        if not c.fits:
            continue
        v = end_to_end(c, link, sleep_power_w, objective)
        if v < best_value:
            best, best_value = c.cut, v
    assert best is not None
    return best


def choose(
    cuts: list[CutCost],
    links: list[LinkProfile],
    sleep_power_w: float,
    objective: Objective,
) -> list[SplitChoice]:
    """The best cut on each link (from the rate sweep) with the extremes and a brute-force check."""
    out = []
    for link in links:
        sweep = rate_sweep(cuts, link, sleep_power_w, objective)
        chosen = next(
            s["cut"] for s in sweep if s["from_rate_bps"] <= link.rate_bps < s["to_rate_bps"]
        )
        by_cut = {c.cut: c for c in cuts}
        last = max(by_cut)
        out.append(
            SplitChoice(
                link=link.name,
                rate_bps=link.rate_bps,
                objective=str(objective),
                best_cut=int(chosen),
                value=end_to_end(by_cut[chosen], link, sleep_power_w, objective),
                all_server=end_to_end(by_cut[0], link, sleep_power_w, objective),
                all_device=end_to_end(by_cut[last], link, sleep_power_w, objective)
                if by_cut[last].fits
                else None,
                brute_force_cut=brute_force_cut(cuts, link, sleep_power_w, objective),
            )
        )
    return out
