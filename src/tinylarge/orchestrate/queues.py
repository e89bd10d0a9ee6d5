"""The parts of the fleet that truly interact: server FIFO queues and the cells' uplink backlog.

Edge servers are exact FIFO single-server queues, solved for a whole batch of requests at once with
the closed form of Lindley's recursion: with service times ``S`` and arrivals ``A`` in arrival order
and ``L`` the server's last departure before the batch, the n-th departure is ``D_n = C_n + max(L,
max_{k<=n} (A_k - C_{k-1}))``, ``C_n = S_1 + ... + S_n`` (start_n = max(A_n, D_{n-1}) unrolled). All
servers of a batch are solved in one pass: requests sorted by (server, arrival), per-server running
maxima made one global running maximum by adding ``rank * span`` to each server's values (span: the
batch's range of values). Times are integer nanoseconds, so every operation is exact and the result
cannot depend on which other servers share the batch (sharding stays bit-exact).

A batch holds one decision slot's requests. A request of slot t that reaches its server after a
request of slot t+1 is still served before it: FIFO by slot, then by arrival (our approximation;
uplink delays are far shorter than a slot in every bundled scenario but the poorest channels).

The uplink of each cell is a fluid queue in seconds of its whole band: the transmissions of one slot
use ``sum(share_i * airtime_i)``; whatever exceeds the slot waits into the next slots, and every
request of a slot first waits for the backlog left at its start.
"""

from __future__ import annotations

import numpy as np

NS = 1_000_000_000


def to_ns(t_s: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(t_s) * NS).astype(np.int64)


def fifo_batch(
    server: np.ndarray,
    arrival_ns: np.ndarray,
    service_ns: np.ndarray,
    last_departure_ns: np.ndarray,
) -> np.ndarray:
    """Departure times (ns) of a batch of requests at FIFO servers; updates ``last_departure_ns``
    (indexed by server) in place."""
    if len(server) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((arrival_ns, server))
    srv, a, s = server[order], arrival_ns[order], service_ns[order]
    first = np.ones(len(srv), dtype=bool)
    first[1:] = srv[1:] != srv[:-1]
    rank = np.cumsum(first) - 1
    c = np.cumsum(s)
    c_before = c - s  # exclusive prefix over the whole array
    base = c_before[first][rank]  # work before this server's first request
    c_in = c - base  # inclusive prefix within the server
    x = np.maximum(a - (c_in - s), last_departure_ns[srv])
    span = np.int64(x.max() - x.min() + 1)
    assert int(span) * (int(rank[-1]) + 1) < 2**62, "batch too large for the int64 offset trick"
    offset = rank * span
    running = np.maximum.accumulate(x + offset) - offset
    dep_sorted = c_in + running
    last = np.flatnonzero(np.r_[first[1:], True])  # last request of each server
    last_departure_ns[srv[last]] = dep_sorted[last]
    out = np.empty_like(dep_sorted)
    out[order] = dep_sorted
    return out


def fifo_reference(arrival_s: list[float], service_s: list[float], last_s: float = 0.0):
    """The textbook one-at-a-time recursion, for tests: departures of one FIFO server."""
    out, busy_until = [], last_s
    for a, s in sorted(zip(arrival_s, service_s, strict=True), key=lambda p: p[0]):
        busy_until = max(a, busy_until) + s
        out.append(busy_until)
    return out


def uplink_backlog_step(
    backlog_s: np.ndarray, cell: np.ndarray, used_s: np.ndarray, slot_s: float
) -> np.ndarray:
    """Next slot's backlog per cell: ``max(0, backlog + sum(used) - slot)``."""
    demand = np.bincount(cell, weights=used_s, minlength=len(backlog_s))
    return np.maximum(0.0, backlog_s + demand - slot_s)
