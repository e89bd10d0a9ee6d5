"""Per-device rate limits: one token bucket per caller (Turner's token bucket, as in nginx's
``limit_req`` and Envoy's local rate limit).

A bucket holds up to ``burst`` tokens and refills at ``rate_rps``; a request takes one token or is
refused with the time until the next token (the ``Retry-After`` of the 429). Callers are keyed by
verified device id, or by remote address when a request carries no valid token, so a flooding
device cannot spend other devices' budget. Per process: with several workers, each enforces its
own share. Memory is bounded: idle buckets (full again) are dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """Token buckets by key; :meth:`take` answers ``0.0`` (allowed) or the seconds to wait."""

    def __init__(self, rate_rps: float, burst: int, max_keys: int = 100_000) -> None:
        if rate_rps <= 0 or burst < 1:
            raise ValueError(f"need rate_rps > 0 and burst >= 1, got {rate_rps}, {burst}")
        self.rate_rps, self.burst, self.max_keys = rate_rps, burst, max_keys
        self._buckets: dict[str, _Bucket] = {}
        self.n_refused = 0

    def take(self, key: str, now_s: float | None = None) -> float:
        now_s = time.monotonic() if now_s is None else now_s
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now_s)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now_s)
        else:
            elapsed_s = max(0.0, now_s - bucket.updated_s)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed_s * self.rate_rps)
            bucket.updated_s = now_s
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        self.n_refused += 1
        return (1.0 - bucket.tokens) / self.rate_rps

    def _sweep(self, now_s: float) -> None:
        full_after_s = self.burst / self.rate_rps
        self._buckets = {
            k: b for k, b in self._buckets.items() if now_s - b.updated_s < full_after_s
        }
